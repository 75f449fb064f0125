"""The recipe's tile mapping: points by name or list, form, summation options; errors name the
field; default-only mappings keep the hash of the plain name; a job runs with chosen points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from winoprune.recipes import RecipeError, load_recipe, parse_recipe, recipe_json_schema
from winoprune.recipes.tile import TileSpec
from winoprune.training.pipeline import Pipeline
from winoprune.winograd.accurate import Summation
from winoprune.winograd.layers import WinogradConv2d
from winoprune.winograd.points import named_set
from winoprune.winograd.transforms import INF

ROOT = Path(__file__).resolve().parents[3]


def demo(**tile: Any) -> dict[str, Any]:
    data = json.loads(load_recipe(ROOT / "recipes" / "digits-demo.yaml").canonical_json())
    if tile:
        data["tile"] = tile
    return data


def errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    return [(e["loc"], e["msg"]) for e in info.value.errors]


@pytest.mark.parametrize(
    "tile", [{"m": 4, "r": 3}, {"m": 4, "r": 3, "form": "modified"}, {"m": 4, "r": 3,
             "channel_sum": "blas", "order": "natural"}, "F(4,3)", "4x3"],
)  # fmt: skip
def test_default_tiles_keep_the_hash_of_the_plain_name(tile: Any):
    plain = parse_recipe(demo())
    spelled = parse_recipe({**demo(), "tile": tile})
    assert spelled.tile == "F(4,3)"
    assert spelled.sha256() == plain.sha256()


def test_named_points_list_points_and_options_reach_the_transform():
    by_name = parse_recipe(demo(m=6, r=3, points="barabasz-6-3"))
    assert by_name.transform().points == named_set("barabasz-6-3").transform().points
    assert by_name.sha256() != parse_recipe({**demo(), "tile": "F(6,3)"}).sha256()
    listed = parse_recipe(demo(m=4, r=3, points=["0", "-1/2", -1, 1, 2], order="huffman"))
    assert listed.transform().points == named_set("barabasz-4-3").transform().points
    assert listed.summation() == Summation("blas", "huffman")
    original = parse_recipe(demo(m=4, r=3, form="original", channel_sum="pairwise"))
    assert INF not in original.transform().points and len(original.transform().points) == 6
    # the canonical JSON round-trips to the same recipe
    again = parse_recipe(json.loads(listed.canonical_json()))
    assert again.sha256() == listed.sha256() and isinstance(again.tile, TileSpec)


@pytest.mark.parametrize(
    ("tile", "loc", "message"),
    [
        ({"m": 6, "r": 3, "points": "nope"}, "tile.points", "unknown point set 'nope'"),
        ({"m": 6, "r": 3, "points": "barabasz-4-3"}, "tile.points", "set for F(4,3)"),
        ({"m": 6, "r": 3, "points": [0, 1, 2]}, "tile.points", "takes 7 finite points, got 3"),
        ({"m": 4, "r": 3, "points": [0, 1, 1, 2, 3]}, "tile.points.2", "must be distinct"),
        ({"m": 4, "r": 3, "points": [0, 1, "inf", 2, 3]}, "tile.points.2", "must be finite"),
        ({"m": 4, "r": 3, "points": [0, 1, 0.1, 2, 3]}, "tile.points.2", "not an exact fraction"),
        ({"m": 4, "r": 3, "points": [0, 1, "2**8", 2, 3]}, "tile.points.2", "not a number"),
        ({"m": 4, "r": 3, "points": [0, 1, True, 2, 3]}, "tile.points.2", "not a number"),
        ({"m": 3, "r": 3, "points": "barabasz-3-3-original", "form": "modified"}, "tile.form",
         "original form"),
        ({"m": 4, "r": 3, "order": "reverse"}, "tile.order", "natural"),
        ({"m": 4, "r": 3, "channel_sum": "kahan"}, "tile.channel_sum", "pairwise"),
        ({"m": 14, "r": 3}, "tile.m", "exceeds the maximum 15"),
        ({"m": 4, "r": 3, "size": 2}, "tile.size", "Extra inputs"),
        ({"m": "4", "r": 3}, "tile.m", "integer"),
        ({"r": 3}, "tile.m", "required"),
    ],
)  # fmt: skip
def test_bad_tiles_are_errors_naming_the_field(tile: dict[str, Any], loc: str, message: str):
    found = errors({**demo(), "tile": tile})
    assert any(where == loc and message in msg for where, msg in found), found


def test_a_tile_of_the_wrong_type_is_an_error_on_tile():
    assert errors({**demo(), "tile": 5}) == [
        ("tile", "must be a name like F(4,3) or a mapping {m, r, points, ...}")
    ]


def test_the_json_schema_offers_both_spellings():
    schema = recipe_json_schema()["properties"]["tile"]
    kinds = [option.get("type") for option in schema["anyOf"]]
    assert "string" in kinds and "object" in kinds


@pytest.mark.slow
def test_a_digits_job_trains_winograd_layers_with_the_chosen_points_and_sums(tmp_path):
    data = demo(m=2, r=3, points="lavin-2-3", channel_sum="pairwise", order="huffman")
    data["pretrain"]["epochs"] = 1
    data["data"].update(train_subset=256, test_subset=128)
    data["stages"] = [{**data["stages"][i], "epochs": 1} for i in (0, 2)]  # spatial, winograd
    recipe = parse_recipe(data)
    pipe = Pipeline(recipe, tmp_path)
    assert pipe.run().status == "succeeded"
    layers = [m for m in pipe.model.modules() if isinstance(m, WinogradConv2d)]
    assert layers
    for layer in layers:
        assert layer.transform.points == named_set("lavin-2-3").transform().points
        assert layer.summation == Summation("pairwise", "huffman")
