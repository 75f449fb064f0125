"""Choices of the new-run form, read from the recipe schema (one source of truth)."""

from __future__ import annotations

from typing import Any, get_args

from winoprune.models import model_names
from winoprune.recipes import DataSpec, Method, OptimizerSpec, StageType

TILES = ("F(2,3)", "F(4,3)", "F(6,3)")
DEVICES = ("auto", "cpu", "cuda")
METHOD_LABELS = {
    "spatial-winograd": "spatial-Winograd (Yu et al.)",
    "native-winograd": "native Winograd (Li et al.)",
    "spatial-structured": "spatial baseline: structured",
    "spatial-unstructured": "spatial baseline: unstructured",
    "winograd-relu": "Winograd-domain ReLU (Liu et al.; -wrelu models)",
    "dense": "dense (no pruning)",
}
# recipe ``layers.dwm`` (a bool; the form's select sends "true"/"false")
DWM_CHOICES = (
    ("false", "off: 3x3 stride 1 only"),
    ("true", "on: every conv"),
)


def _literal_choices(annotation: Any) -> list[str]:
    """The values of a Literal annotation (or of the Literal inside an Optional)."""
    values = get_args(annotation)
    if values and all(isinstance(v, str) for v in values):
        return list(values)
    return [v for arg in values for v in _literal_choices(arg)]


def form_options() -> dict[str, Any]:
    """Select options: models, data sets, tiles, methods, stage types, optimizers, devices,
    DWM layers on or off."""
    return {
        "models": model_names(),
        "datasets": _literal_choices(DataSpec.model_fields["name"].annotation),
        "tiles": list(TILES),
        "methods": [(m, METHOD_LABELS.get(m, m)) for m in get_args(Method)],
        "stage_types": list(get_args(StageType)),
        "optimizers": _literal_choices(OptimizerSpec.model_fields["name"].annotation),
        "devices": list(DEVICES),
        "dwm": list(DWM_CHOICES),
    }
