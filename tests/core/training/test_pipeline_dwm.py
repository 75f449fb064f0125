"""A torchvision-layout ResNet-18 with DWM layers through the pipeline: torchvision-named
weights from a safetensors init_checkpoint, spatial-structured then winograd-direct stages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from winoprune.cli.inspection import inspect_checkpoint
from winoprune.models import build_model
from winoprune.recipes import parse_recipe
from winoprune.training.pipeline import Callbacks, EpochReport, Pipeline
from winoprune.winograd.dwm import DWMConv2d
from winoprune.winograd.layers import WinogradConv2d

CLASSES = ("a", "b", "c")


def image_folders(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2)):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


class Recorder(Callbacks):
    def __init__(self) -> None:
        self.reports: list[EpochReport] = []

    def on_epoch(self, report: EpochReport) -> None:
        self.reports.append(report)


def recipe(root: Path, weights: Path, dwm: bool = True):
    sgd = {"name": "sgd", "lr": 1.0e-3, "momentum": 0.9}
    return parse_recipe(
        {
            "name": "resnet18-dwm",
            "model": {"name": "resnet18", "width": 0.125, "num_classes": len(CLASSES)},
            "data": {"name": "imagefolder", "root": str(root), "image_size": 32},
            "tile": "F(2,3)",
            "layers": {"first_layer": "prune", "dwm": dwm},
            "init_checkpoint": str(weights),
            "stages": [
                {"type": "spatial-structured", "target": 0.3, "epochs": 1, "optimizer": sgd},
                {"type": "winograd-direct", "target": 0.5, "epochs": 1, "optimizer": sgd},
            ],
            "batch_size": 6,
            "device": "cpu",
        }
    )


def test_dwm_resnet18_prunes_every_conv_from_torchvision_weights(tmp_path: Path) -> None:
    image_folders(tmp_path / "data")
    torch.manual_seed(123)
    source = build_model("resnet18", width=0.125, num_classes=len(CLASSES))
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    assert "layer2.0.downsample.0.weight" in state  # torchvision's names, no prefix
    weights = tmp_path / "resnet18.safetensors"
    save_file(state, str(weights))

    spec = recipe(tmp_path / "data", weights)
    assert parse_recipe(spec.canonical_json()).layers.dwm
    pipe = Pipeline(spec, tmp_path / "out", Recorder())
    pipe._build()
    pipe._load_init_weights()
    for name, tensor in pipe.model.state_dict().items():
        assert torch.equal(tensor, state[name]), name

    rec = Recorder()
    pipe = Pipeline(spec, tmp_path / "out2", rec)
    result = pipe.run()
    assert result.status == "succeeded"
    last = rec.reports[-1]
    winograd_rows = {r.layer: r for r in last.layers if r.domain == "winograd"}
    assert len(winograd_rows) == 20 and {r.domain for r in last.layers} == {"winograd"}
    assert last.summary["winograd_sparsity"] == pytest.approx(0.5, abs=0.02)
    spatial_end = next(r for r in rec.reports if r.stage == 0 and r.epoch == 1)
    assert spatial_end.summary["winograd_sparsity"] == pytest.approx(0.3, abs=0.02)
    conv1 = winograd_rows["conv1"]
    dense = conv1.mult_winograd_dense
    assert dense is not None and dense < conv1.mult_direct  # 100 against 196 per tile
    # every conv is a Winograd-domain layer: 13 WinogradConv2d, 7 DWMConv2d (conv1, the three
    # stride-2 3x3 convs and the three 1x1 downsample convs)
    assert not any(isinstance(m, nn.Conv2d) for m in pipe.model.modules())
    assert sum(isinstance(m, WinogradConv2d) for m in pipe.model.modules()) == 13
    assert sum(isinstance(m, DWMConv2d) for m in pipe.model.modules()) == 7
    for name, mask in pipe.masks.items():
        assert torch.all(pipe.model.get_parameter(name)[mask] == 0)
    # `winoprune inspect` rebuilds the DWM layers from the checkpoint
    assert result.checkpoint is not None
    table = {row["layer"]: row for row in inspect_checkpoint(result.checkpoint)}
    assert table["conv1"]["shape"] == f"8x3x{pipe.model.conv1.layout.positions}"
    # a finished run restores from its checkpoint into the same DWM layers
    again = Pipeline(spec, tmp_path / "out2", Recorder())
    assert again.run().status == "succeeded"
    for name, tensor in pipe.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[name], tensor), name
    # without layers.dwm the recipe is what it was before DWM (same canonical JSON)
    plain = json.loads(recipe(tmp_path / "data", weights, dwm=False).canonical_json())
    assert "dwm" not in plain["layers"]
