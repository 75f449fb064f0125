"""A DWM run's checkpoint for the zero-map tests: a width-0.125 torchvision-layout ResNet-18
with conv1 half pruned and a stride-2 3x3 conv's middle row zeroed, saved as the pipeline saves
it (sidecar with the canonical DWM recipe) and registered as the worker registers it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from server.runs import progress
from tests.server.conftest import Env
from winoprune.models import build_model
from winoprune.pruning.metrics import layer_stats
from winoprune.recipes import load_recipe
from winoprune.training.checkpoints import CheckpointMeta, save_checkpoint
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import standard_transform

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 0.125


def dwm_recipe() -> dict[str, Any]:
    """The shipped DWM recipe, canonical, at width 0.125."""
    recipe = load_recipe(ROOT / "recipes" / "resnet18-dwm-cifar10-cpu.yaml")
    data = json.loads(recipe.canonical_json())
    data["model"]["width"] = WIDTH
    return data  # type: ignore[no-any-return]


def save_dwm_checkpoint(env: Env, run_id: int, stage: int, winograd: bool) -> nn.Module:
    """Write and register the checkpoint of ``stage`` (``winograd``: after the conversion) and
    the stage's layer rows; returns the model."""
    torch.manual_seed(0)
    model = build_model("resnet18", WIDTH, 10)
    with torch.no_grad():
        model.conv1.weight[: model.conv1.out_channels // 2] = 0.0  # half of conv1's kernels
        model.layer2[0].conv1.weight[:, :, 1, :] = 0.0  # the middle row of a stride-2 3x3
    if winograd:
        convert_model(model, m=2, kernel_sizes=(3,), dwm=True)
    with env.session() as session:
        run = progress._run(session, run_id)
        folder = env.settings.artifacts_dir / f"project-{run.project_id}" / f"run-{run_id}"
    meta = CheckpointMeta("0" * 64, stage, 1, tile="F(2,3)", recipe=dwm_recipe())
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    path = save_checkpoint(folder / "checkpoints", meta, tensors)
    rows = layer_stats(model, (3, 32, 32), standard_transform("F(2,3)"), dwm=True)
    with env.session() as session:
        progress.record_layer_stats(session, run_id, stage, 1, [asdict(r) for r in rows])
        progress.register_checkpoint(session, env.settings, run_id, path, stage)
    return model
