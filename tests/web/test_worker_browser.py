"""The run page driven by a real Celery worker (embedded broker, the worker tests' stack): live
updates over SSE while it trains, the Cancel, Retry and Resume buttons, the zero map drawn from
the run's real checkpoint, a checkpoint download, and Clone into a new run."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import open_page
from tests.worker.stack import Stack, slow_recipe, wait_for
from tests.worker.stack import served_stack as serve_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow]
USER, PASSWORD = "alice", "pw-123456789"  # the stack's project owner
RUN_GUARD_MS = 180_000  # a hang guard for a real training run, not a latency claim


@pytest.fixture(scope="module")
def served_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    """The stack (API + one worker process) with its app served by uvicorn on a free port."""
    with serve_stack(tmp_path_factory.mktemp("worker-browser")) as served:
        yield served


def status_is(page: Any, status: str, timeout: float = RUN_GUARD_MS) -> None:
    page.locator(f"[data-testid='run-status'][data-status='{status}']").wait_for(timeout=timeout)


def curve_points(page: Any) -> int:
    """Points drawn in the training chart (all traces)."""
    return page.evaluate(  # type: ignore[no-any-return]
        """() => (document.getElementById('chart-accuracy').data || [])
                   .reduce((n, t) => n + Array.from(t.x || []).length, 0)"""
    )


def test_a_real_worker_drives_the_run_page(
    served_stack: tuple[Stack, str], browser: Any, page_errors: list[str], tmp_path: Path
) -> None:
    stack, base = served_stack
    recipe = slow_recipe(epochs=6)
    run_id = stack.submit(recipe)
    page = open_page(browser, page_errors)
    page.goto(f"{base}/login?next=/runs/{run_id}")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(rf"/runs/{run_id}$"))
    page.locator("#live-status[data-mode='live']").wait_for()

    # live: epochs arrive in the chart while the page stays loaded (server-sent events)
    status_is(page, "running")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.wait_for_function("() => (document.getElementById('chart-accuracy').data || []).length")
    seen = curve_points(page)
    page.wait_for_function(
        f"""() => (document.getElementById('chart-accuracy').data || [])
                  .reduce((n, t) => n + Array.from(t.x || []).length, 0) > {seen}""",
        timeout=RUN_GUARD_MS,
    )
    assert navigations == []

    # Cancel in the middle of stage 0, then Retry: it goes on from the last checkpoint
    wait_for(lambda: stack.epochs_done(run_id, 0) >= 2, 120, "stage 0 to be under way")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop the run").click()  # asks first
    status_is(page, "cancelled")
    assert stack.run(run_id)["status"] == "cancelled"
    assert stack.epochs_done(run_id, 0) < recipe["stages"][0]["epochs"] + 1
    page.get_by_role("button", name="Retry: continue from the latest checkpoint").click()
    status_is(page, "succeeded")
    run = stack.run(run_id)
    assert [s["status"] for s in run["stages"]] == ["succeeded"] * 3

    # the zero map of the shown layer is the one the API computes from the final checkpoint
    stage, layer = page.locator("#stage-select").input_value(), None
    page.wait_for_function("() => (document.getElementById('chart-zeros').data || []).length")
    layer = page.locator("#layer-select").input_value()
    zeros = stack.client.get(
        f"/api/v1/runs/{run_id}/patterns", params={"stage": stage, "layer": layer}
    ).json()["zeros"]
    drawn = page.evaluate("() => document.getElementById('chart-zeros').data[0].z")
    assert [list(map(float, row)) for row in drawn] == [list(map(float, r)) for r in zeros]
    assert any(value > 0 for row in zeros for value in row)  # the stage pruned something

    # a checkpoint download is the stored file, byte for byte
    artifacts = {a["name"]: a for a in stack.client.get(f"/api/v1/runs/{run_id}/artifacts").json()}
    link = page.locator("#checkpoints a").first
    with page.expect_download() as info:
        link.click()
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.name.startswith(f"run-{run_id}-")  # saved under a name that carries the run
    stored = artifacts[target.name.removeprefix(f"run-{run_id}-")]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == stored["sha256"]

    # Resume from the last stage: it runs again and succeeds
    last = max(s["index"] for s in run["stages"])
    page.locator("#resume-stage").select_option(str(last))
    started = stack.run(run_id)["started_at"]
    page.get_by_role("button", name="Resume", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Replace the results").click()
    wait_for(lambda: stack.run(run_id)["started_at"] != started, 60, "the resumed run to start")
    done = stack.wait_status(run_id, ("succeeded", "failed", "cancelled"), RUN_GUARD_MS / 1000)
    assert done["status"] == "succeeded"
    status_is(page, "succeeded")

    # Clone into the form, submit: a new run with the same recipe, which the worker picks up
    page.get_by_role("link", name="Clone into form").click()
    page.wait_for_selector("#run-form[data-ready='1']")
    assert f"Cloned from run #{run_id}" in page.locator("#clone-note").inner_text()
    page.get_by_role("button", name="Submit run").click()
    page.wait_for_url(lambda url: bool(re.search(r"/runs/\d+$", url)) and not url.endswith(
        f"/runs/{run_id}"))  # fmt: skip
    clone_id = int(page.url.rsplit("/", 1)[1])
    clone = stack.run(clone_id)
    assert clone["recipe"] == stack.run(run_id)["recipe"]
    status_is(page, "running")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop the run").click()
    status_is(page, "cancelled")
    time.sleep(0.5)  # let the last change notices reach the page before checking its errors
    assert page_errors == []
