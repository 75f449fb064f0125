"""Per-position zero fractions of a run's checkpoint (the a x a maps the UI draws beside F_hat).

Computed on request from the stage's latest checkpoint file (safetensors, never unpickled):
for a Winograd layer the fraction of (k, c) pairs with Q_ij == 0, for a spatial 3x3 layer the
same on G W G^T (exact zeros of masked spatial weights survive the transform). In a DWM run
(recipe ``layers.dwm``) every conv that is a DWM layer gives its packed (1, P) row and, under
``pieces``, one a1 x a2 map per piece labelled with its kernel size, offset and phase; the
layers' kernels and strides come from the run's model, built on the meta device.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from sqlalchemy.orm import Session
from torch import nn

from server.artifacts.service import list_artifacts
from server.config import Settings
from server.db.models import Artifact
from winoprune.models import build_model
from winoprune.pruning.zero_maps import PieceMap, dwm_weight_zero_maps
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import uses_dwm
from winoprune.winograd.transforms import standard_transform

Geometry = dict[str, tuple[tuple[int, int], tuple[int, int]]]


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


@lru_cache(maxsize=32)
def dwm_geometry(name: str, width: float) -> Geometry:
    """{conv name: (kernel, stride)} of the model's convs that a DWM run makes DWM layers."""
    with torch.device("meta"):
        model = build_model(name, width)
    return {
        n: ((m.kernel_size[0], m.kernel_size[1]), (m.stride[0], m.stride[1]))
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and uses_dwm(m)
    }


def _run_geometry(recipe: dict[str, Any]) -> Geometry:
    if not (recipe.get("layers") or {}).get("dwm"):
        return {}
    model = recipe.get("model") or {}
    try:
        return dwm_geometry(str(model.get("name")), float(model.get("width", 1.0)))
    except (KeyError, TypeError, ValueError):  # a model this server no longer knows
        return {}


def zero_maps(path: Path) -> tuple[dict[str, Any], dict[str, list[list[float]]]]:
    """(sidecar, {layer: (a, a) fraction of zeros}) of a checkpoint written by the pipeline."""
    sidecar, maps, _ = zero_maps_and_pieces(path)
    return sidecar, maps


def zero_maps_and_pieces(
    path: Path,
) -> tuple[dict[str, Any], dict[str, list[list[float]]], dict[str, list[PieceMap]]]:
    """``zero_maps`` plus {DWM layer: its piece maps} (empty unless the run uses DWM)."""
    sidecar = json.loads(path.with_suffix(".json").read_text())
    tf = standard_transform(sidecar.get("tile", "F(4,3)"))
    dwm = _run_geometry(sidecar.get("recipe") or {})
    maps: dict[str, list[list[float]]] = {}
    pieces: dict[str, list[PieceMap]] = {}
    for key, tensor in load_file(str(path)).items():
        if not (key.startswith("model.") and key.endswith(".weight")):
            continue
        name = key[len("model.") : -len(".weight")]
        if name in dwm and tensor.dim() in (3, 4):
            maps[name], pieces[name] = dwm_weight_zero_maps(tensor.float(), *dwm[name])
            continue
        if tensor.dim() != 4:
            continue
        size = tuple(tensor.shape[-2:])
        if size == (tf.r, tf.r):
            q = to_winograd(tensor.float(), tf)
        elif size == (tf.alpha, tf.alpha):
            q = tensor
        else:
            continue
        zeros = (q == 0).to(torch.float64).mean(dim=(0, 1))
        maps[name] = zeros.tolist()
    return sidecar, maps, pieces


def run_patterns(
    session: Session, settings: Settings, run_id: int, stage: int | None, layer: str | None
) -> dict[str, Any]:
    artifact = latest_checkpoint(session, run_id, stage)
    path = (settings.artifacts_dir / artifact.path).resolve()
    if not path.is_file():
        raise NoCheckpoint("stage: the checkpoint file is not available on this server")
    sidecar, maps, pieces = zero_maps_and_pieces(path)
    body: dict[str, Any] = {
        "run_id": run_id,
        "stage": sidecar.get("stage"),
        "epoch": sidecar.get("epoch"),
        "tile": sidecar.get("tile"),
    }
    if layer is None:
        return {**body, "layers": maps, "pieces": pieces}
    if layer not in maps:
        raise NoCheckpoint(f"layer: {layer!r} is not a Winograd-eligible layer of this run")
    return {**body, "layer": layer, "zeros": maps[layer], "pieces": pieces.get(layer)}
