"""Checking uploaded weights: safetensors only (never unpickled), names and shapes of a model."""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open

from server.errors import ApiError

# Counters, not weights: a checkpoint may leave them out.
OPTIONAL_SUFFIXES = ("num_batches_tracked",)
MAX_LISTED = 5
FORM_FIELDS = {"model.name": "model", "model.width": "width", "model.num_classes": "num_classes"}


def _reject(message: str, field: str = "file") -> ApiError:
    return ApiError(422, f"{field}: {message}", field=field)


def read_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors file's header (safetensors' own parser)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # the parser raises its own error types on malformed input
        raise _reject(f"not a valid safetensors file ({type(exc).__name__})") from None


def expected_shapes(
    model: str, width: float, num_classes: int | None
) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer names and shapes of the registered model."""
    import torch

    from winoprune.models import build_model

    try:
        # Meta tensors: shapes without allocating (or initialising) the weights.
        with torch.device("meta"):
            network = build_model(model, width=width, num_classes=num_classes)
    except ValueError as exc:
        prefix = str(exc).split(":", 1)[0]
        raise ApiError(422, str(exc), field=FORM_FIELDS.get(prefix, "model")) from None
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def check_weights(path: Path, model: str, width: float, num_classes: int | None) -> int:
    """422 unless the file holds exactly the model's tensors with the right shapes.

    Returns the number of tensors.
    """
    found = read_shapes(path)
    expected = expected_shapes(model, width, num_classes)
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
        raise _reject(
            f"shape of {key} is {list(found[key])}, model {model!r} (width {width}) "
            f"expects {list(expected[key])}"
        )
    return len(found)
