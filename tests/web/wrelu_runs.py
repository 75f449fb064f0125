"""A Winograd-ReLU run with the core's own numbers for the web tests: the digits Winograd-ReLU
model counted on digits test images, dense (stage -1) and magnitude-pruned to 50 % (stage 0),
its layer rows and epoch summaries written with the server's progress helpers."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import yaml

from server.runs import progress
from tests.web.conftest import WebEnv
from winoprune.data import build_datasets
from winoprune.models import build_model
from winoprune.pruning.activations import count_activations, with_activation_stats
from winoprune.pruning.metrics import layer_stats, summary
from winoprune.pruning.wrelu import prune_top_magnitude
from winoprune.recipes import Recipe
from winoprune.winograd.relu import WinogradReLUConv2d
from winoprune.winograd.transforms import standard_transform

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "digits-wrelu.yaml"
PRUNED = 0.5


def wrelu_recipe() -> dict[str, Any]:
    """The shipped digits Winograd-ReLU recipe (validated)."""
    raw = yaml.safe_load(RECIPE.read_text())
    Recipe.model_validate(raw)
    return dict(raw)


def _epoch(model: torch.nn.Module, images: torch.Tensor, tile: str) -> tuple[list[Any], Any]:
    with count_activations(model) as counts, torch.no_grad():
        model(images)
    rows = layer_stats(model, model.input_shape, standard_transform(tile))
    rows = with_activation_stats(rows, model, counts)
    return rows, summary(rows, [r.layer for r in rows if r.domain == "winograd"])


def record_wrelu_run(web_env: WebEnv, user: Any, project: int) -> int:
    """Submit the recipe and store two epochs of real core rows; returns the run id."""
    recipe = wrelu_recipe()
    api = web_env.api_client(user)
    response = api.post("/api/v1/runs", json={"project": project, "recipe": recipe})
    assert response.status_code == 201, response.text
    run_id = int(response.json()["id"])
    torch.manual_seed(0)
    model = build_model("digits-cnn-wrelu", tile=recipe["tile"]).eval()
    _, test, _ = build_datasets(Recipe.model_validate(recipe).data, seed=0)
    images = torch.stack([test[i][0] for i in range(64)])
    with web_env.session() as session:
        progress.claim_run(session, run_id, "w")
        for stage in (-1, 0):
            if stage == 0:
                for layer in model.modules():
                    if isinstance(layer, WinogradReLUConv2d):
                        mask = prune_top_magnitude(layer.weight, PRUNED).mask
                        layer.weight.data[mask] = 0.0
            rows, totals = _epoch(model, images, recipe["tile"])
            progress.record_layer_stats(session, run_id, stage, 0, [asdict(r) for r in rows])
            values = {k: v for k, v in asdict(totals).items() if v is not None}
            progress.record_metrics(session, run_id, stage, 0, {"top1": 0.9, **values})
    return run_id
