"""Operation counts and energy of adder and ordinary layers (pruning.operations) against counts
worked out by hand from the matrices' structure, and the rows layer_stats gives adder models."""

from __future__ import annotations

import pytest
import torch

from winoprune.models import build_model
from winoprune.pruning.metrics import layer_stats, summary
from winoprune.pruning.operations import (
    FP32_ADD_PJ,
    FP32_MULT_PJ,
    adder_ops,
    matrix_ops,
    winograd_adder_ops,
)
from winoprune.winograd.transforms import standard_transform
from winoprune.winograd.wadder import adder_transform

F23 = adder_transform("F(2,3)", "balanced")


def test_horowitz_costs():
    assert (FP32_ADD_PJ, FP32_MULT_PJ) == (0.9, 3.7)


def test_matrix_ops_counts_additions_and_non_unit_multiplications():
    # rows with 2, 3 and 1 nonzeros: 1 + 2 + 0 additions per column; the 2 and 0.5 multiply
    m = torch.tensor([[1.0, -1.0, 0.0], [2.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    ops = matrix_ops(m, 5)
    assert (ops.additions, ops.multiplications) == (15, 10)


def test_f23_winograd_adder_is_2_25x_fewer_terms_than_the_adder_layer():
    k, c, tiles = 4, 3, 10  # 10 tiles of 2 x 2 outputs = 40 outputs
    spatial = adder_ops(k * c * 9 * tiles * 4)
    wino = winograd_adder_ops(F23.AT, F23.BT, k, c, tiles, 1.0)
    kernel_terms = k * c * 16 * tiles
    transforms = wino.additions - 2 * kernel_terms
    # BT: 4 rows of 2 nonzeros, 4 columns, two passes: 32 per (c, tile); AT: 2 rows of 3
    # nonzeros over 4 then 2 columns: 24 per (k, tile)
    assert transforms == 32 * c * tiles + 24 * k * tiles
    assert spatial.additions / (2 * kernel_terms) == pytest.approx(2.25)
    assert wino.multiplications == 0 and spatial.multiplications == 0
    squared = winograd_adder_ops(F23.AT, F23.BT, k, c, tiles, 2.0)
    assert squared.multiplications == kernel_terms
    assert squared.energy_pj == pytest.approx(3.7 * kernel_terms + 0.9 * squared.additions)


def test_layer_rows_of_adder_models():
    tf = standard_transform("F(2,3)")
    adder = {r.layer: r for r in layer_stats(build_model("digits-cnn-adder"), (1, 8, 8), tf)}
    conv1 = adder["features.conv1"]  # 16 -> 16 at 8 x 8
    assert (conv1.domain, conv1.multiplications, conv1.mult_direct) == ("spatial", 0, 0)
    assert conv1.additions == 2 * 16 * 16 * 9 * 64
    assert conv1.energy_pj == pytest.approx(0.9 * conv1.additions)
    wadder = build_model("digits-cnn-wadder", tile="F(2,3)")
    rows = {(r.layer, r.domain): r for r in layer_stats(wadder, (1, 8, 8), tf)}
    w1 = rows[("features.conv1", "winograd")]
    tiles = 16
    assert w1.numel == 16 * 16 * 16 and w1.multiplications == 0
    assert w1.additions == 2 * 16 * 16 * 16 * tiles + 32 * 16 * tiles + 24 * 16 * tiles
    # the first conv multiplies: its direct and Winograd rows as for any conv
    assert rows[("features.conv0", "spatial")].multiplications == 16 * 9 * 64
    assert rows[("features.conv0", "spatial")].additions == 16 * 9 * 64
    totals = summary(list(rows.values()), ["features.conv0"])
    used = [rows[("features.conv0", "winograd")]] + [
        r for (name, d), r in rows.items() if name != "features.conv0"
    ]
    assert totals.additions == sum(r.additions for r in used)
    assert totals.energy_pj == pytest.approx(sum(r.energy_pj for r in used))


def test_ordinary_winograd_row_counts_products_and_transforms():
    tf = standard_transform("F(4,3)")
    rows = {(r.layer, r.domain): r for r in layer_stats(build_model("digits-cnn"), (1, 8, 8), tf)}
    w = rows[("features.conv1", "winograd")]
    tiles = 4  # 8 x 8 output in 4 x 4 tiles
    at_ops, bt_ops = matrix_ops(tf.AT, 6) + matrix_ops(tf.AT, 4), matrix_ops(tf.BT, 6)
    adds = w.multiplications + 16 * tiles * 2 * bt_ops.additions + 16 * tiles * at_ops.additions
    mults = 16 * tiles * 2 * bt_ops.multiplications + 16 * tiles * at_ops.multiplications
    assert w.additions == adds
    assert w.energy_pj == pytest.approx(3.7 * (w.multiplications + mults) + 0.9 * adds)
