"""DWM in the UI: the New-run form offers ``layers.dwm`` and both ResNet-18 layouts, the DWM
preset is listed, and the run page draws one zero map per DWM piece, labelled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tests.server.dwm_checkpoints import dwm_recipe, save_dwm_checkpoint
from tests.web.conftest import WebEnv, login, open_page


def _member(web_env: WebEnv, name: str) -> tuple[Any, int]:
    user = web_env.user(name)
    return user, web_env.project(f"{name}-project", {user: "editor"})


def test_new_run_form_offers_dwm_layers_and_both_resnet18_layouts(web_env: WebEnv) -> None:
    user, project = _member(web_env, "dwm-form")
    text = web_env.page_client(user).get(f"/runs/new?project={project}").text
    assert 'data-path="layers.dwm" data-kind="bool"' in text
    assert '<option value="true">on: every conv</option>' in text
    assert '<option value="false">off: 3x3 stride 1 only</option>' in text
    for model in ("resnet18", "resnet18-maxpool"):
        assert f'<option value="{model}">' in text
    presets = {p["id"]: p for p in web_env.page_client(user).get("/ui/api/recipes").json()}
    dwm = presets["resnet18-dwm-cifar10-cpu"]["recipe"]
    assert dwm["layers"]["dwm"] is True and dwm["model"]["name"] == "resnet18"


def test_dwm_in_the_form_and_a_zero_map_per_piece_on_the_run_page(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], tmp_path: Path
) -> None:
    user, project = _member(web_env, "dwm-page")
    run = web_env.api_client(user).post(
        "/api/v1/runs", json={"project": project, "recipe": dwm_recipe()}
    )
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    save_dwm_checkpoint(web_env, run_id, stage=0, winograd=True)

    page = open_page(browser, page_errors)
    login(page, live_server, "dwm-page", f"/runs/new?project={project}")
    page.wait_for_selector("#run-form[data-ready='1']")
    select = page.locator("#f-layers-dwm")
    assert select.input_value() == "false"  # the digits preset leaves it out
    select.select_option("true")
    shots = Path(os.environ.get("WINOPRUNE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.locator("#panel-form").screenshot(path=shots / "new-run-dwm.png")
    page.get_by_role("tab", name="YAML").click()
    assert yaml.safe_load(page.locator("#recipe-yaml").input_value())["layers"]["dwm"] is True
    page.get_by_role("tab", name="Form").click()
    page.locator("#f-layers-dwm").select_option("false")
    page.get_by_role("tab", name="YAML").click()
    assert "dwm" not in (yaml.safe_load(page.locator("#recipe-yaml").input_value()) or {}).get(
        "layers", {}
    )

    page.goto(f"{live_server}/runs/{run_id}?stage=0&layer=conv1")
    page.wait_for_selector("#chart-zeros[data-pieces='9']")
    zeros = page.locator("#chart-zeros")
    assert zeros.locator(".annotation-text").first.text_content() == "2x2 at (0, 0), phase (0, 0)"
    assert zeros.locator(".annotation-text").count() == 9
    page.wait_for_selector("#chart-importance[data-pieces='9']")  # each piece's F-hat beside it
    page.locator("#chart-zeros").scroll_into_view_if_needed()
    page.screenshot(path=shots / "run-detail-dwm.png", full_page=True)
    # a stride-1 3x3 conv of the same run: back to one a x a map
    page.select_option("#layer-select", "layer1.0.conv1")
    page.wait_for_selector("#chart-zeros:not([data-pieces])")
    page.wait_for_selector("#chart-importance:not([data-pieces])")
    assert page_errors == []
