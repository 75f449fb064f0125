"""Issue 16's run lifecycle in the browser against a real Celery worker: Cancel asks first and
leaves true stage states, Retry continues from the latest checkpoint (the epochs trained stay),
queue ETA and system figures from measured epochs, notes and tags edited in place, a recipe no
live worker can run refused at submit, archive (hidden from the list) and delete."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.db.models import Metric
from tests.web.conftest import open_page
from tests.worker.stack import Stack, slow_recipe, wait_for
from tests.worker.stack import served_stack as serve_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow]
USER, PASSWORD = "alice", "pw-123456789"  # the stack's project owner
RUN_GUARD_MS = 600_000  # a hang guard for a real training run, not a latency claim


@pytest.fixture(scope="module")
def served_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    """The stack (API + one worker process) served by uvicorn on a free port."""
    with serve_stack(tmp_path_factory.mktemp("lifecycle-browser")) as served:
        yield served


def status_is(page: Any, status: str, timeout: float = RUN_GUARD_MS) -> None:
    page.locator(f"[data-testid='run-status'][data-status='{status}']").wait_for(timeout=timeout)


def login(page: Any, base: str, target: str) -> None:
    page.goto(f"{base}/login?next={target}")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url and target.split("?")[0] in url)


def stage_cells(page: Any, stage: int) -> dict[str, str]:
    """The stage table row of ``stage``: header -> text."""
    return page.evaluate(
        """(stage) => {
          const text = (cell) => cell.textContent.trim();
          const heads = [...document.querySelectorAll('#stage-timeline thead th')].map(text);
          const row = document.querySelector(`#stage-timeline tr[data-stage="${stage}"]`);
          return Object.fromEntries([...row.children].map((c, i) => [heads[i], text(c)]));
        }""",
        stage,
    )


def stage0_epochs(stack: Stack, run_id: int) -> list[int]:
    with stack.session() as session:
        rows = session.scalars(
            select(Metric.epoch).where(
                Metric.run_id == run_id, Metric.stage == 0, Metric.key == "top1"
            )
        )
        return sorted(rows)


@pytest.mark.timeout(1500)  # real training on a shared CPU; the guard is RUN_GUARD_MS per wait
def test_cancel_retry_continue_notes_archive_and_delete(
    served_stack: tuple[Stack, str], browser: Any, page_errors: list[str], shots: Path
) -> None:
    stack, base = served_stack
    recipe = slow_recipe(epochs=5)
    # a cheap never-started stage 1 (the Winograd-domain stage would triple the test's time)
    recipe["stages"][1] = {**recipe["stages"][0], "target": 0.4, "epochs": 1}
    recipe["method"] = "spatial-structured"
    reply = stack.client.post(
        "/api/v1/runs",
        json={"project": stack.project_id, "recipe": recipe, "tags": ["lr-sweep"],
              "notes": "first try at lr 0.01"},
    )  # fmt: skip
    assert reply.status_code == 201, reply.text
    run_id = reply.json()["id"]
    page = open_page(browser, page_errors, width=1280)
    login(page, base, f"/runs/{run_id}")
    page.wait_for_function(  # the first load competes with the worker's start for the CPU
        "() => document.getElementById('run-notes-text').textContent", timeout=120_000
    )
    assert page.get_by_test_id("run-notes").inner_text() == "first try at lr 0.01"
    assert "lr-sweep" in page.get_by_test_id("run-tags").inner_text()

    # measured epochs give system figures and an ETA while it trains
    wait_for(lambda: stack.epochs_done(run_id, 0) >= 3, 600, "stage 0 to be under way")
    page.locator("#run-system tr[data-figure='epoch_s']").wait_for(timeout=RUN_GUARD_MS)
    assert page.locator("#run-system tr[data-figure='device'] td").inner_text() == "cpu"
    page.wait_for_function(
        "() => document.getElementById('run-queue').textContent.includes('of training left')"
    )

    # Cancel asks first, saying what happens; "Go back" keeps it running
    page.get_by_role("button", name="Cancel").click()
    dialog = page.get_by_role("dialog")
    assert "Retry can continue" in dialog.inner_text()
    dialog.get_by_role("button", name="Go back").click()
    assert stack.run(run_id)["cancel_requested"] is False
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop the run").click()
    status_is(page, "cancelled")
    before = stage0_epochs(stack, run_id)
    assert 3 <= len(before) < recipe["stages"][0]["epochs"] + 1
    banner = page.get_by_test_id("run-banner").inner_text()
    assert banner.startswith("Cancelled on request in stage 0") and "error" not in banner
    assert "error" not in page.locator("#run-summary").inner_text()
    page.wait_for_function(
        """() => document.querySelector('#stage-timeline tr[data-stage="1"]')?.dataset.status
                 === 'cancelled'"""
    )
    stopped, never = stage_cells(page, 0), stage_cells(page, 1)
    assert stopped["Status"] == "cancelled" and stopped["Duration"] not in ("running", "—")
    assert never["Status"] == "cancelled" and never["Finished"] == "—"
    assert never["Duration"] == "—" and never["Started"] == "—"
    page.screenshot(path=shots / "16-run-cancelled-1280.png", full_page=True)

    # Retry names both choices; "continue" goes on from the latest checkpoint
    assert page.get_by_role("button", name="Retry: restart stage 0").is_visible()
    page.get_by_role("button", name="Retry: continue from the latest checkpoint").click()
    status_is(page, "succeeded")
    after = stage0_epochs(stack, run_id)
    assert after == list(range(recipe["stages"][0]["epochs"] + 1))
    log = [
        str(e["data"]) for e in stack.client.get(f"/api/v1/runs/{run_id}/changes").json()["events"]
    ]
    # it resumed from a stage-0 checkpoint after epoch 2 or later, not from the stage's start
    resumed = [
        int(m.group(1))
        for line in log
        if (m := re.search(r"resuming from stage\+000-epoch(\d+)", line))
    ]
    assert resumed and resumed[-1] >= 2, log

    # notes and tags edited after submit
    page.get_by_role("button", name="Edit notes and tags").click()
    page.get_by_label("Notes", exact=True).fill("lr 0.01 is too high")
    page.locator("#f-run-tags").fill("lr-sweep, keep")
    page.get_by_role("button", name="Save notes and tags").click()
    page.wait_for_function(
        "() => document.getElementById('run-notes-text').textContent === 'lr 0.01 is too high'"
    )
    assert stack.run(run_id)["tags"] == ["keep", "lr-sweep"]

    # archive: gone from the list until "Show archived runs"
    page.get_by_role("button", name="Archive").click()
    wait_for(lambda: stack.run(run_id)["archived_at"], 10, "the run to be archived")
    page.goto(f"{base}/runs")
    page.wait_for_selector("#runs-table tbody[data-loaded]", state="attached")
    assert page.locator(f"tr[data-run-id='{run_id}']").count() == 0
    page.get_by_label("Show archived runs").check()
    page.locator(f"tr[data-run-id='{run_id}'] .badge-archived").wait_for()
    assert "archived=1" in page.url

    # delete asks first, then the run is gone
    page.goto(f"{base}/runs/{run_id}")
    status_is(page, "succeeded")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete for good").click()
    page.wait_for_url(re.compile(r"/runs(\?project=\d+)?$"))
    assert stack.client.get(f"/api/v1/runs/{run_id}").status_code == 404
    time.sleep(0.3)
    assert page_errors == []


def test_a_recipe_the_live_worker_lacks_is_refused_at_its_field(
    served_stack: tuple[Stack, str], browser: Any, page_errors: list[str]
) -> None:
    stack, base = served_stack
    cifar = {**slow_recipe(), "model": {"name": "cifar-tiny"},
             "data": {"name": "cifar10", "root": "/data/cifar10"}}  # fmt: skip
    wait_for(
        lambda: stack.client.post(
            "/api/v1/runs", json={"project": stack.project_id, "recipe": cifar}
        ).status_code == 422,
        30,
        "the worker to advertise itself",
    )  # fmt: skip
    refused = stack.client.post("/api/v1/runs", json={"project": stack.project_id, "recipe": cifar})
    detail = refused.json()["detail"][0]
    assert detail["loc"] == ["body", "recipe", "data", "root"]
    assert "no live worker has the data folder /data/cifar10" in detail["msg"]
    page = open_page(browser, page_errors, width=1280)
    login(page, base, "/runs/new")
    page.wait_for_selector("#run-form[data-ready='1']")
    page.locator("[data-path='data.name']").select_option("cifar10")
    page.locator("[data-path='data.root']").fill("/data/cifar10")
    page.locator("[data-path='model.name']").select_option("cifar-tiny")
    page.get_by_role("button", name="Submit run").click()
    error = page.locator("[data-error-for='data.root']")
    error.wait_for()
    assert "no live worker has the data folder" in error.inner_text()
    assert page.locator("[data-path='data.root']").get_attribute("aria-invalid") == "true"
    assert re.search(r"/runs/new", page.url)
    time.sleep(0.3)
    assert page_errors == []
