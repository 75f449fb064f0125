"""The run page and runs table show the multiplication reduction versus direct convolution:
the pages carry the column and chart, and the page modules' pure functions (run in Node on the
API's real answers) draw what the API derives."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from server.runs import progress
from tests.server.conftest import recipe
from tests.web.conftest import WebEnv, login, open_page
from tests.web.simulate import layer_rows

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "web" / "static" / "js"
_names = itertools.count()


def _worked_run(web_env: WebEnv) -> tuple[Any, Any, int]:
    """A run with spatial rows in stage -1 and Winograd rows with totals in stage 0."""
    n = next(_names)
    user = web_env.user(f"red-{n}")
    project = web_env.project(f"red-{n}", {user: "editor"})
    api = web_env.api_client(user)
    run_id = api.post("/api/v1/runs", json={"project": project, "recipe": recipe()}).json()["id"]
    with web_env.session() as session:
        progress.claim_run(session, run_id, "w")
        for stage, (spatial, winograd) in ((-1, (0.0, 0.0)), (0, (0.3, 0.6))):
            rows = layer_rows(spatial, winograd)
            if stage == 0:  # converted: Winograd rows only
                rows = [r for r in rows if r["domain"] == "winograd"]
            progress.record_layer_stats(session, run_id, stage, 0, rows)
            direct = sum(r["multiplications"] for r in layer_rows(0, 0) if r["domain"] == "spatial")
            sparse = sum(r["multiplications"] for r in rows if r["domain"] == "winograd")
            totals = {"top1": 0.5, "mult_direct": direct, "mult_winograd_sparse": sparse}
            progress.record_metrics(session, run_id, stage, 0, totals)
    return user, api, run_id


def test_run_page_and_runs_table_have_the_reduction(web_env: WebEnv) -> None:
    user, api, run_id = _worked_run(web_env)
    run = api.get(f"/api/v1/runs/{run_id}").json()
    client = web_env.page_client(user)
    page = client.get(f"/runs/{run_id}").text
    assert 'id="chart-reduction"' in page and "Multiplication reduction per layer" in page
    assert 'Mult. reduction</abbr></th><th scope="col">Top-1' in page  # beside sparsity
    runs = client.get(f"/runs?project={run['project_id']}").text
    assert "Mult. reduction" in runs
    headers = runs.split("<thead>")[1].split("</thead>")[0].count("<th ")
    source = (JS / "pages" / "runs.js").read_text()
    assert f"colspan: {headers}," in source  # the error row still spans every column


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_page_modules_draw_what_the_api_derives(web_env: WebEnv) -> None:
    _, api, run_id = _worked_run(web_env)
    layers = api.get(f"/api/v1/runs/{run_id}/layers").json()
    metrics = api.get(f"/api/v1/runs/{run_id}/metrics").json()
    detail = api.get(f"/api/v1/runs/{run_id}").json()
    script = f"""
    import {{ layerRecords, layerReductions, stageReduction }}
      from "{(JS / "results.js").as_uri()}";
    import {{ fmtTimes }} from "{(JS / "util.js").as_uri()}";
    const [layers, metrics, stages] = JSON.parse(process.argv[1]);
    const records = layerRecords(layers);
    const detached = stages.map((s) => ({{ ...s, mult_reduction: null }}));
    console.log(JSON.stringify({{
      perLayer: layerReductions(records, 0),
      fromStage: stages.map((s) => stageReduction(s, metrics)),
      fromMetrics: detached.map((s) => stageReduction(s, metrics)),
      shown: [fmtTimes(4), fmtTimes(null)],
    }}));
    """
    payload = json.dumps([layers, metrics, detail["stages"]])
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", script, payload],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(proc.stdout)
    winograd = [
        (layer, reduction)
        for stage, layer, domain, reduction in zip(
            layers["stage"],
            layers["layer"],
            layers["domain"],
            layers["mult_reduction"],
            strict=True,
        )
        if stage == 0 and domain == "winograd"
    ]
    assert [(r["layer"], r["reduction"]) for r in out["perLayer"]] == winograd
    assert all(value > 4 for _, value in winograd)  # sparse F(4,3) beats the dense tile's 4x
    by_index = {s["index"]: s["mult_reduction"] for s in detail["stages"]}
    assert out["fromStage"] == [by_index[s["index"]] for s in detail["stages"]]
    assert out["fromMetrics"] == pytest.approx(out["fromStage"])  # the live fallback agrees
    assert by_index[0] is not None and out["shown"] == ["4.00×", "—"]


@pytest.mark.browser
def test_the_browser_shows_the_apis_reductions(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str]
) -> None:
    """One page load each: the run page's stage timeline and per-layer chart, the runs table."""
    user, api, run_id = _worked_run(web_env)
    detail = api.get(f"/api/v1/runs/{run_id}").json()
    layers = api.get(f"/api/v1/runs/{run_id}/layers", params={"stage": 0}).json()
    page = open_page(browser, page_errors)
    login(page, live_server, user.username, f"/runs/{run_id}")
    page.wait_for_selector("#chart-reduction[data-ready='1']")
    drawn = page.evaluate("() => document.getElementById('chart-reduction').data[0]")
    assert drawn["x"] == layers["layer"] and drawn["y"] == layers["mult_reduction"]
    stage0 = next(s for s in detail["stages"] if s["index"] == 0)
    cell = page.locator("#stage-timeline tr[data-stage='0'] td[data-col='mult-reduction']")
    assert cell.inner_text() == f"{stage0['mult_reduction']:.2f}×"
    page.goto(f"{live_server}/runs?project={detail['project_id']}")
    shown = page.locator(f"#runs-table tr[data-run-id='{run_id}'] .reduction-cell")
    assert shown.inner_text() == f"{detail['mult_reduction']:.2f}×"
    assert not page_errors, page_errors
    page.context.close()
