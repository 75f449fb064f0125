"""Pareto, Compare and colours (issue 16): axes fitted to the points, filters and grouping by
tile/model/data set/tag/method in the URL, a sortable points table, parallel coordinates of
recipe parameters against outcome, a final-metrics table on Compare, and one stable colour per
method and per run whichever others are shown."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.web.conftest import WebEnv, login, open_page
from tests.web.simulate import play_run

pytestmark = pytest.mark.browser


def _run(web_env: WebEnv, api: Any, project: int, tile: str, target: float, tag: str) -> int:
    recipe = {
        "name": f"view-{tag}-{tile[2]}",
        "model": {"name": "digits-cnn"},
        "tile": tile,
        "pretrain": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.05}},
        "stages": [
            {"type": "spatial-structured", "target": target / 2, "epochs": 1,
             "optimizer": {"name": "sgd", "lr": 0.01}},
            {"type": "winograd-direct", "target": target, "epochs": 2,
             "optimizer": {"name": "sgd", "lr": 0.0001}},
        ],
    }  # fmt: skip
    reply = api.post("/api/v1/runs", json={"project": project, "recipe": recipe, "tags": [tag]})
    assert reply.status_code == 201, reply.text
    play_run(web_env.app, int(reply.json()["id"]), epoch_delay_s=0)
    return int(reply.json()["id"])


def traces(page: Any, chart: str) -> list[dict[str, Any]]:
    return page.evaluate(
        f"""() => document.getElementById('{chart}').data.map(t => ({{
              name: t.name, type: t.type, x: Array.from(t.x || []), y: Array.from(t.y || []),
              color: (t.marker && t.marker.color) || (t.line && t.line.color) || null,
              dims: (t.dimensions || []).map(d => d.label) }}))"""
    )


def palette(page: Any, function: str, arg: Any) -> str:
    """The page's own palette function (web/static/js/palette.js) applied to ``arg``."""
    return page.evaluate(
        """async ([fn, arg]) => {
             const src = [...document.scripts].map(s => s.src).find(s => s.includes('/js/'));
             const mod = await import(src.replace(/js\\/.*$/, 'js/palette.js'));
             return mod[fn](arg);
           }""",
        [function, arg],
    )


