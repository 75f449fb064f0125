"""Adder runs in the UI: the run page's operations table and the compare page's totals show the
additions and energy the worker counted, beside an ordinary Winograd run's multiplications."""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from server.runs import progress
from tests.web.conftest import WebEnv, login, open_page
from winoprune.models import build_model
from winoprune.pruning.metrics import layer_stats, summary
from winoprune.recipes import Recipe

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()


def _member(web_env: WebEnv) -> tuple[Any, int]:
    name = f"adder-{next(_names)}"
    user = web_env.user(name)
    return user, web_env.project(name, {user: "editor"})


def record_run(web_env: WebEnv, user: Any, project: int, recipe_file: str) -> int:
    """Submit a shipped recipe and store one epoch of the core's rows for its fresh model."""
    recipe = yaml.safe_load((ROOT / "recipes" / recipe_file).read_text())
    parsed = Recipe.model_validate(recipe)
    reply = web_env.api_client(user).post(
        "/api/v1/runs", json={"project": project, "recipe": recipe}
    )
    assert reply.status_code == 201, reply.text
    run_id = int(reply.json()["id"])
    torch.manual_seed(0)
    model = build_model(parsed.model.name, **parsed.model_options())
    rows = layer_stats(model, (1, 8, 8), parsed.transform())
    totals = summary(rows, ["features.conv0"])
    with web_env.session() as session:
        progress.claim_run(session, run_id, "w")
        progress.record_layer_stats(session, run_id, -1, 0, [asdict(r) for r in rows])
        values = {k: v for k, v in asdict(totals).items() if v is not None}
        progress.record_metrics(session, run_id, -1, 0, {"top1": 0.9, **values})
    return run_id


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("WINOPRUNE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.mark.browser
def test_run_and_compare_pages_show_additions_and_energy(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], tmp_path: Path
) -> None:
    user, project = _member(web_env)
    adder_id = record_run(web_env, user, project, "digits-wadder.yaml")
    plain_id = record_run(web_env, user, project, "digits-demo.yaml")
    api = web_env.api_client(user)
    layers = api.get(f"/api/v1/runs/{adder_id}/layers", params={"stage": -1}).json()
    # each layer as it runs: its winograd row where it has one
    chosen: dict[str, tuple[int, int, float]] = {}
    for layer, domain, mults, adds, energy in zip(
        layers["layer"], layers["domain"], layers["multiplications"], layers["additions"],
        layers["energy_pj"], strict=True,
    ):  # fmt: skip
        if layer not in chosen or domain == "winograd":
            chosen[layer] = (mults, adds, energy)
    page = open_page(browser, page_errors)
    login(page, live_server, user.username, f"/runs/{adder_id}")
    page.wait_for_selector("#operations-card:not([hidden]) tbody tr")
    for layer, (mults, adds, energy) in chosen.items():
        row = page.locator(f"#operations tr[data-layer='{layer}']")
        assert row.locator("td[data-col='multiplications']").inner_text() == f"{mults:,}"
        assert row.locator("td[data-col='additions']").inner_text() == f"{adds:,}"
        assert row.locator("td[data-col='energy']").inner_text() == f"{energy / 1000:,.1f}"
    kinds = page.locator("#operations td[data-col='kind']").all_inner_texts()
    assert kinds == ["Winograd", "Winograd adder", "Winograd adder", "Winograd adder", ""]
    adder_rows = [v for k, v in chosen.items() if k != "features.conv0"]
    assert adder_rows and all(mults == 0 for mults, _, _ in adder_rows)
    total = page.locator("#operations tr[data-layer='total'] td[data-col='additions']")
    assert total.inner_text() == f"{sum(a for _, a, _ in chosen.values()):,}"
    page.locator("#operations-card").scroll_into_view_if_needed()
    page.screenshot(path=_shots(tmp_path) / "19-run-operations.png", full_page=True)

    page.goto(f"{live_server}/compare?runs={adder_id},{plain_id}")
    page.wait_for_selector("#compare-operations tbody tr")
    metrics = {
        run: api.get(f"/api/v1/runs/{run}/metrics").json()["values"] for run in (adder_id, plain_id)
    }
    for run in (adder_id, plain_id):
        row = page.locator(f"#compare-operations tr[data-run-id='{run}']")
        assert row.locator("td[data-col='additions']").inner_text() == (
            f"{int(metrics[run]['additions'][0]):,}"
        )
        assert row.locator("td[data-col='multiplications']").inner_text() == (
            f"{int(metrics[run]['mult_winograd_sparse'][0]):,}"
        )
    adder_mults = page.locator(
        f"#compare-operations tr[data-run-id='{adder_id}'] td[data-col='multiplications']"
    )
    plain_mults = page.locator(
        f"#compare-operations tr[data-run-id='{plain_id}'] td[data-col='multiplications']"
    )
    assert int(adder_mults.inner_text().replace(",", "")) < int(
        plain_mults.inner_text().replace(",", "")
    )
    page.screenshot(path=_shots(tmp_path) / "19-compare-operations.png", full_page=True)
    assert not page_errors, page_errors
    page.context.close()
