"""Browser tests: Debian's chromium driven by Playwright against uvicorn on a free port.

These tests SIMULATE THE TRAINING: a thread (tests/web/simulate.py) reports synthetic epochs
through the worker's own writer (worker.leases.claim, worker.reporting.DbReporter,
worker.runner.finish) while the page is open. Everything the browser shows comes through the
real API, SSE stream and pages. tests/web/test_worker_browser.py drives a real Celery worker.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

import pytest

from tests.server.conftest import recipe
from tests.web.conftest import PASSWORD, WebEnv, login, open_page
from tests.web.simulate import play_run
from winoprune.winograd.importance import importance_factors
from winoprune.winograd.transforms import standard_transform

pytestmark = pytest.mark.browser
_names = itertools.count()

TRACES_JS = """id => (document.getElementById(id).data || []).map(
    t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || []), z: t.z}))"""


def traces(page: Any, chart_id: str) -> list[dict[str, Any]]:
    """The Plotly traces currently drawn in a chart."""
    return page.evaluate(TRACES_JS, chart_id)  # type: ignore[no-any-return]


def wait_for_traces(page: Any, chart_id: str, expected: list[dict[str, Any]], keys: tuple) -> None:
    """Wait until the chart's traces carry `expected` (compared on `keys` only)."""
    page.wait_for_function(
        """([id, expected, keys]) => {
            const el = document.getElementById(id);
            if (!el || !el.data) return false;
            const pick = t => Object.fromEntries(keys.map(k => [k, Array.from(t[k] || [])]));
            const got = el.data.map(pick);
            const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
            return expected.every((want, i) => got[i] && keys.every(k => same(got[i][k], want[k])));
        }""",
        arg=[chart_id, expected, list(keys)],
    )


def last_stage_layers(api: Any, run_id: int, stage: int) -> dict[str, dict[str, Any]]:
    """{domain: {layer: row}} of a stage's last epoch, from the API."""
    columns = api.get(f"/api/v1/runs/{run_id}/layers", params={"stage": stage}).json()
    last = max(columns["epoch"])
    out: dict[str, dict[str, Any]] = {"spatial": {}, "winograd": {}}
    for i, layer in enumerate(columns["layer"]):
        if columns["epoch"][i] == last:
            out[columns["domain"][i]][layer] = {
                k: columns[k][i] for k in ("sparsity", "nnz", "multiplications")
            }
    return out


