"""report.html draws a DWM layer as one zero map per piece, titled with its kernel size, offset
and phase, and every other layer as its a x a map."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from winoprune.cli.report import piece_pattern_figure, write_report
from winoprune.pruning.zero_maps import model_zero_maps
from winoprune.winograd.transforms import standard_transform


def test_report_draws_a_map_per_dwm_piece(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 7, stride=2, padding=3), nn.Conv2d(4, 4, 3, padding=1))
    with torch.no_grad():
        model[0].weight[:2] = 0.0
    tf = standard_transform("F(2,3)")
    maps, pieces = model_zero_maps(model, ["0", "1"], tf, dwm=True)
    figure = piece_pattern_figure("0", pieces["0"])
    heatmaps = [t for t in figure.data if t.type == "heatmap"]
    assert len(heatmaps) == 9
    for trace, piece in zip(heatmaps, pieces["0"], strict=True):
        assert [list(row) for row in trace.z] == piece["zeros"]
        assert min(v for row in trace.z for v in row) == 0.5  # two of four kernels are zero
    titles = [a.text for a in figure.layout.annotations]
    assert titles == [p["label"] for p in pieces["0"]]

    record = {"stage": 0, "epoch": 0, "top1": 0.5, "winograd_sparsity": 0.1}
    path = write_report(tmp_path / "r.html", "t", [record], [], maps, tf, "name: t\n", pieces)
    html = path.read_text()
    assert "0: zeros per Winograd position of each DWM piece" in html
    assert "3x3 at (0, 0), phase (1, 1)" in html
    assert "1: zeros per Winograd position (F(2,3))" in html  # the 3x3 conv: one 4x4 map
    assert "0: zeros per Winograd position (F(2,3))" not in html  # no packed-row figure
