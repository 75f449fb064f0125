"""Checking uploaded weights: safetensors only (never unpickled), names and shapes of a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import safe_open

from server.errors import ApiError

# Counters, not weights: a checkpoint may leave them out.
OPTIONAL_SUFFIXES = ("num_batches_tracked",)
MAX_LISTED = 5
FORM_FIELDS = {
    "model.name": "model",
    "model.width": "width",
    "model.num_classes": "num_classes",
    "model.input_layer": "input_layer",
    "model.tile": "tile",
    "tile": "tile",
    "input_layer": "input_layer",
}
# build options that change a model's tensors (a Winograd-ReLU model's Q is (K, C, a, a) and its
# first layer a Winograd or a spatial conv); q_init changes only values
SHAPE_OPTIONS = ("tile", "input_layer")


def _reject(message: str, field: str = "file") -> ApiError:
    return ApiError(422, f"{field}: {message}", field=field)


def read_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors file's header (safetensors' own parser)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # the parser raises its own error types on malformed input
        raise _reject(f"not a valid safetensors file ({type(exc).__name__})") from None


def build_options(model: str, tile: str | None, input_layer: str | None) -> dict[str, str]:
    """The shape-changing ``build_model`` options of ``model`` as a recipe passes them
    (``Recipe.model_options``): the tile (default: the recipe's default tile) and the input
    layer, for the models that take them (Winograd-ReLU models); others take none."""
    from winoprune.models import MODELS
    from winoprune.recipes import Recipe

    entry = MODELS.get(model)
    accepted = entry.options if entry is not None else ()
    if input_layer is not None and "input_layer" not in accepted:
        raise _reject(f"only for Winograd-ReLU models, not {model!r}", field="input_layer")
    values = {"tile": tile or str(Recipe.model_fields["tile"].default), "input_layer": input_layer}
    return {k: v for k, v in values.items() if k in accepted and k in SHAPE_OPTIONS and v}


def expected_shapes(
    model: str, width: float, num_classes: int | None, options: dict[str, str] | None = None
) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer names and shapes of the registered model (built with ``options``,
    see ``build_options``)."""
    import torch

    from winoprune.models import build_model

    keywords: dict[str, Any] = dict(options or {})
    try:
        # Meta tensors: shapes without allocating (or initialising) the weights.
        with torch.device("meta"):
            network = build_model(model, width=width, num_classes=num_classes, **keywords)
    except ValueError as exc:
        prefix = str(exc).split(":", 1)[0]
        raise ApiError(422, str(exc), field=FORM_FIELDS.get(prefix, "model")) from None
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def check_weights(
    path: Path,
    model: str,
    width: float,
    num_classes: int | None,
    options: dict[str, str] | None = None,
) -> int:
    """422 unless the file holds exactly the model's tensors with the right shapes.

    Returns the number of tensors.
    """
    found = read_shapes(path)
    expected = expected_shapes(model, width, num_classes, options)
    required = {k for k in expected if not k.endswith(OPTIONAL_SUFFIXES)}
    missing = sorted(required - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    wrong = sorted(k for k in found.keys() & expected.keys() if found[k] != expected[k])
    if missing:
        raise _reject(f"missing tensors for model {model!r}: {', '.join(missing[:MAX_LISTED])}")
    if unexpected:
        raise _reject(f"tensors not in model {model!r}: {', '.join(unexpected[:MAX_LISTED])}")
    if wrong:
        key = wrong[0]
        built = "".join(f", {k} {v}" for k, v in (options or {}).items())
        raise _reject(
            f"shape of {key} is {list(found[key])}, model {model!r} (width {width}{built}) "
            f"expects {list(expected[key])}"
        )
    return len(found)
