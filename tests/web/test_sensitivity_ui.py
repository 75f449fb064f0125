"""The sensitivity pages in chromium: curves filling in live as points arrive (pushed over the
scan's event stream: the page's clock is stopped while they come, so no poll timer can fire), the
table, the Allocate form opening the New-run form prefilled, the run page's link, the submit
form."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save

from tests.server.conftest import recipe
from tests.web.conftest import WebEnv, login, open_page
from winoprune.models import build_model
from worker.checkpoints import build_store
from worker.context import WorkerContext
from worker.sensitivity_runner import plan, scan_points


def test_scan_page_fills_in_live_and_allocates_into_the_new_run_form(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    user = web_env.user("sens-ui")
    project = web_env.project("sens-project", {user: "editor"})
    client = web_env.api_client(user)
    torch.manual_seed(4)
    weights = save({k: v.contiguous() for k, v in build_model("digits-cnn").state_dict().items()})
    artifact = client.post(
        f"/api/v1/projects/{project}/artifacts",
        files={"file": ("w.safetensors", weights)},
        data={"model": "digits-cnn"},
    ).json()["id"]
    scan = client.post("/api/v1/sensitivity", json={
        "project": project, "source": "artifact", "artifact_id": artifact,
        "recipe": recipe(device="cpu"), "method": "native-winograd", "grid": [0.0, 0.4, 0.8],
        "val_size": 150})  # fmt: skip
    assert scan.status_code == 201, scan.text
    scan_id = scan.json()["id"]
    ctx = WorkerContext(
        web_env.settings, web_env.app.state.session_factory, build_store(web_env.settings)
    )
    tasks: list[tuple[int, str, list[int]]] = []
    plan(ctx, scan_id, lambda *a: tasks.append(a))
    scan_points(ctx, *tasks[0])  # the first layer's curve before the page opens

    page = open_page(browser, page_errors)
    page.clock.install()  # the page's timers are fake: they fire only while its clock runs
    login(page, live_server, "sens-ui", f"/sensitivity/{scan_id}")
    page.wait_for_selector("#chart-sens-sparsity[data-ready='1']")
    page.wait_for_selector("#live-status[data-mode='live']")  # the event stream is open
    assert page.locator("#points-table tbody tr").count() == 3
    assert page.locator("#chart-sens-sparsity .scatterlayer .trace").count() == 1
    page.clock.pause_at(datetime.now() + timedelta(seconds=1))  # no timer fires from here on
    for task in tasks[1:]:  # the rest arrive while the page is open
        scan_points(ctx, *task)
    page.wait_for_selector("#main[data-ready='1']", timeout=30_000)
    page.screenshot(path=shots / "sensitivity-scan-live.png", full_page=True)
    assert page.locator("#live-status").get_attribute("data-mode") == "live"
    assert page.locator("#points-table tbody tr").count() == 3 * len(tasks)
    assert page.locator("#chart-sens-sparsity .scatterlayer .trace").count() == len(tasks)
    assert page.locator("#chart-sens-mults .scatterlayer .trace").count() == len(tasks)
    assert page.locator("[data-testid='scan-status']").text_content() == "succeeded"
    page.clock.resume()
    page.fill("#alloc-target", "0.5")
    page.click("#alloc-submit")
    page.wait_for_selector("#alloc-new-run:not([hidden])")
    assert page.locator("#alloc-table tbody tr").count() == len(tasks)
    page.screenshot(path=shots / "sensitivity-scan.png", full_page=True)
    expected = client.post(f"/api/v1/sensitivity/{scan_id}/allocate", json={"target": 0.5}).json()
    page.click("#alloc-new-run")
    page.wait_for_selector("#run-form[data-ready='1']")
    assert "sensitivity scan #" in page.locator("#clone-note").text_content()
    page.get_by_role("tab", name="YAML").click()
    layers = yaml.safe_load(page.locator("#recipe-yaml").input_value())["layers"]
    assert layers["overrides"] == expected["overrides"]
    assert layers["allocated_from"] == f"scan:{scan_id}"
    # the scans list and its submit form; an invalid grid shows the field's error
    page.goto(f"{live_server}/sensitivity?project={project}")
    page.wait_for_selector("#main[data-ready='1']")
    assert page.locator("#scan-table tbody tr").count() == 1
    page.select_option("#scan-source", "artifact")
    page.fill("#scan-artifact", str(artifact))
    page.fill("#scan-recipe", yaml.safe_dump(recipe(device="cpu")))
    page.fill("#scan-grid", "0.5, 0.2")
    page.click("#scan-submit")
    page.wait_for_selector("#scan-errors:not(:empty)")
    assert "grid" in page.locator("#scan-errors").text_content()
    page.screenshot(path=shots / "sensitivity-list.png", full_page=True)
    assert page_errors == []


def test_run_page_links_to_its_scans_and_viewers_get_no_form(web_env: WebEnv) -> None:
    editor, viewer = web_env.user("sens-editor"), web_env.user("sens-viewer")
    project = web_env.project("sens-link-project", {editor: "editor", viewer: "viewer"})
    run = web_env.submit(web_env.api_client(editor), project)
    page = web_env.page_client(viewer).get(f"/runs/{run['id']}").text
    assert f'href="/sensitivity?run={run["id"]}&amp;project={project}"' in page
    text = web_env.page_client(viewer).get(f"/sensitivity?project={project}&run={run['id']}").text
    assert f'href="/runs/{run["id"]}"' in text and "New scan" not in text
    assert "New scan" in web_env.page_client(editor).get(f"/sensitivity?project={project}").text
    assert web_env.page_client(viewer).get("/sensitivity/987654").status_code == 404
