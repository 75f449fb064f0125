"""Per-layer statistics of a saved checkpoint (the `winoprune inspect` table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from winoprune.models import build_model, default_input_shape
from winoprune.pruning.metrics import layer_stats
from winoprune.recipes import Recipe, parse_recipe
from winoprune.training import checkpoints as ckpt
from winoprune.winograd.layers import convert_model
from winoprune.winograd.transforms import WinogradTransform, standard_transform


def format_reduction(value: float | None) -> str:
    """A multiplication reduction as "4.00x"; "-" where there is none (no Winograd form)."""
    return "-" if value is None else f"{value:.2f}x"


def inspect_checkpoint(path: Path) -> list[dict[str, Any]]:
    """Rows of (layer, shape, spatial and Winograd sparsity, multiplications per image, and the
    multiplication reduction versus direct convolution, direct / sparse Winograd).

    The model is rebuilt from the recipe stored in the checkpoint's JSON sidecar, so only
    checkpoints written by winoprune can be inspected; nothing is unpickled.
    """
    path = Path(path)
    if path.is_dir():  # an export folder (`winoprune export`)
        from winoprune.cli.export import inspect_export

        return inspect_export(path)
    model, recipe, tf = load_checkpoint_model(path)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    rows = layer_stats(model, default_input_shape(recipe.model.name), tf, dwm=recipe.layers.dwm)
    by_layer: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_layer.setdefault(
            row.layer,
            {
                "layer": row.layer,
                "shape": "x".join(map(str, shapes.get(f"{row.layer}.weight", ()))),
                "spatial": "-",
                "Winograd": "-",
                "mult direct": row.mult_direct,
                "mult dense W": row.mult_winograd_dense or "-",
                "mult sparse W": row.mult_winograd_sparse or "-",
                "reduction vs direct": format_reduction(row.mult_reduction),
            },
        )
        entry["spatial" if row.domain == "spatial" else "Winograd"] = f"{row.sparsity:.2%}"
        # the way the layer runs (its winograd row where it has one): pruning.operations
        entry["additions"] = "-" if row.additions is None else row.additions
        entry["energy nJ"] = "-" if row.energy_pj is None else f"{row.energy_pj / 1e3:.1f}"
    return list(by_layer.values())


def load_checkpoint_model(path: Path) -> tuple[nn.Module, Recipe, WinogradTransform]:
    """(model with the checkpoint's weights, its recipe, its tile) of a winoprune checkpoint,
    rebuilt from the recipe in the JSON sidecar; nothing is unpickled."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"checkpoint: {path} is not a .safetensors file")
    sidecar = path.with_suffix(".json")
    if not path.exists() or not sidecar.exists():
        raise FileNotFoundError(f"checkpoint: {path} or its sidecar {sidecar.name} is missing")
    meta = ckpt.read_meta(sidecar)
    recipe = parse_recipe(meta.recipe)
    tf = standard_transform(meta.tile)
    model = build_model(
        recipe.model.name, recipe.model.width, recipe.model.num_classes, **recipe.model_options()
    )
    if meta.winograd_layers:
        dwm = recipe.layers.dwm
        convert_model(model, m=tf.m, include=meta.winograd_layers, transform=tf, dwm=dwm)
    tensors = ckpt.load_tensors(path)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    return model, recipe, tf
