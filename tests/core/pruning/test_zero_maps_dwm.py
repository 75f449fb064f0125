"""Zero maps per DWM piece: the packed (1, P) row split into each piece's a1 x a2 map, labelled
with its kernel size, offset and phase, in the Winograd and the spatial domain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from winoprune.pruning.metrics import position_zero_map
from winoprune.pruning.zero_maps import dwm_weight_zero_maps, model_zero_maps, piece_zero_maps
from winoprune.winograd.dwm import DWMConv2d, dwm_layout
from winoprune.winograd.transforms import standard_transform


def _conv(k: int, s: int, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(4, 5, k, stride=s, padding=k // 2, bias=False).double()


@pytest.mark.parametrize(("k", "s", "count"), [(3, 2, 4), (7, 2, 9), (5, 1, 4), (1, 2, 1)])
def test_piece_maps_count_each_pieces_zeros_by_a_naive_loop(k: int, s: int, count: int) -> None:
    layer = DWMConv2d.from_conv2d(_conv(k, s))
    with torch.no_grad():  # zero a random quarter of the packed Q
        drop = torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(1)) < 0.25
        layer.weight[drop] = 0.0
    maps = piece_zero_maps(layer.weight, layer.layout)
    assert len(maps) == count == len(layer.layout.pieces)
    q = layer.weight.detach()
    kk, cc = q.shape[:2]
    for entry, piece in zip(maps, layer.layout.pieces, strict=True):
        a1, a2 = piece.tile
        assert entry["tile"] == [a1, a2] and len(entry["zeros"]) == a1
        for i in range(a1):
            for j in range(a2):
                position = piece.positions.start + i * a2 + j
                zeros = sum(float(q[a, b, position] == 0) for a in range(kk) for b in range(cc))
                assert entry["zeros"][i][j] == pytest.approx(zeros / (kk * cc))
    # the pieces' maps tile the layer's packed row, in order
    flat = [v for entry in maps for row in entry["zeros"] for v in row]
    assert flat == pytest.approx(position_zero_map(layer)[0].tolist())


def test_pieces_are_labelled_with_kernel_offset_and_phase() -> None:
    maps = piece_zero_maps(DWMConv2d.from_conv2d(_conv(7, 2)).weight, dwm_layout((7, 7), (2, 2)))
    labels = [m["label"] for m in maps]
    assert labels[0] == "2x2 at (0, 0), phase (0, 0)"  # 4x4 phase sub-kernel: 2 + 2 per side
    assert "2x2 at (2, 2), phase (0, 0)" in labels
    assert labels[-1] == "3x3 at (0, 0), phase (1, 1)"  # the odd phase's 3x3 sub-kernel
    assert {tuple(m["kernel"]) for m in maps} == {(2, 2), (2, 3), (3, 2), (3, 3)}
    assert [m["phase"] for m in maps].count([0, 1]) == 2  # 4x3 sub-kernel: (2 + 2) x 3
    assert [m["offset"] for m in maps if m["phase"] == [0, 1]] == [[0, 0], [2, 0]]


def test_f_hat_of_the_pieces_is_the_layers_normalised_factors() -> None:
    layout = dwm_layout((3, 3), (2, 2))
    layer = DWMConv2d.from_conv2d(_conv(3, 2))
    maps = piece_zero_maps(layer.weight, layout)
    raw = []  # F_ij = f1_i f2_j, f_i = ||B^T[i, :]|| ||A^T[:, i]|| of each side, per piece
    for piece in layout.pieces:
        rows, cols = piece.transform.rows, piece.transform.cols
        f1 = [rows.BT[i].norm() * rows.AT[:, i].norm() for i in range(piece.tile[0])]
        f2 = [cols.BT[j].norm() * cols.AT[:, j].norm() for j in range(piece.tile[1])]
        raw.append([[float(a * b) for b in f2] for a in f1])
    smallest = min(v for m in raw for r in m for v in r)
    for entry, expected in zip(maps, raw, strict=True):
        for got, want in zip(entry["f_hat"], expected, strict=True):
            assert got == pytest.approx([v / smallest for v in want])
    assert min(v for m in maps for r in m["f_hat"] for v in r) == pytest.approx(1.0)


def test_a_masked_spatial_weight_maps_as_its_dwm_layer_does() -> None:
    conv = _conv(3, 2, seed=3)
    with torch.no_grad():
        conv.weight[:, :, 0, :] = 0.0  # the top row: phase-0 pieces lose their first tap row
        conv.weight[:2] = 0.0
    row, spatial = dwm_weight_zero_maps(conv.weight, (3, 3), (2, 2))
    layer = DWMConv2d.from_conv2d(conv)
    assert row == position_zero_map(layer).tolist()
    assert [m["zeros"] for m in spatial] == [
        m["zeros"] for m in piece_zero_maps(layer.weight, layer.layout)
    ]
    assert any(v == 1.0 for m in spatial for r in m["zeros"] for v in r)  # whole positions pruned


def test_model_maps_split_dwm_layers_and_leave_others_as_before() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)
    )
    tf = standard_transform("F(2,3)")
    maps, pieces = model_zero_maps(model, ["0", "2"], tf, dwm=True)
    assert list(pieces) == ["0"] and len(pieces["0"]) == 4
    assert len(maps["0"]) == 1 and len(maps["0"][0]) == dwm_layout((3, 3), (2, 2)).positions
    assert maps["2"] == position_zero_map(model[2], tf).tolist()  # a 4x4 F(2,3) map
    without, none = model_zero_maps(model, ["2"], tf, dwm=False)
    assert none == {} and without["2"] == maps["2"]
    with pytest.raises(ValueError, match="weight: expected a packed Q"):
        piece_zero_maps(torch.zeros(2, 2, 3), dwm_layout((3, 3), (2, 2)))
