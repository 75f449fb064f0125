"""Recipe rules of Winograd-domain ReLU (Liu et al. 2018): which models, methods and options go
together (``rules`` calls them; the same (path, message) form)."""

from __future__ import annotations

from typing import Any

from winoprune.models import MODELS
from winoprune.models.wrelu import KERNEL

Rules = list[tuple[str, str]]
WRELU_METHODS = ("winograd-relu", "dense")
MODEL_OPTION_FIELDS = ("input_layer", "q_init")


def model_option_rules(model: Any) -> Rules:
    """input_layer and q_init belong to the models that take them (the Winograd-ReLU ones)."""
    entry = MODELS.get(model.name)
    if entry is None:
        return []  # the name's own validator reports it
    return [
        (key, f"only for Winograd-ReLU models (e.g. vgg-nagadomi-wrelu), not {model.name}")
        for key in MODEL_OPTION_FIELDS
        if getattr(model, key) is not None and key not in entry.options
    ]


def winograd_relu_rules(recipe: Any) -> Rules:
    """Method winograd-relu needs a Winograd-ReLU model and such a model trains only with it (or
    dense); its tile has r = 3; a spatial first layer stays dense; no DWM layers."""
    entry = MODELS[recipe.model.name]
    wrelu = sorted(name for name, e in MODELS.items() if e.winograd_relu)
    rules: Rules = []
    if recipe.method == "winograd-relu" and not entry.winograd_relu:
        rules.append(
            (
                "model.name",
                f"method winograd-relu needs a Winograd-ReLU model ({', '.join(wrelu)}), "
                f"got {recipe.model.name}",
            )
        )
    if not entry.winograd_relu:
        return rules
    if recipe.method not in WRELU_METHODS:
        rules.append(
            (
                "method",
                f"{recipe.model.name} has Winograd-ReLU layers: method winograd-relu or dense, "
                f"got {recipe.method}",
            )
        )
    if (tf := recipe.transform()).r != KERNEL:
        rules.append(("tile", f"Winograd-ReLU layers are 3x3 convs: F(m,3), got {tf.name}"))
    if recipe.model.input_layer == "spatial" and recipe.layers.first_layer != "dense":
        rules.append(
            (
                "layers.first_layer",
                "must be dense with model.input_layer spatial (that conv is not a Winograd layer "
                "and, as in Liu et al.'s code, not pruned)",
            )
        )
    if getattr(recipe.layers, "dwm", False):
        rules.append(("layers.dwm", "not for Winograd-ReLU models (their layers are built in)"))
    return rules
