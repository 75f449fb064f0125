"""The Winograd-ReLU group of benchmarks/pruning_methods.py: its recipes (one dense start and one
control per tile, the control on the rows' schedule), its stage rows, and both reductions
counted from each tile's own control."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from winoprune.models import build_model
from winoprune.pruning.activations import count_activations, with_activation_stats
from winoprune.pruning.metrics import layer_stats, summary
from winoprune.recipes import Recipe, parse_recipe
from winoprune.training.pipeline import EpochReport
from winoprune.winograd.transforms import standard_transform

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pruning_methods as pm  # noqa: E402
import pruning_methods_wrelu as wrelu  # noqa: E402


def _recipes(mode: str, tmp_path: Path) -> dict[str, Recipe]:
    names = [*pm.WRELU, *wrelu.PRETRAIN.values()]
    return {n: parse_recipe(pm.adapt(pm.load_raw(n), pm.MODES[mode], tmp_path, 0)) for n in names}


def test_the_group_has_both_tiles_each_with_its_own_start_and_control(tmp_path: Path) -> None:
    assert pm.expand_methods("wrelu") == list(pm.WRELU)
    assert pm.expand_methods("all") == list(pm.METHODS)  # "all" stays the VGG comparison
    assert not set(pm.WRELU) & set(pm.METHODS) and not set(pm.WRELU) & set(pm.DWM)
    recipes = _recipes("quick", tmp_path)
    for tile, name in wrelu.TILES.items():
        start = recipes[wrelu.PRETRAIN[tile]]
        control, pruned = recipes[wrelu.CONTROLS[tile]], recipes[wrelu.PRUNED[tile]]
        for recipe in (start, control, pruned):
            assert recipe.model.name == "vgg-nagadomi-wrelu" and recipe.model.width == 0.25
            assert recipe.tile == name and recipe.data.name == "cifar10"
        assert start.method == "dense" and not start.stages
        assert pruned.method == "winograd-relu" and control.method == "dense"
        # the control has the rows' schedule: the same stages, epochs, optimizers and lr steps
        for key in ("epochs", "schedule", "optimizer"):
            ours = [getattr(s, key) for s in pruned.stages]
            assert ours == [getattr(s, key) for s in control.stages], key
        assert {s.type for s in pruned.stages} == {"winograd-relu"}
        # quick mode keeps three staircase stages, as every staircase method
        assert [s.target for s in pruned.stages] == [0.45, 0.6, 0.7]
    assert (
        recipes["dense-pretrain-wrelu-f23"].sha256() != recipes["dense-pretrain-wrelu-f43"].sha256()
    )
    with pytest.raises(ValueError, match="not a Winograd-ReLU row"):
        wrelu.tile_of("dense-dwm")


class _Collected:
    """What ``pm.Collector`` holds after a stage: its last report."""

    def __init__(self, report: EpochReport) -> None:
        self.last = {0: report}


def test_stage_rows_carry_both_reductions_from_the_cores_counts(tmp_path: Path) -> None:
    recipe = parse_recipe(pm.adapt(pm.load_raw("wrelu-f23"), pm.MODES["quick"], tmp_path, 0))
    torch.manual_seed(0)
    model = build_model("vgg-nagadomi-wrelu", 0.25, tile="F(2,3)").eval()
    with count_activations(model) as counts, torch.no_grad():
        model(torch.randn(2, *model.input_shape))
    rows = layer_stats(model, model.input_shape, standard_transform("F(2,3)"))
    rows = with_activation_stats(rows, model, counts)
    totals = summary(rows, [r.layer for r in rows if r.domain == "winograd"])
    summary_values = {k: v for k, v in totals.__dict__.items() if v is not None}
    report = EpochReport(0, "winograd-relu", 1, {"top1": 0.5}, rows, summary_values)
    recipe = recipe.model_copy(update={"stages": recipe.stages[:1]})
    (row,) = wrelu.wrelu_stage_rows(_Collected(report), recipe)  # type: ignore[arg-type]
    direct = sum(r.mult_direct for r in rows)
    assert row["mult_reduction"] == pytest.approx(direct / sum(r.multiplications for r in rows))
    by_activations = direct / sum(r.mult_activation_sparse or 0 for r in rows)
    assert row["activation_mult_reduction"] == pytest.approx(by_activations)
    assert row["activation_mult_reduction"] > row["mult_reduction"]  # ReLU zeros skip products
    assert len(row["layers_activation_density"]) == 8


def wrelu_stages(*points: tuple[float, float, float, float]) -> list[dict[str, float]]:
    keys = ("winograd_sparsity", "top1", "mult_reduction", "activation_mult_reduction")
    return [dict(zip(keys, p, strict=True)) for p in points]


def test_each_tile_counts_from_its_own_control_at_each_tolerance() -> None:
    methods: dict[str, Any] = {
        "dense-wrelu-f23": {"stages": wrelu_stages((0.0, 0.70, 2.25, 4.0)), "wall_seconds": 1},
        "wrelu-f23": {
            "stages": wrelu_stages((0.45, 0.698, 4.1, 9.0), (0.6, 0.692, 5.6, 12.0)),
            "wall_seconds": 2,
        },
        "dense-wrelu-f43": {"stages": wrelu_stages((0.0, 0.60, 4.0, 7.0)), "wall_seconds": 1},
        "wrelu-f43": {
            "stages": wrelu_stages((0.45, 0.598, 7.3, 15.0), (0.6, 0.589, 10.0, 20.0)),
            "wall_seconds": 3,
        },
    }
    assert wrelu.summarise(methods) == {"f23": 0.70, "f43": 0.60}
    f23, f43 = methods["wrelu-f23"], methods["wrelu-f43"]
    assert f23["best_within_0.5pp"]["weights"] == {"reduction": 4.1, "winograd_sparsity": 0.45}
    assert f23["best_within_1.0pp"]["activations"] == {"reduction": 12.0, "winograd_sparsity": 0.6}
    # F(4,3)'s 58.9 % is 1.1 pp under its own control (60 %), not under F(2,3)'s 70 %
    assert f43["best_within_1.0pp"]["weights"] == {"reduction": 7.3, "winograd_sparsity": 0.45}
    assert f43["best_within_2.0pp"]["activations"] == {"reduction": 20.0, "winograd_sparsity": 0.6}
    assert f43["reference_top1"] == 0.60
    table = wrelu.markdown_table(methods, {"f23": 0.70, "f43": 0.60})
    assert (
        "| `wrelu-f43` | 60.0 | 58.9 | - | 10.00x | 20.00x | 7.30x (45.0 %) / 15.00x (45.0 %) |"
        in table
    )
    assert table.endswith("Dense controls (references): F(2,3) 70.0 %, F(4,3) 60.0 %.")
    assert wrelu.best_within(f23["stages"], 0.80, 2.0, "mult_reduction") is None
