"""At 390 px the run page fits the width (wide tables scroll in their own box) and its heatmaps
are sized to their content: the square a x a matrices (importance factors, zero maps) and the
layer x stage heatmap leave no empty band of rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import recipe
from tests.web.conftest import WebEnv, login, open_page
from tests.web.simulate import play_run

pytestmark = pytest.mark.browser
# the plot area (plotly's drag layer of the main axes) and the chart element, in CSS pixels
BOXES = """(id) => {
  const el = document.getElementById(id);
  const area = el.querySelector('.nsewdrag').getBoundingClientRect();
  return {chart: el.getBoundingClientRect().height, area: area.height, width: area.width};
}"""


def test_heatmaps_fit_their_rows_at_390_px(
    web_env: WebEnv, live_server: str, browser: Any, page_errors: list[str], shots: Path
) -> None:
    user = web_env.user("nadia-narrow")
    project = web_env.project("narrow-heatmaps", {user: "editor"})
    api = web_env.api_client(user)
    created = api.post("/api/v1/runs", json={"project": project, "recipe": recipe()})
    assert created.status_code == 201, created.text
    run_id = int(created.json()["id"])
    play_run(web_env.app, run_id, epoch_delay_s=0)

    page = open_page(browser, page_errors, width=390, height=900)
    login(page, live_server, "nadia-narrow", f"/runs/{run_id}")
    for chart in ("chart-importance", "chart-heatmap"):
        page.wait_for_function(
            f"() => document.querySelector('#{chart} .nsewdrag') !== null", timeout=20_000
        )
    square = page.evaluate(BOXES, "chart-importance")
    # a square matrix: the plot area is as tall as it is wide, and the chart only adds margins
    assert abs(square["area"] - square["width"]) <= 2, square
    assert square["chart"] - square["area"] <= 90, square
    layers = len(page.evaluate("() => document.getElementById('chart-heatmap').data[0].y"))
    assert layers >= 2
    stages = page.evaluate(BOXES, "chart-heatmap")
    # the layer x stage heatmap: a band of rows per layer, not a fixed 400 px for 3 layers
    assert stages["area"] <= 40 * layers + 40, (stages, layers)
    # and nothing on the page scrolls sideways (wide tables scroll inside their own box)
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path=shots / "16-run-390.png", full_page=True)
    assert page_errors == []
