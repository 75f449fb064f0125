"""`winoprune points`: the named sets, the search (JSON output) and the error table of a tile;
bad options exit 2 with a message naming the option."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from winoprune.cli.main import app
from winoprune.winograd.error_model import tile_error
from winoprune.winograd.points import named_set


def invoke(*args: str):
    return CliRunner().invoke(app, ["points", *args], env={"COLUMNS": "200"})


def test_points_list_shows_the_sets_of_a_tile():
    result = invoke("list", "--m", "4", "--r", "3")
    assert result.exit_code == 0, result.output
    assert "barabasz-4-3" in result.output and "search-4-3" in result.output
    assert "barabasz-6-3" not in result.output


def test_points_search_prints_a_better_set_as_json():
    result = invoke("search", "--m", "2", "--r", "3", "--trials", "200", "--rounds", "2", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["points"][-1] == "inf" and len(found["points"]) == 4
    assert found["error"] <= found["start_error"]
    assert found["evaluated"] > 1


def test_points_errors_prints_the_measured_float32_error():
    result = invoke("errors", "--m", "6", "--points", "barabasz-6-3", "--trials", "100")
    assert result.exit_code == 0, result.output
    expected = tile_error(named_set("barabasz-6-3").transform(), 100, 0)
    assert f"{expected:.3e}" in result.output


def test_bad_options_name_the_field():
    assert "form: must be one of" in invoke("search", "--m", "4", "--form", "weird").output
    bad = invoke("errors", "--m", "4", "--points", "0,1,1,2,3")
    assert bad.exit_code == 2 and "points.2: 1 repeats" in bad.output
    assert "unknown point set 'x'" in invoke("errors", "--m", "4", "--points", "x").output
