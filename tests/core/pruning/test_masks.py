"""Mask invariants: pruned weights stay exactly zero through SGD with momentum and weight decay."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from winoprune.pruning.masks import MaskSet, masks_from_zeros, winograd_masks
from winoprune.pruning.spatial import prune_spatial_structured
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.layers import WinogradConv2d, convert_model
from winoprune.winograd.transforms import standard_transform

TF = standard_transform("F(4,3)")


def tiny_net(winograd: bool) -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    if winograd:
        convert_model(net, m=4)
    return net


def random_masks(net: nn.Module, fraction: float = 0.5) -> MaskSet:
    gen = torch.Generator().manual_seed(1)
    return MaskSet(
        {
            name: torch.rand(p.shape, generator=gen) < fraction
            for name, p in net.named_parameters()
            if name.endswith("weight")
        }
    )


def train_steps(net: nn.Module, steps: int, seen: list[bool], masks: MaskSet) -> None:
    """SGD (momentum 0.9, weight decay) steps; ``seen`` records whether the weights used by each
    forward had all pruned entries at exactly zero."""

    def check(module: nn.Module, args: object) -> None:
        name = next(n for n, m in net.named_modules() if m is module)
        seen.append(bool((module.weight[masks[f"{name}.weight"]] == 0).all()))

    handles = [m.register_forward_pre_hook(check) for m in (net[0], net[2])]
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    x = torch.randn(3, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    for _ in range(steps):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    for handle in handles:
        handle.remove()


@pytest.mark.parametrize("winograd", [False, True])
def test_hooks_keep_pruned_weights_exactly_zero_through_momentum_and_decay(winograd):
    net = tiny_net(winograd)
    masks = random_masks(net)
    handle = masks.install_hooks(net)
    seen: list[bool] = []
    train_steps(net, 5, seen, masks)
    assert len(seen) == 10 and all(seen)
    # without the hooks, momentum and weight decay revive the pruned weights
    handle.remove()
    seen.clear()
    train_steps(net, 2, seen, masks)
    assert not any(seen)


def test_apply_zeroes_only_pruned_entries():
    net = tiny_net(winograd=True)
    before = net[2].weight.detach().clone()
    masks = random_masks(net)
    masks.apply(net)
    mask = masks["2.weight"]
    assert (net[2].weight[mask] == 0).all()
    assert torch.equal(net[2].weight[~mask], before[~mask])


def test_apply_rejects_unknown_names_and_wrong_shapes():
    net = tiny_net(winograd=False)
    with pytest.raises(ValueError, match=r"^masks: 'nope.weight'"):
        MaskSet({"nope.weight": torch.zeros(1, dtype=torch.bool)}).apply(net)
    with pytest.raises(ValueError, match=r"^masks\['0.weight'\]: shape"):
        MaskSet({"0.weight": torch.zeros(4, 2, 6, 6, dtype=torch.bool)}).apply(net)


def test_hook_on_a_module_used_twice_in_one_forward_keeps_backward_working():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    masks = MaskSet({"weight": torch.rand(conv.weight.shape) < 0.5})
    with masks.install_hooks(conv):
        out = conv(conv(torch.randn(1, 2, 5, 5)))
        out.sum().backward()
    assert conv.weight.grad is not None


def test_state_dict_round_trips_through_safetensors(tmp_path):
    masks = random_masks(tiny_net(winograd=True))
    state = masks.state_dict()
    assert all(t.dtype == torch.uint8 for t in state.values())
    save_file(state, tmp_path / "masks.safetensors")
    loaded = MaskSet.from_state_dict(load_file(tmp_path / "masks.safetensors"))
    assert set(loaded) == set(masks)
    assert all(torch.equal(loaded[n], masks[n]) for n in masks)


def test_merge_is_an_elementwise_or():
    a = MaskSet({"x": torch.tensor([True, False, False]), "y": torch.tensor([True])})
    b = MaskSet({"x": torch.tensor([False, True, False]), "z": torch.tensor([False])})
    merged = a.merge(b)
    assert merged["x"].tolist() == [True, True, False]
    assert set(merged) == {"x", "y", "z"}
    with pytest.raises(ValueError, match=r"^masks\['x'\]"):
        a.merge({"x": torch.zeros(2, dtype=torch.bool)})


def test_spatial_masks_convert_to_exact_winograd_zeros():
    net = tiny_net(winograd=False)
    pruning = prune_spatial_structured(net[2].weight, TF, 0.5)
    masks = MaskSet({"2.weight": pruning.mask})
    masks.apply(net)
    expected = to_winograd(net[2].weight.detach(), TF) == 0
    convert_model(net, m=4)
    converted = winograd_masks(net, masks)
    assert isinstance(net[2], WinogradConv2d)
    assert converted["2.weight"].shape == (4, 4, 6, 6)
    assert torch.equal(converted["2.weight"], expected)
    assert expected.float().mean() >= 0.5 - 1e-4
    assert torch.equal(masks_from_zeros(net, ["2"])["2.weight"], expected)
