"""Per-position zero fractions of a run's checkpoint (the a x a maps the UI draws beside F_hat).

Computed on request from the stage's latest checkpoint file (safetensors, never unpickled):
for a Winograd layer the fraction of (k, c) pairs with Q_ij == 0, for a spatial 3x3 layer the
same on G W G^T (exact zeros of masked spatial weights survive the transform).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from sqlalchemy.orm import Session

from server.artifacts.service import list_artifacts
from server.config import Settings
from server.db.models import Artifact
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.transforms import standard_transform


class NoCheckpoint(LookupError):
    """The run has no checkpoint for the requested stage (yet)."""


def latest_checkpoint(session: Session, run_id: int, stage: int | None) -> Artifact:
    """The run's newest checkpoint, of ``stage`` when given."""
    rows = list_artifacts(session, run_id=run_id, kind="checkpoint")  # newest first
    if stage is not None:
        rows = [a for a in rows if (a.meta or {}).get("stage") == stage]
    if not rows:
        raise NoCheckpoint(f"stage: no checkpoint for stage {stage} yet")
    return rows[0]


def zero_maps(path: Path) -> tuple[dict[str, Any], dict[str, list[list[float]]]]:
    """(sidecar, {layer: (a, a) fraction of zeros}) of a checkpoint written by the pipeline."""
    sidecar = json.loads(path.with_suffix(".json").read_text())
    tf = standard_transform(sidecar.get("tile", "F(4,3)"))
    maps: dict[str, list[list[float]]] = {}
    for key, tensor in load_file(str(path)).items():
        if not (key.startswith("model.") and key.endswith(".weight") and tensor.dim() == 4):
            continue
        size = tuple(tensor.shape[-2:])
        if size == (tf.r, tf.r):
            q = to_winograd(tensor.float(), tf)
        elif size == (tf.alpha, tf.alpha):
            q = tensor
        else:
            continue
        zeros = (q == 0).to(torch.float64).mean(dim=(0, 1))
        maps[key[len("model.") : -len(".weight")]] = zeros.tolist()
    return sidecar, maps


def run_patterns(
    session: Session, settings: Settings, run_id: int, stage: int | None, layer: str | None
) -> dict[str, Any]:
    artifact = latest_checkpoint(session, run_id, stage)
    path = (settings.artifacts_dir / artifact.path).resolve()
    if not path.is_file():
        raise NoCheckpoint("stage: the checkpoint file is not available on this server")
    sidecar, maps = zero_maps(path)
    body: dict[str, Any] = {
        "run_id": run_id,
        "stage": sidecar.get("stage"),
        "epoch": sidecar.get("epoch"),
        "tile": sidecar.get("tile"),
    }
    if layer is None:
        return {**body, "layers": maps}
    if layer not in maps:
        raise NoCheckpoint(f"layer: {layer!r} is not a Winograd-eligible layer of this run")
    return {**body, "layer": layer, "zeros": maps[layer]}
