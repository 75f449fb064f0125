"""LayerPolicy: which convs are pruned and with which target."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from winoprune.pruning.policy import LayerPolicy
from winoprune.winograd.layers import convert_model


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1),  # block.0
            nn.Conv2d(8, 8, 3, stride=2, padding=1),  # block.1: stride 2, never pruned
            nn.Conv2d(8, 8, 1),  # block.2: 1x1, never pruned
            nn.Conv2d(8, 8, 3, padding=1),  # block.3
        )
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)).mean(dim=(2, 3)))


def test_default_holds_the_first_layer_at_20_percent_and_skips_ineligible_convs():
    targets = LayerPolicy().layer_targets(Net(), 0.6)
    assert targets == {"stem": 0.2, "block.0": 0.6, "block.3": 0.6}


def test_first_layer_dense_or_pruned_like_the_others():
    assert LayerPolicy(first_layer="dense").layer_targets(Net(), 0.6) == {
        "block.0": 0.6,
        "block.3": 0.6,
    }
    assert LayerPolicy(first_layer="prune").layer_targets(Net(), 0.6)["stem"] == 0.6
    assert LayerPolicy(first_layer_sparsity=0.1).layer_targets(Net(), 0.6)["stem"] == 0.1


def test_overrides_include_and_exclude_by_pattern():
    policy = LayerPolicy(overrides={"block.3": 0.75, "stem": 0.3}, exclude=["block.0"])
    assert policy.layer_targets(Net(), 0.5) == {"stem": 0.3, "block.3": 0.75}
    only_block = LayerPolicy(include=["block.*"], first_layer="prune")
    assert only_block.layer_targets(Net(), 0.5) == {"block.0": 0.5, "block.3": 0.5}
    # an override cannot make an ineligible conv prunable
    assert "block.1" not in LayerPolicy(overrides={"block.*": 0.5}).layer_targets(Net(), 0.4)


def test_same_targets_after_conversion_to_winograd_layers():
    net = Net()
    before = LayerPolicy().layer_targets(net, 0.5)
    convert_model(net, m=4)
    assert LayerPolicy().layer_targets(net, 0.5) == before
    assert LayerPolicy(kernel_sizes=(5,)).layer_targets(net, 0.5) == {}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"first_layer": "sometimes"}, "first_layer"),
        ({"first_layer_sparsity": 1.5}, "first_layer_sparsity"),
        ({"overrides": {"stem": -0.1}}, r"overrides\['stem'\]"),
        ({"exclude": "stem"}, "exclude"),
        ({"kernel_sizes": (1,)}, "kernel_sizes"),
    ],
)
def test_invalid_settings_name_the_field(kwargs, field):
    with pytest.raises((ValueError, TypeError), match=rf"^{field}:"):
        LayerPolicy(**kwargs)


def test_stage_target_is_validated():
    with pytest.raises(ValueError, match=r"^stage_target:"):
        LayerPolicy().layer_targets(Net(), 1.0)
