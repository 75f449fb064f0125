"""Deployable exports of pruned models: ``model.safetensors`` + ``manifest.json`` in a folder.

The manifest (JSON, ``format`` "winoprune-export", ``version`` 1) records the architecture (the
op chain of ``graph.trace_ops``), the tile and its interpolation points, the input shape, each
layer's shapes, storage layout, nonzeros and sparsity, every tensor's shape and dtype, and the
sha256 of the weights file. Winograd weights are stored compressed per position
(``storage.encode``); batch norm is folded into the convs. Loading reads JSON and safetensors
only (nothing is unpickled) and checks the hash, the tensor list and every index array, so a
corrupted or mismatched export raises ValueError naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from winoprune.runtime import storage
from winoprune.runtime.graph import trace_ops
from winoprune.runtime.model import SparseModel
from winoprune.winograd.transforms import WinogradTransform, cook_toom

FORMAT = "winoprune-export"
VERSION = 1
WEIGHTS, MANIFEST, SPEED = "model.safetensors", "manifest.json", "speed.json"
# the export is checked against the model on a random input; a wrong op chain is off by O(1)
CHECK_RTOL = 1e-2


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flatten(ops: list[dict[str, Any]], raw: dict[str, dict], tf: WinogradTransform):
    tensors: dict[str, torch.Tensor] = {}
    zeros = 0
    for op in ops:
        if "name" not in op:
            continue
        name, ts = op["name"], raw[op["name"]]
        if ts.get("bias") is not None:
            tensors[f"{name}.bias"] = ts["bias"].float()
        if op["op"] == "winograd_conv":
            q = ts["q"].float()
            layout, parts = storage.encode(q)
            tensors.update({f"{name}.q.{key}": value for key, value in parts.items()})
            nnz = int((q != 0).sum())
            zeros += q.numel() - nnz
            op.update(storage=layout, nnz=nnz, numel=q.numel(), sparsity=1 - nnz / q.numel())
            op["shape"] = [*q.shape]
        else:
            tensors[f"{name}.weight"] = ts["weight"].float()
            op["shape"] = [*ts["weight"].shape]
        op["bias"] = ts.get("bias") is not None
    return tensors, zeros


def export_model(
    model: nn.Module,
    tf: WinogradTransform,
    out: Path,
    input_shape: tuple[int, int, int],
    info: dict[str, Any] | None = None,
    *,
    require_pruned: bool = True,
) -> dict[str, Any]:
    """Write ``model`` (a plain chain; eval mode is used) to the folder ``out``; returns the
    manifest. ValueError when ``require_pruned`` and no Winograd weight is zero, or when the
    export's output differs from the model's on a random input (an unsupported forward)."""
    was_training = model.training
    model.eval()
    try:
        ops, raw = trace_ops(model, tf)
        tensors, zeros = _flatten(ops, raw, tf)
        if not any(op["op"] == "winograd_conv" for op in ops):
            raise ValueError("model: has no Winograd-eligible conv layer to export")
        if require_pruned and zeros == 0:
            raise ValueError(
                "checkpoint: the model is not pruned (its Winograd-domain weights have no zeros);"
                " export writes pruned models only"
            )
        x = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = model(x)
        got = SparseModel(ops, _unflatten(ops, tensors, tf), tf)(x)
    finally:
        model.train(was_training)
    if got.shape != expected.shape or not torch.allclose(
        got, expected, rtol=CHECK_RTOL, atol=CHECK_RTOL * float(expected.abs().max())
    ):
        raise ValueError(
            "model: the export's output differs from the model's; only plain chains of "
            "conv/bn/relu/pool/linear layers run in registration order can be exported"
        )
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / WEIGHTS), metadata={"format": FORMAT})
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "tile": tf.name,
        "m": tf.m,
        "r": tf.r,
        "points": tf.point_labels(),
        "input_shape": list(input_shape),
        "ops": ops,
        "tensors": {k: {"shape": [*v.shape], "dtype": str(v.dtype)} for k, v in tensors.items()},
        "weights_sha256": sha256_file(out / WEIGHTS),
        "info": info or {},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _unflatten(ops: list[dict[str, Any]], tensors: dict[str, torch.Tensor], tf: WinogradTransform):
    raw: dict[str, dict[str, torch.Tensor]] = {}
    a = tf.alpha
    for op in ops:
        if "name" not in op:
            continue
        name = op["name"]
        entry: dict[str, torch.Tensor] = {}
        if op.get("bias"):
            entry["bias"] = tensors[f"{name}.bias"]
        if op["op"] == "winograd_conv":
            k, c = op["out_channels"], op["in_channels"]
            parts = {key: tensors[f"{name}.q.{key}"] for key in ("rowptr", "col", "values")}
            entry["q"] = storage.decode(op["storage"], parts, k, c, a, f"export: layer {name!r}")
        else:
            entry["weight"] = tensors[f"{name}.weight"]
        raw[name] = entry
    return raw


def read_manifest(folder: Path) -> dict[str, Any]:
    """The checked manifest of an export folder; ValueError/FileNotFoundError naming the file."""
    path = Path(folder) / MANIFEST
    if not path.is_file() or not (Path(folder) / WEIGHTS).is_file():
        raise FileNotFoundError(f"export: {folder} has no {MANIFEST} and {WEIGHTS}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"export: {path} is not valid JSON ({exc.msg})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"export: {path} is not a winoprune export manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"export: manifest version {manifest.get('version')!r} is not {VERSION}")
    for key in ("tile", "m", "r", "points", "input_shape", "ops", "tensors", "weights_sha256"):
        if key not in manifest:
            raise ValueError(f"export: manifest field {key!r} is missing")
    return manifest


def load_export(folder: Path, strategy: str | None = None) -> tuple[SparseModel, dict[str, Any]]:
    """(runnable model, manifest) of an export folder, after checking hash, tensors and indices."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    digest = sha256_file(folder / WEIGHTS)
    if digest != manifest["weights_sha256"]:
        raise ValueError(
            f"export: {WEIGHTS} sha256 {digest[:12]} does not match the manifest's "
            f"{str(manifest['weights_sha256'])[:12]} (corrupted, or from another export)"
        )
    tensors = load_file(str(folder / WEIGHTS))
    expected = manifest["tensors"]
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise ValueError(
            f"export: tensors differ from the manifest: missing {missing}, extra {extra}"
        )
    for key, spec in expected.items():
        if [*tensors[key].shape] != spec["shape"] or str(tensors[key].dtype) != spec["dtype"]:
            raise ValueError(
                f"export: tensor {key!r} is {tuple(tensors[key].shape)} {tensors[key].dtype}, the "
                f"manifest says {tuple(spec['shape'])} {spec['dtype']}"
            )
    tf = cook_toom(int(manifest["m"]), int(manifest["r"]), manifest["points"])
    if tf.name != manifest["tile"]:
        raise ValueError(f"export: tile {manifest['tile']!r} does not match m and r")
    ops = manifest["ops"]
    for op in ops:
        if op.get("op") == "winograd_conv" and [*op.get("shape", [])][2:] != [tf.alpha] * 2:
            raise ValueError(f"export: layer {op.get('name')!r} does not fit the tile {tf.name}")
    return SparseModel(ops, _unflatten(ops, tensors, tf), tf, strategy), manifest
