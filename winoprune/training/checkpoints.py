"""Checkpoints: safetensors tensors (weights, masks, optimizer state, RNG) + a JSON sidecar.

A checkpoint is a pair ``<name>.safetensors`` / ``<name>.json``. The sidecar records the recipe
hash, the stage, the epoch, the batch step within the epoch (0 at epoch boundaries), which layers
live in the Winograd domain, and the non-tensor optimizer state. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1
_NAME = re.compile(r"^stage([+-]\d{3})-epoch(\d{4})-step(\d{7})$")


@dataclass
class CheckpointMeta:
    """The JSON sidecar of a checkpoint."""

    recipe_sha256: str
    stage: int
    epoch: int  # epochs completed in this stage
    step: int = 0  # batches completed in the epoch after ``epoch`` (non-zero only when stopped)
    tile: str = "F(4,3)"
    recipe: dict[str, Any] = field(default_factory=dict)  # the canonical recipe, for inspection
    stage_done: bool = False
    winograd_layers: list[str] = field(default_factory=list)
    optimizer: dict[str, Any] = field(default_factory=dict)  # param_groups etc. (JSON)
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.stage, self.epoch, self.step)


def checkpoint_name(stage: int, epoch: int, step: int = 0) -> str:
    return f"stage{stage:+04d}-epoch{epoch:04d}-step{step:07d}"


def save_checkpoint(
    directory: Path, meta: CheckpointMeta, tensors: dict[str, torch.Tensor]
) -> Path:
    """Write tensors and sidecar atomically (temp file + rename); returns the .safetensors path."""
    directory.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(meta.stage, meta.epoch, meta.step)
    path = directory / f"{name}.safetensors"
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(flat, str(tmp), metadata={"recipe_sha256": meta.recipe_sha256})
    os.replace(tmp, path)
    side = directory / f"{name}.json"
    tmp_side = side.with_suffix(".json.tmp")
    tmp_side.write_text(json.dumps(asdict(meta), indent=1, sort_keys=True))
    os.replace(tmp_side, side)  # the sidecar is written last: its presence marks completeness
    return path


def read_meta(sidecar: Path) -> CheckpointMeta:
    data = json.loads(sidecar.read_text())
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"checkpoint: {sidecar} has an unknown format version")
    return CheckpointMeta(**data)


def list_checkpoints(directory: Path) -> list[tuple[CheckpointMeta, Path]]:
    """Complete checkpoints in ``directory``, oldest first."""
    found = []
    if not directory.is_dir():
        return []
    for side in directory.glob("stage*-epoch*-step*.json"):
        if not _NAME.match(side.stem):
            continue
        weights = side.with_suffix(".safetensors")
        if weights.exists():
            found.append((read_meta(side), weights))
    return sorted(found, key=lambda item: item[0].position)


def latest_checkpoint(directory: Path, recipe_sha256: str) -> tuple[CheckpointMeta, Path] | None:
    """The newest complete checkpoint of this recipe, or None.

    Raises ValueError when the directory holds checkpoints of a different recipe, so that a
    changed recipe is never silently resumed from another job's weights.
    """
    items = list_checkpoints(directory)
    if not items:
        return None
    meta, path = items[-1]
    if meta.recipe_sha256 != recipe_sha256:
        raise ValueError(
            f"out: {directory} holds checkpoints of another recipe "
            f"(sha256 {meta.recipe_sha256[:12]}, this one {recipe_sha256[:12]}); "
            "use a new output directory"
        )
    return meta, path


def load_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    return load_file(str(path), device=str(device))


def prune_old(directory: Path, keep_latest: int = 1) -> None:
    """Delete epoch checkpoints that are neither a stage's final one nor among the latest."""
    items = list_checkpoints(directory)
    latest = {p for _, p in items[-keep_latest:]}
    for meta, path in items:
        if meta.stage_done or path in latest:
            continue
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)


def pack_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into safetensors tensors and JSON-safe rest."""
    state = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unpack_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], packed: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, entry in packed.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    opt.load_state_dict({"state": state, "param_groups": packed["param_groups"]})
