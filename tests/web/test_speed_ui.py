"""The run page shows the measured speed of the run's exports (issue 18) beside the counted
multiplication reduction: the newest benchmark as one line and a table of all of them, live when
one is published; nothing at all for a run without one. Desktop width and 390 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.server.test_speed_api import measurement
from tests.web.conftest import WebEnv, login, open_page
from tests.web.test_narrow_layout import overflow
from tests.web.test_reduction_ui import _worked_run

pytestmark = pytest.mark.browser


def expected_line(m: dict[str, Any]) -> str:
    threads = f"{m['threads']} thread" + ("" if m["threads"] == 1 else "s")
    return (
        f"measured: {m['speedup']:.2f}× conv2d at batch {m['batch']}, {threads} "
        f"({m['machine']}, {m['measured_at'][:10]})"
    )


def publish(api: Any, run_id: int, **changes: Any) -> dict[str, Any]:
    response = api.post(f"/api/v1/runs/{run_id}/speed", json=measurement(**changes))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("width", [1440, 390])
def test_run_page_shows_the_measured_speed(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path, width: int
) -> None:
    user, api, run_id = _worked_run(web_env)
    publish(api, run_id, machine="laptop", measured_at="2026-11-20T09:00:00Z")
    newest = publish(api, run_id, machine="bench-host-with-a-long-name", threads=8,
                     conv2d_ms=30.0, export_ms=12.0, speedup=2.5)  # fmt: skip
    listed = api.get(f"/api/v1/runs/{run_id}/speed").json()
    assert listed[0]["id"] == newest["id"]
    page = open_page(browser, page_errors, width=width, height=900)
    login(page, live_server, user.username, f"/runs/{run_id}")
    line = page.locator("#speed-measured")
    line.wait_for(state="visible")
    assert line.inner_text() == expected_line(newest)
    page.wait_for_selector("#mult-totals td[data-total='sparse']")
    rows = page.locator("#speed-table tbody tr")
    assert rows.count() == 2
    shown = [rows.nth(i).locator("td[data-col='speedup']").inner_text() for i in range(2)]
    assert shown == [f"{m['speedup']:.2f}×" for m in listed]
    assert "bench-host-with-a-long-name" in rows.nth(0).inner_text()
    page.locator("#speed-card").scroll_into_view_if_needed()
    page.screenshot(path=shots / f"18-speed-{width}.png", full_page=False)
    assert overflow(page) <= 0
    assert not page_errors, page_errors
    page.context.close()


def test_no_measurement_shows_nothing_until_one_is_published(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    user, api, run_id = _worked_run(web_env)
    page = open_page(browser, page_errors)
    login(page, live_server, user.username, f"/runs/{run_id}")
    page.wait_for_selector("#main[data-updated]")
    page.wait_for_selector("#mult-totals td[data-total='sparse']")
    assert page.locator("#speed-measured").is_hidden()
    assert page.locator("#speed-card").is_hidden()  # no empty box
    assert page.locator("#speed-table tbody tr").count() == 0
    page.locator("#mult-totals").scroll_into_view_if_needed()
    page.screenshot(path=shots / "18-speed-none.png")
    stored = publish(api, run_id)  # the page hears the change notice and shows it
    page.locator("#speed-measured").wait_for(state="visible")
    assert page.locator("#speed-measured").inner_text() == expected_line(stored)
    assert page.locator("#speed-card").is_visible()
    assert not page_errors, page_errors
    page.context.close()
