"""Winograd-domain ReLU in the UI: the New-run form offers the method and the -wrelu models, the
run page draws each Winograd-ReLU layer's activation density and puts the weights x activations
multiplications beside the weight-only ones (page modules run in Node on the API's answers; one
browser check with a screenshot)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import WebEnv, login, open_page
from tests.web.wrelu_runs import record_wrelu_run

JS = Path(__file__).resolve().parents[2] / "web" / "static" / "js"
_names = itertools.count()


def _member(web_env: WebEnv) -> tuple[Any, int]:
    name = f"wrelu-{next(_names)}"
    user = web_env.user(name)
    return user, web_env.project(name, {user: "editor"})


def test_new_run_form_offers_winograd_relu_and_its_models(web_env: WebEnv) -> None:
    user, project = _member(web_env)
    client = web_env.page_client(user)
    text = client.get(f"/runs/new?project={project}").text
    assert '<option value="winograd-relu">Winograd-domain ReLU (Liu et al.' in text
    for model in ("vgg-nagadomi-wrelu", "convpool-cnn-c-wrelu", "resnet18-var-wrelu"):
        assert f'<option value="{model}">' in text
    presets = {p["id"]: p["recipe"] for p in client.get("/ui/api/recipes").json()}
    assert presets["wrelu-cifar10-cpu-f43"]["tile"] == "F(4,3)"
    assert presets["digits-wrelu"]["method"] == "winograd-relu"
    page = client.get(f"/runs/{record_wrelu_run(web_env, user, project)}").text
    assert 'id="activation-card" hidden' in page and 'id="chart-activations"' in page


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_page_modules_show_activation_counts_beside_weight_only(web_env: WebEnv) -> None:
    user, project = _member(web_env)
    run_id = record_wrelu_run(web_env, user, project)
    api = web_env.api_client(user)
    layers = api.get(f"/api/v1/runs/{run_id}/layers").json()
    metrics = api.get(f"/api/v1/runs/{run_id}/metrics").json()
    script = f"""
    import {{ activationRows, layerRecords, multiplicationRows, multiplicationTotals, stageMetric }}
      from "{(JS / "results.js").as_uri()}";
    const [layers, metrics] = JSON.parse(process.argv[1]);
    const records = layerRecords(layers);
    const out = {{}};
    for (const stage of [-1, 0]) {{
      out[stage] = {{
        rows: activationRows(records, stage),
        totals: multiplicationTotals(multiplicationRows(records, stage)),
        direct: stageMetric(metrics, stage, "mult_direct"),
      }};
    }}
    console.log(JSON.stringify(out));
    """
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", script, json.dumps([layers, metrics])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(proc.stdout)
    values = metrics["values"]
    for index, stage in enumerate((-1, 0)):
        api_rows = [
            (layer, density, weight_only, mults)
            for s, layer, density, weight_only, mults in zip(
                layers["stage"],
                layers["layer"],
                layers["activation_density"],
                layers["multiplications"],
                layers["mult_activation_sparse"],
                strict=True,
            )
            if s == stage and density is not None
        ]
        shown = out[str(stage)]
        assert [
            (r["layer"], r["density"], r["weightOnly"], r["activation"]) for r in shown["rows"]
        ] == api_rows
        assert len(api_rows) == 4 and all(m < w for _, _, w, m in api_rows[1:])  # ReLU zeros skip
        # the totals the page prints are the epoch summary's (all convs)
        assert shown["totals"]["sparse"] == values["mult_winograd_sparse"][index]
        assert shown["totals"]["activation"] == values["mult_activation_sparse"][index]
        assert shown["direct"] == values["mult_direct"][index]
    assert out["0"]["totals"]["activation"] < out["-1"]["totals"]["activation"]  # pruned weights


@pytest.mark.browser
def test_the_run_page_draws_activation_density_and_both_counts(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    user, project = _member(web_env)
    run_id = record_wrelu_run(web_env, user, project)
    layers = (
        web_env.api_client(user)
        .get(f"/api/v1/runs/{run_id}/layers", params={"stage": 0, "domain": "winograd"})
        .json()
    )
    page = open_page(browser, page_errors)
    login(page, live_server, user.username, f"/runs/{run_id}?stage=0")
    page.wait_for_selector("#chart-activations[data-ready='1']")
    assert page.locator("#activation-card").is_visible()
    drawn = page.evaluate("() => document.getElementById('chart-activations').data[0]")
    assert drawn["x"] == layers["layer"] and drawn["y"] == pytest.approx(
        layers["activation_density"]
    )
    reductions = page.evaluate("() => document.getElementById('chart-reduction').data")
    assert reductions[0]["y"] == pytest.approx(layers["mult_reduction"])  # weights only
    by_activations = [
        d / m for d, m in zip(layers["mult_direct"], layers["mult_activation_sparse"], strict=True)
    ]
    assert reductions[1]["y"] == pytest.approx(by_activations)
    assert all(a > w for a, w in zip(by_activations, layers["mult_reduction"], strict=True))
    mults = page.evaluate("() => document.getElementById('chart-mults').data.map((t) => t.name)")
    assert mults[-1] == "weights × activations"
    cell = page.locator("#mult-totals td[data-total='activation']")
    assert cell.inner_text() == f"{sum(layers['mult_activation_sparse']):,}"
    assert page.locator("#mult-totals td[data-total='direct']").inner_text() != "—"
    page.locator("#layers-title").scroll_into_view_if_needed()
    page.screenshot(path=shots / "run-detail-wrelu.png", full_page=True)
    assert not page_errors, page_errors
    page.context.close()
