"""Liu et al.'s Winograd-domain magnitude pruning: exact kept counts, nested masks, zeros that
survive an optimizer step, and the method through ``prune_model``."""

from __future__ import annotations

import pytest
import torch

from winoprune.models import build_model
from winoprune.pruning import LayerPolicy, prune_model
from winoprune.pruning.wrelu import kept_entries, prune_top_magnitude
from winoprune.winograd.relu import WinogradReLUConv2d


def reference_mask(q: torch.Tensor, density: float, old: torch.Tensor | None) -> torch.Tensor:
    """The authors' gen_prune_mask in numpy terms: argsort |Q * old_mask|, zero all but the top
    int(numel * density) (True = pruned here)."""
    values = q.detach().double().flatten().clone()
    if old is not None:
        values[old.flatten()] = 0
    rank = torch.argsort(values.abs(), stable=True)
    keep = int(values.numel() * density + 1e-9)
    mask = torch.ones(values.numel(), dtype=torch.bool)
    mask[rank[values.numel() - keep :]] = False
    return mask.view(q.shape)


@pytest.mark.parametrize("target", [0.0, 0.3, 0.5, 0.9, 0.99])
def test_keeps_exactly_int_numel_times_density(target):
    torch.manual_seed(0)
    q = torch.randn(6, 5, 4, 4)
    result = prune_top_magnitude(q, target)
    kept = int((~result.mask).sum())
    assert kept == int(q.numel() * (1 - target) + 1e-9) == kept_entries(q.numel(), target)
    assert torch.equal(result.mask, reference_mask(q, 1 - target, None))
    assert result.sparsity == pytest.approx(1 - kept / q.numel())
    if 0 < kept < q.numel():  # the largest magnitudes survive
        assert q.abs()[~result.mask].min() >= q.abs()[result.mask].max()


def test_masks_are_nested_and_computed_on_q_times_the_old_mask():
    torch.manual_seed(1)
    q = torch.randn(4, 3, 6, 6)
    first = prune_top_magnitude(q, 0.4)
    grown = q.clone()
    grown[first.mask] = 100.0  # pruned entries that training moved: they stay pruned
    second = prune_top_magnitude(grown, 0.7, first.mask)
    assert torch.all(second.mask[first.mask])  # a superset of the old mask
    assert int((~second.mask).sum()) == kept_entries(q.numel(), 0.7)
    assert torch.equal(second.mask, reference_mask(grown, 0.3, first.mask))
    # an old mask larger than the new target is kept as it is (masks never shrink back)
    again = prune_top_magnitude(q, 0.2, second.mask)
    assert torch.equal(again.mask, second.mask)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="weight: expected Winograd weights"):
        prune_top_magnitude(torch.randn(4, 4), 0.5)
    with pytest.raises(ValueError, match="previous: mask shape"):
        prune_top_magnitude(torch.randn(2, 2, 4, 4), 0.5, torch.zeros(2, 2, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="target: must be in"):
        kept_entries(10, 1.0)


def test_prune_model_prunes_every_winograd_relu_layer_to_the_same_density():
    torch.manual_seed(2)
    model = build_model("vgg-nagadomi-wrelu", width=0.125)
    policy = LayerPolicy(first_layer="prune")
    masks, results = prune_model(model, "winograd-relu", 0.6, policy)
    layers = {n: m for n, m in model.named_modules() if isinstance(m, WinogradReLUConv2d)}
    assert set(results) == set(layers)
    for name, layer in layers.items():
        assert int((layer.weight != 0).sum()) == kept_entries(layer.weight.numel(), 0.6)
        assert results[name].sparsity == pytest.approx(
            1 - kept_entries(layer.weight.numel(), 0.6) / layer.weight.numel()
        )
    # masked entries stay exactly zero across an SGD step with momentum and weight decay
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model(torch.randn(4, 3, 32, 32)).logsumexp(1).sum().backward()
    optimizer.step()
    masks.apply(model)
    for name, layer in layers.items():
        assert torch.all(layer.weight[masks[f"{name}.weight"]] == 0)
    # the next stage nests: previous masks are kept
    bigger, _ = prune_model(model, "winograd-relu", 0.8, policy, masks=masks)
    for key, mask in masks.items():
        assert torch.all(bigger[key][mask])


def test_the_method_needs_winograd_layers():
    model = build_model("vgg-nagadomi", width=0.125)
    with pytest.raises(TypeError, match="method 'winograd-relu' needs WinogradConv2d"):
        prune_model(model, "winograd-relu", 0.5)