def test_submit_a_digits_run_and_watch_it_update_live(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str]
) -> None:
    """Log in with the keyboard, submit a digits run through the New run form (a bad target is
    shown next to its field first), then watch the simulated worker's rows arrive live: status,
    timeline and charts update without a reload and hold one bar per layer with the API's values.
    """
    n = next(_names)
    user = web_env.user(f"br-alice-{n}")
    project = web_env.project(f"br-lab-{n}", {user: "editor"})
    api = web_env.api_client(user)
    page = open_page(browser, page_errors)

    page.goto(f"{live_server}/runs/new?project={project}")
    assert "/login" in page.url  # not logged in: sent to the login form, then back
    page.get_by_label("User name").focus()
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    page.get_by_text("username or password incorrect").wait_for()
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/runs/new?project={project}")

    page.wait_for_selector("#run-form[data-ready='1']")
    page.get_by_label("Start from a preset").select_option("digits-demo")
    page.get_by_label("Name", exact=True).fill(f"digits-live-{n}")
    page.get_by_label("Tile").select_option("F(4,3)")
    page.get_by_label("Epochs", exact=True).fill("1")
    for index in range(4):
        page.get_by_label(f"Stage {index} epochs").fill("1")
    page.get_by_label("Stage 1 target").fill("1.5")
    page.get_by_label("Tags").fill("demo, browser")
    page.get_by_role("button", name="Submit run").click()
    error = page.locator("#f-stages-1-target-error")
    error.wait_for()
    assert "must be in [0, 1)" in error.inner_text()
    assert page.get_by_label("Stage 1 target").get_attribute("aria-invalid") == "true"
    page.get_by_role("tab", name="YAML").click()
    assert "target: 1.5" in page.get_by_label("Recipe as YAML").input_value()
    page.get_by_role("tab", name="Form").click()
    page.get_by_label("Stage 1 target").fill("0.45")
    page.get_by_role("button", name="Submit run").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])

    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert run["name"] == f"digits-live-{n}" and run["status"] == "queued"
    assert [s["target"] for s in run["recipe"]["stages"]] == [0.3, 0.45, 0.55, 0.6]
    assert run["recipe"]["pretrain"]["epochs"] == 1 and run["tags"] == ["browser", "demo"]

    page.locator("[data-testid='run-status'][data-status='queued']").wait_for()
    page.locator("#live-status[data-mode='live']").wait_for()
    worker = threading.Thread(target=play_run, args=(web_env.app, run_id, 0.4))
    worker.start()
    page.locator("[data-testid='run-status'][data-status='running']").wait_for()
    page.locator("#stage-timeline tr[data-status='running']").first.wait_for()
    page.locator("[data-testid='run-status'][data-status='succeeded']").wait_for(timeout=30_000)
    worker.join()

    # the charts hold one bar per layer with the values the API returns (last stage by default)
    final = last_stage_layers(api, run_id, 3)
    layers = list(final["winograd"])
    wait_for_traces(
        page,
        "chart-layers",
        [
            {"x": layers, "y": [final["winograd"][k]["sparsity"] for k in layers]},
            {"x": layers, "y": [final["spatial"][k]["sparsity"] for k in layers]},
        ],
        ("x", "y"),
    )
    mults = traces(page, "chart-mults")
    assert [t["name"] for t in mults] == ["direct", "dense Winograd", "sparse Winograd"]
    assert mults[2]["y"] == [final["winograd"][k]["multiplications"] for k in layers]
    assert mults[0]["y"] == [
        last_stage_layers(api, run_id, -1)["spatial"][k]["multiplications"] for k in layers
    ]
    heatmap = traces(page, "chart-heatmap")[0]
    assert heatmap["y"] == layers and len(heatmap["x"]) == 5  # pretrain + 4 stages
    assert [row[-1] for row in heatmap["z"]] == [final["winograd"][k]["sparsity"] for k in layers]
    metrics = api.get(f"/api/v1/runs/{run_id}/metrics").json()
    accuracy = traces(page, "chart-accuracy")[0]
    assert accuracy["y"] == metrics["values"]["top1"]
    stages = api.get(f"/api/v1/runs/{run_id}").json()["stages"]
    wait_for_traces(
        page,
        "chart-stage-sparsity",
        [
            {"y": [s["sparsity"] for s in stages if s["index"] >= 0]},
            {"y": [s["target"] for s in stages if s["index"] >= 0]},
        ],
        ("y",),
    )
    importance = traces(page, "chart-importance")[0]["z"]
    assert importance == importance_factors(standard_transform("F(4,3)")).tolist()
    page.get_by_test_id("zero-map-missing").wait_for()

    # the chosen stage lives in the URL and redraws the per-layer bars
    page.get_by_label("Stage", exact=True).select_option("0")
    assert "stage=0" in page.url
    first = last_stage_layers(api, run_id, 0)
    wait_for_traces(
        page, "chart-layers", [{"y": [first["winograd"][k]["sparsity"] for k in layers]}], ("y",)
    )
    assert page.locator("#stage-timeline tr[data-status='succeeded']").count() == 5
    assert page.locator("#run-log li[data-kind='run.finished']").count() == 1
    assert not page_errors, page_errors
    page.context.close()


