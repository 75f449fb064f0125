"""benchmarks/pruning_methods.py: its recipes, mode adaptation, reference and tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from winoprune.recipes import parse_recipe

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pruning_methods as pm  # noqa: E402
import pruning_methods_dwm as dwm  # noqa: E402
import pruning_methods_wrelu as wrelu  # noqa: E402

WRELU_RECIPES = (*pm.WRELU, *wrelu.PRETRAIN.values())


@pytest.mark.parametrize(
    "name", [*pm.METHODS, "dense-pretrain", *pm.DWM, dwm.PRETRAIN, *WRELU_RECIPES]
)
def test_every_method_recipe_is_valid_in_both_modes(name, tmp_path):
    for mode in pm.MODES.values():
        recipe = parse_recipe(pm.adapt(pm.load_raw(name), mode, tmp_path, seed=3))
        assert recipe.seed == 3


def test_every_recipe_in_the_folder_is_a_method():
    files = {p.stem for p in pm.RECIPES.glob("*.yaml")}
    assert files == {*pm.METHODS, "dense-pretrain", *pm.DWM, dwm.PRETRAIN, *WRELU_RECIPES}


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


def test_the_dwm_group_is_resnet18_with_dwm_layers_and_its_own_start_and_control(tmp_path):
    assert pm.expand_methods("dwm") == list(pm.DWM)
    assert pm.expand_methods("all") == list(pm.METHODS)  # "all" stays the VGG comparison
    assert not set(pm.DWM) & set(pm.METHODS)
    quick = pm.MODES["quick"]
    recipes = {n: parse_recipe(pm.adapt(pm.load_raw(n), quick, tmp_path, 0)) for n in pm.DWM}
    start = parse_recipe(pm.adapt(pm.load_raw(dwm.PRETRAIN), quick, tmp_path, 0))
    vgg_start = parse_recipe(pm.adapt(pm.load_raw("dense-pretrain"), quick, tmp_path, 0))
    assert start.model == recipes["dense-dwm"].model and start.sha256() != vgg_start.sha256()
    for name, recipe in recipes.items():
        assert recipe.model.name == "resnet18" and recipe.model.width == 0.25, name
        assert recipe.layers.dwm and recipe.data.name == "cifar10", name
    # the control has the methods' schedule: the same stages, epochs and lr schedules
    control = recipes["dense-dwm"].stages
    for name in ("dwm-spatial-winograd", "dwm-spatial-structured"):
        stages = recipes[name].stages
        assert [s.epochs for s in stages] == [s.epochs for s in control]
        assert [s.schedule for s in stages] == [s.schedule for s in control]
        assert {s.type for s in stages} != {"dense"}
    assert [s.target for s in recipes["dwm-spatial-winograd"].stages] == [0.45, 0.6, 0.7]


def test_size_overrides_rename_the_mode_and_leave_the_standard_ones_alone():
    args = argparse.Namespace(quick=True, train_subset=64, test_subset=None)
    args.pretrain_epochs, args.stage_epochs = 1, None
    mode = pm.mode_of(args)
    assert (mode.name, mode.train_subset, mode.pretrain_epochs) == ("quick-custom", 64, 1)
    assert mode.test_subset == pm.MODES["quick"].test_subset
    plain = argparse.Namespace(quick=False, train_subset=None, test_subset=None)
    plain.pretrain_epochs = plain.stage_epochs = None
    assert pm.mode_of(plain) is pm.MODES["full"]


def dwm_stages(*points):
    return [{"winograd_sparsity": s, "top1": t, "mult_reduction": x} for s, t, x in points]


def test_dwm_reductions_count_from_the_dwm_control_at_each_tolerance():
    methods = {
        "dense-dwm": {"stages": dwm_stages((0.0, 0.60, 1.6), (0.0, 0.62, 1.6)), "wall_seconds": 1},
        "dwm-spatial-winograd": {
            "stages": dwm_stages((0.45, 0.619, 2.9), (0.6, 0.612, 4.0), (0.7, 0.601, 5.5)),
            "wall_seconds": 3,
        },
    }
    assert dwm.summarise(methods) == 0.62
    pruned = methods["dwm-spatial-winograd"]
    assert pruned["best_within_0.5pp"] == {"mult_reduction": 2.9, "winograd_sparsity": 0.45}
    assert pruned["best_within_1.0pp"] == {"mult_reduction": 4.0, "winograd_sparsity": 0.6}
    assert pruned["best_within_2.0pp"] == {"mult_reduction": 5.5, "winograd_sparsity": 0.7}
    table = dwm.markdown_table(methods, 0.62)
    assert "| `dwm-spatial-winograd` | 70.0 | 60.1 | 5.50x | 2.90x (45.0 %) | 4.00x (60.0 %) |" in (
        table
    )
    assert table.endswith("DWM dense control (reference): 62.0 %.")
    assert dwm.best_reduction_within(pruned["stages"], 0.70, 2.0) is None
