"""External runs in the browser: labelled in the runs list and on the run page, filtered and
sorted by final metrics through the list's form (headless chromium)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from tests.server.conftest import recipe
from tests.server.test_tracking import epoch_metrics, layer
from tests.web.conftest import WebEnv, login, open_page

_names = itertools.count()


def _runs(web_env: WebEnv) -> tuple[str, int, int, int]:
    n = next(_names)
    name = f"track-ui-{n}"
    user = web_env.user(name)
    project = web_env.project(name, {user: "editor"})
    api = web_env.api_client(user)
    queued = api.post("/api/v1/runs", json={"project": project, "recipe": recipe()}).json()["id"]
    body = {"project": project, "name": "laptop-run", "description": "pruned on my laptop"}
    external = api.post("/api/v1/tracking/runs", json=body).json()["id"]
    batch = {
        "stages": [{"index": 0, "type": "winograd-direct", "status": "running"}],
        "metrics": epoch_metrics(0, 1, 0.93, 0.62),
        "layers": [layer(0, 1, "conv1"), layer(0, 1, "conv2")],
    }
    stored = api.post(f"/api/v1/tracking/runs/{external}/batches", json=batch)
    assert stored.status_code == 200, stored.text
    return name, project, queued, external


def test_an_external_run_is_labelled_and_found_by_metric(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    name, project, queued, external = _runs(web_env)
    page = open_page(browser, page_errors)
    login(page, live_server, name, f"/runs?project={project}")
    rows = page.locator("#runs-table tbody tr")
    rows.nth(1).wait_for()
    ext_row = page.locator(f'tr[data-run-id="{external}"]')
    assert ext_row.locator(".badge-external").inner_text() == "external"
    assert ext_row.locator(".top1-cell").inner_text() == "93.0 %"
    assert ext_row.locator(".sparsity-cell").inner_text() == "62.0 %"
    assert page.locator(f'tr[data-run-id="{queued}"] .badge-external').count() == 0
    page.screenshot(path=shots / "15-runs-list.png", full_page=True)

    page.get_by_label("Metrics").fill("top1>=0.9 winograd_sparsity>0.5")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 1")
    assert page.locator(f'tr[data-run-id="{external}"]').count() == 1
    assert "filter=top1%3E%3D0.9" in page.url

    page.get_by_label("Metrics").fill("top9>1")
    page.get_by_role("button", name="Apply filters").click()
    error = page.locator("#runs-table tbody td.field-error")
    error.wait_for()
    assert "top9" in error.inner_text()

    page.get_by_label("Metrics").fill("")
    page.get_by_label("Source").select_option("false")
    page.get_by_role("button", name="Apply filters").click()
    shown = "[...document.querySelectorAll('#runs-table tbody tr')].map(r => r.dataset.runId)"
    page.wait_for_function(f"() => {shown}.join() === '{queued}'")

    page.goto(f"{live_server}/runs/{external}")
    page.locator("#run-external").wait_for(state="visible")
    assert "external run" in page.locator("#run-summary").inner_text()
    assert "pruned on my laptop" in page.locator("#run-summary").inner_text()
    assert page.locator("#btn-retry").is_hidden() and page.locator("#btn-cancel").is_hidden()
    page.screenshot(path=shots / "15-run-page.png")
    assert page_errors == []