def test_pareto_filters_groups_sorts_and_compare_tables(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str]
) -> None:
    user = web_env.user("vic-views")
    project = web_env.project("views-project", {user: "owner"})
    api = web_env.api_client(user)
    a = _run(web_env, api, project, "F(4,3)", 0.5, "low")
    b = _run(web_env, api, project, "F(2,3)", 0.7, "high")
    c = _run(web_env, api, project, "F(4,3)", 0.8, "high")
    queued = api.post(
        "/api/v1/runs",
        json={"project": project, "recipe": api.get(f"/api/v1/runs/{a}").json()["recipe"]},
    ).json()["id"]
    page = open_page(browser, page_errors, width=1280)
    # the runs list: the queued run shows its place in the queue (the API's figure)
    login(page, live_server, user.username, f"/runs?project={project}")
    note = page.locator(f"tr[data-run-id='{queued}'] [data-testid=queue-note]")
    note.wait_for()
    detail = api.get(f"/api/v1/runs/{queued}").json()
    assert note.inner_text().startswith(f"#{detail['queue_position']} in queue · ETA ")
    assert detail["eta_s"] is not None  # borrowed from the finished runs' measured epochs
    assert page.locator(f"tr[data-run-id='{a}'] [data-testid=queue-note]").count() == 0
    page.goto(f"{live_server}/pareto?project={project}")
    page.wait_for_selector("#main[data-updated]")

    points = [t for t in traces(page, "chart-pareto") if t["name"] != "Pareto front"]
    assert sum(len(t["x"]) for t in points) == 9  # 3 runs x 3 finished stages
    assert [t["color"] for t in points] == ["#2563eb"]  # spatial-winograd's fixed colour
    y_range = page.evaluate("() => document.getElementById('chart-pareto').layout.yaxis.range")
    accuracies = [y for t in points for y in t["y"]]
    assert y_range[0] > 0.05 and y_range[0] <= min(accuracies) <= max(accuracies) <= y_range[1]
    assert y_range[1] - y_range[0] < 0.8  # fitted, not 0-100 %

    # group by tile: one trace per tile, colours from the palette (stable per name)
    page.get_by_label("Colour by").select_option("tile")
    page.wait_for_function("() => document.getElementById('chart-pareto').data.length === 3")
    by_tile = {t["name"]: t for t in traces(page, "chart-pareto") if t["name"] != "Pareto front"}
    assert set(by_tile) == {"F(2,3)", "F(4,3)"} and len(by_tile["F(4,3)"]["x"]) == 6
    assert by_tile["F(2,3)"]["color"] == palette(page, "colorFor", "tile:F(2,3)")
    assert "group=tile" in page.url

    # filter by tag: only the two "high" runs; the F(2,3) colour is the same as before
    page.get_by_label("Tag").select_option("high")
    page.wait_for_function("() => document.querySelectorAll('#pareto-table tbody tr').length === 6")
    again = {t["name"]: t for t in traces(page, "chart-pareto") if t["name"] != "Pareto front"}
    assert again["F(2,3)"]["color"] == by_tile["F(2,3)"]["color"] and "tag=high" in page.url
    rows = page.locator("#pareto-table tbody tr")
    assert {int(r) for r in rows.evaluate_all("rs => rs.map(r => r.dataset.runId)")} == {b, c}

    # the points table sorts by any column, both ways
    page.get_by_role("button", name="Top-1").click()
    shown = page.locator("#pareto-table tbody td:nth-child(8)").all_inner_texts()
    values = [float(v.split()[0]) for v in shown]
    assert values == sorted(values)
    assert page.locator("th[data-sort=accuracy]").get_attribute("aria-sort") == "ascending"
    page.get_by_role("button", name="Top-1").click()
    values = [
        float(v.split()[0])
        for v in page.locator("#pareto-table tbody td:nth-child(8)").all_inner_texts()
    ]
    assert values == sorted(values, reverse=True)

    # parallel coordinates over the shown runs: the recipe fields that differ, then outcome
    page.get_by_label("Tag").select_option("")
    page.wait_for_function("() => document.getElementById('chart-parcoords').dataset.mode")
    page.wait_for_function("() => document.querySelectorAll('#pareto-table tbody tr').length === 9")
    chart = page.locator("#chart-parcoords")
    labels = page.evaluate(
        """() => { const el = document.getElementById('chart-parcoords');
                   const t = el.data[0];
                   return t.type === 'parcoords' ? t.dimensions.map(d => d.label)
                                                 : Array.from(el.layout.xaxis.ticktext); }"""
    )
    assert {"tile", "stages.1.target", "final top-1", "final Winograd sparsity"} <= set(labels)
    assert "seed" not in labels  # the same in every run: no axis
    if chart.get_attribute("data-mode") == "svg":  # headless chromium has no WebGL
        lines = traces(page, "chart-parcoords")
        assert len(lines) == 3  # one line per run
        tile = labels.index("tile")
        at = {line["name"].split()[0]: line["y"][tile] for line in lines}
        # a category axis: the two F(4,3) runs meet, the F(2,3) run sits at the other end
        assert at[f"#{a}"] == at[f"#{c}"] != at[f"#{b}"]
        assert {at[f"#{a}"], at[f"#{b}"]} == {0.0, 1.0}
    page.screenshot(path="/tmp/wp/shots/16-pareto-1280.png", full_page=True)

    # Compare: final metrics per run, each run in its own colour on every chart
    page.goto(f"{live_server}/compare?runs={a},{b}")
    page.wait_for_selector("#main[data-updated]")
    finals = page.locator("#compare-final tbody tr")
    assert finals.count() == 2
    for run_id in (a, b):
        run = api.get(f"/api/v1/runs/{run_id}").json()
        row = page.locator(f"#compare-final tr[data-run-id='{run_id}']")
        expected = f"{100 * run['stages'][-1]['accuracy']:.1f} %"
        assert row.locator("[data-col=top1]").inner_text() == expected
    colours = {t["name"].split()[0]: t["color"] for t in traces(page, "chart-compare-accuracy")}
    assert colours == {f"#{a}": palette(page, "runColor", a), f"#{b}": palette(page, "runColor", b)}
    layers = {t["name"].split()[0]: t["color"] for t in traces(page, "chart-compare-layers")}
    assert layers == colours
    legend_y = page.evaluate(
        "() => document.getElementById('chart-compare-accuracy').layout.legend.y"
    )
    assert legend_y >= 1  # above the plot, clear of the x-axis title
    page.screenshot(path="/tmp/wp/shots/16-compare-1280.png", full_page=True)

    # the run page: round loss ticks (their own axis, not synced to the accuracy grid) and
    # stage labels on alternating rows, so short stages' labels do not overlap
    page.goto(f"{live_server}/runs/{a}")
    page.wait_for_function("() => document.querySelectorAll('#chart-accuracy .y2tick text').length")
    texts = page.evaluate(
        "() => [...document.querySelectorAll('#chart-accuracy .y2tick text')]"
        ".map(t => t.textContent)"
    )
    ticks = [float(t) for t in texts]
    steps = {round(hi - lo, 9) for lo, hi in itertools.pairwise(ticks)}
    assert len(steps) == 1 and steps.pop() in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0), ticks
    shifts = page.evaluate(
        "() => document.getElementById('chart-accuracy').layout.annotations.map(a => a.yshift)"
    )
    assert shifts[:3] == [0, -16, 0]
    assert page_errors == []
