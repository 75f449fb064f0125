"""benchmarks/pruning_methods.py: its recipes, mode adaptation, reference and tables."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from winoprune.recipes import parse_recipe

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pruning_methods as pm  # noqa: E402


@pytest.mark.parametrize("name", [*pm.METHODS, "dense-pretrain"])
def test_every_method_recipe_is_valid_in_both_modes(name, tmp_path):
    for mode in pm.MODES.values():
        recipe = parse_recipe(pm.adapt(pm.load_raw(name), mode, tmp_path, seed=3))
        assert recipe.seed == 3


def test_every_recipe_in_the_folder_is_a_method():
    files = {p.stem for p in pm.RECIPES.glob("*.yaml")}
    assert files == {*pm.METHODS, "dense-pretrain"}


def test_quick_mode_keeps_three_staircase_stages_but_every_targeted_stage(tmp_path):
    quick = pm.MODES["quick"]
    staircase = pm.adapt(pm.load_raw("spatial-structured"), quick, tmp_path, 0)["stages"]
    assert [s["target"] for s in staircase] == [0.45, 0.6, 0.7]
    targeted = pm.adapt(pm.load_raw("t60-ss-lw"), quick, tmp_path, 0)["stages"]
    assert len(targeted) == 2 and all(s["epochs"] == 2 for s in targeted)


def stages(*points):
    return [{"winograd_sparsity": s, "top1": t} for s, t in points]


def test_the_reference_is_the_better_control_and_tolerances_count_from_it():
    methods = {
        "dense": {"stages": stages((0.0, 0.70), (0.0, 0.74)), "wall_seconds": 1.0},
        "dense-cos": {"stages": stages((0.0, 0.75)), "wall_seconds": 1.0},
        "t60-ss-lw": {"stages": stages((0.6, 0.73), (0.6, 0.741)), "wall_seconds": 2.0},
    }
    assert pm.summarise(methods) == 0.75
    pruned = methods["t60-ss-lw"]
    assert pruned["max_sparsity_within_0.5pp"] is None
    assert pruned["max_sparsity_within_1.0pp"] == 0.6
    tables = pm.markdown_tables(methods, 0.75)
    assert "| `t60-ss-lw` | 60.0 | 74.1 | -0.9 | 2 |" in tables
    assert "| `dense` | 70.0 | 74.0 |" in tables  # the staircase table
    assert tables.endswith("Dense control (reference): 75.0 %.")


def test_methods_take_group_names_and_reject_unknown_ones():
    assert pm.expand_methods("all") == list(pm.METHODS)
    assert pm.expand_methods("dense, targeted")[:2] == ["dense", "dense-cos"]
    assert pm.expand_methods("targeted,dense-cos") == list(pm.TARGETED)
    with pytest.raises(SystemExit, match=r"--methods: unknown \['nope'\]"):
        pm.expand_methods("dense,nope")
