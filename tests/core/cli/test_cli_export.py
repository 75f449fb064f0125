"""`winoprune export` and `winoprune inspect` on an export, run as a user would (subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tests.core.cli.test_cli import ROOT, cli
from winoprune.models import build_model
from winoprune.pruning import prune_model
from winoprune.recipes import load_recipe
from winoprune.runtime import load_export
from winoprune.training import checkpoints as ckpt


def _checkpoint(folder: Path, target: float | None) -> Path:
    recipe = load_recipe(ROOT / "recipes" / "digits-demo.yaml")
    torch.manual_seed(0)
    model = build_model(recipe.model.name, recipe.model.width)
    if target is not None:
        prune_model(model, "spatial-structured", target)
    meta = ckpt.CheckpointMeta(
        recipe_sha256=recipe.sha256(),
        stage=1,
        epoch=1,
        tile="F(4,3)",
        recipe=json.loads(recipe.canonical_json()),
        stage_done=True,
    )
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    return ckpt.save_checkpoint(folder, meta, tensors)


def test_export_benchmark_and_inspect(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "ck", 0.7)
    out = tmp_path / "export"
    proc = cli(
        "export",
        str(checkpoint),
        "--out",
        str(out),
        "--benchmark",
        "--batch",
        "4",
        "--repeats",
        "2",
    )
    assert "exported 4 Winograd layers (F(4,3))" in proc.stdout
    assert "x conv2d" in proc.stdout
    speed = json.loads((out / "speed.json").read_text())
    assert speed["batch"] == 4 and speed["threads"] == 2 and speed["speedup"] > 0
    assert set(speed["layers"]) == {f"features.conv{i}" for i in range(4)}
    runtime, manifest = load_export(out)
    assert manifest["info"]["model"] == "digits-cnn"
    assert runtime(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    table = cli("inspect", str(out)).stdout
    assert "features.conv3" in table and "kernel-blocks" in table
    network = next(line for line in table.splitlines() if "network (batch 4" in line)
    assert f"{speed['speedup']:.2f}x" in network  # the measured speed-up beside the counted one


def test_export_refuses_an_unpruned_checkpoint(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "ck", None)
    proc = cli("export", str(checkpoint), "--out", str(tmp_path / "e"), check=False)
    assert proc.returncode == 1
    assert "not pruned" in proc.stdout
    assert not (tmp_path / "e" / "manifest.json").exists()


def test_inspect_without_speed_shows_no_measurement(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "ck", 0.6)
    out = tmp_path / "export"
    cli("export", str(checkpoint), "--out", str(out))
    table = cli("inspect", str(out)).stdout
    assert "features.conv1" in table and "network (batch" not in table
    (out / "model.safetensors").write_bytes(b"broken")
    proc = cli("inspect", str(out), check=False)
    assert proc.returncode == 1 and "sha256" in proc.stdout