def _finished_run(web_env: WebEnv, api: Any, project: int, target: float, tag: str) -> int:
    recipe = {
        "name": f"cmp-{tag}",
        "model": {"name": "digits-cnn"},
        "method": "spatial-winograd",
        "pretrain": {"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.05}},
        "stages": [
            {
                "type": "spatial-structured",
                "target": target / 2,
                "epochs": 1,
                "optimizer": {"name": "sgd", "lr": 0.01},
            },
            {
                "type": "winograd-direct",
                "target": target,
                "epochs": 2,
                "optimizer": {"name": "sgd", "lr": 0.0001},
            },
        ],
    }
    response = api.post("/api/v1/runs", json={"project": project, "recipe": recipe, "tags": [tag]})
    assert response.status_code == 201, response.text
    run_id = int(response.json()["id"])
    play_run(web_env.app, run_id, epoch_delay_s=0)
    return run_id


def test_runs_table_compare_two_runs_and_pareto(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str]
) -> None:
    """Filter the runs table (state in the URL), pick two runs, compare their curves, per-layer
    sparsity and recipe diff; the Pareto view has one point per finished stage."""
    n = next(_names)
    user = web_env.user(f"br-bob-{n}")
    project = web_env.project(f"br-cmp-{n}", {user: "owner"})
    api = web_env.api_client(user)
    first = _finished_run(web_env, api, project, 0.5, "low")
    second = _finished_run(web_env, api, project, 0.7, "high")
    queued = api.post(
        "/api/v1/runs",
        json={"project": project, "recipe": api.get(f"/api/v1/runs/{first}").json()["recipe"]},
    ).json()["id"]
    page = open_page(browser, page_errors)
    login(page, live_server, user.username, f"/runs?project={project}")

    rows = page.locator("#runs-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 3
    page.get_by_label("succeeded").check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 2")
    assert "status=succeeded" in page.url
    page.get_by_role("button", name="Created").click()
    page.wait_for_function(
        "first => document.querySelector('#runs-table tbody tr').dataset.runId == first",
        arg=first,
    )
    assert page.locator("th[data-sort=created]").get_attribute("aria-sort") == "ascending"
    assert "sort=created&order=asc" in page.url
    ids = [int(x) for x in rows.evaluate_all("rs => rs.map(r => r.dataset.runId)")]
    assert ids == [first, second]
    page.get_by_label(f"Select run {first} for comparison").check()
    page.get_by_label(f"Select run {second} for comparison").check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(f"**/compare?runs={first},{second}")

    page.wait_for_selector("#main[data-updated]")
    curves = traces(page, "chart-compare-accuracy")
    assert len(curves) == 2
    for trace, run_id in zip(curves, (first, second), strict=True):
        assert trace["y"] == api.get(f"/api/v1/runs/{run_id}/metrics").json()["values"]["top1"]
    bars = traces(page, "chart-compare-layers")
    for trace, run_id in zip(bars, (first, second), strict=True):
        final = last_stage_layers(api, run_id, 1)["winograd"]
        assert trace["x"] == list(final)
        assert trace["y"] == [row["sparsity"] for row in final.values()]
    diff = page.locator("#recipe-diff tbody")
    assert diff.locator("tr", has_text="stages.1.target").inner_text().split("\t")[1:] == [
        "0.5",
        "0.7",
    ]
    assert diff.locator("tr", has_text="stages.1.epochs").count() == 0  # equal fields are hidden

    page.goto(f"{live_server}/pareto?project={project}")
    page.wait_for_selector("#main[data-updated]")
    points = traces(page, "chart-pareto")
    # 2 runs x 3 finished stages (pretrain + 2); the queued run has none
    assert sum(len(t["x"]) for t in points[:-1]) == 6
    assert page.locator("#pareto-table tbody tr").count() == 6
    page.locator("#pareto-table a").first.click()
    page.wait_for_url("**/runs/*?stage=*")
    assert queued not in (first, second)
    assert not page_errors, page_errors
    page.context.close()


def test_a_project_the_user_is_not_in_cannot_be_opened(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str]
) -> None:
    """Another team's project, run and comparison show "not found"; the switcher hides it."""
    n = next(_names)
    user, other = web_env.user(f"br-carol-{n}"), web_env.user(f"br-dave-{n}")
    mine = web_env.project(f"br-mine-{n}", {user: "viewer"})
    theirs = web_env.project(f"br-secret-{n}", {other: "owner"})
    their_run = (
        web_env.api_client(other)
        .post(
            "/api/v1/runs",
            json={"project": theirs, "recipe": recipe()},
        )
        .json()["id"]
    )
    page = open_page(browser, page_errors)
    login(page, live_server, user.username)
    assert f"project={mine}" in page.url
    options = page.locator("#project-select option").all_inner_texts()
    assert options == [f"br-mine-{n} (viewer)"]
    for path in (f"/runs?project={theirs}", f"/runs/{their_run}", f"/team?project={theirs}"):
        response = page.goto(f"{live_server}{path}")
        assert response.status == 404
        assert page.get_by_test_id("not-found").is_visible()
        assert f"br-secret-{n}" not in page.content()
    page.goto(f"{live_server}/runs?project={mine}")
    assert page.get_by_role("link", name="New run", exact=True).count() == 0  # a viewer
    page.context.close()
    assert not [e for e in page_errors if "404" not in e], page_errors


def test_team_page_tokens_are_shown_once_and_logout_ends_the_session(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str]
) -> None:
    """Members and roles are listed; a new token's secret is shown once and works with the API;
    logging out sends the browser back to the login form."""
    n = next(_names)
    owner, member = web_env.user(f"br-erin-{n}"), web_env.user(f"br-fred-{n}")
    project = web_env.project(f"br-team-{n}", {owner: "owner", member: "viewer"})
    page = open_page(browser, page_errors)
    login(page, live_server, owner.username, f"/team?project={project}")
    page.locator("#members tbody tr").nth(1).wait_for()
    page.get_by_label(f"Role of {member.username}").select_option("editor")
    page.wait_for_timeout(300)
    roles = web_env.api_client(owner).get(f"/api/v1/projects/{project}/members").json()
    assert {m["username"]: m["role"] for m in roles}[member.username] == "editor"

    page.get_by_label("Token name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    secret_box = page.get_by_test_id("token-secret")
    secret_box.wait_for()
    secret = secret_box.input_value()
    assert secret.startswith("wp_")
    client = web_env.api_client(owner)
    client.headers["Authorization"] = f"Bearer {secret}"
    assert client.get("/api/v1/auth/me").json()["username"] == owner.username
    page.get_by_role("button", name="Done").click()
    assert secret not in page.content()
    page.reload()
    page.locator("#tokens tbody tr").first.wait_for()
    assert secret not in page.content() and secret[:10] in page.content()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto(f"{live_server}/team?project={project}")
    assert "/login" in page.url
    assert not page_errors, page_errors
    page.context.close()
