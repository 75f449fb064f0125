"""Winograd-domain optimizers: the natural (precond-sgd) step equals spatial SGD mapped by G,
the stage's gradient hook per optimizer, Adam cancelling F_hat, and the recipe fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from winoprune.recipes import OptimizerSpec, RecipeError, parse_recipe
from winoprune.training.optim import (
    WinogradPreconditioner,
    gradient_hook,
    natural_preconditioner,
    scaling_note,
)
from winoprune.winograd.functional import to_winograd
from winoprune.winograd.importance import importance_factors
from winoprune.winograd.layers import WinogradConv2d
from winoprune.winograd.transforms import standard_transform

GEN = torch.Generator().manual_seed(7)
X = torch.randn(2, 3, 9, 9, generator=GEN, dtype=torch.float64)
W0 = torch.randn(4, 3, 3, 3, generator=GEN, dtype=torch.float64) * 0.3
TARGET = torch.randn(2, 4, 9, 9, generator=GEN, dtype=torch.float64)


def spatial_sgd_update(w: torch.Tensor, lr: float, weight_decay: float) -> torch.Tensor:
    """dW of one torch SGD step on W, with the loss computed by F.conv2d (the reference)."""
    w = w.clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=lr, weight_decay=weight_decay)
    F.mse_loss(F.conv2d(X, w, padding=1), TARGET).backward()
    before = w.detach().clone()
    opt.step()
    return w.detach() - before


def winograd_layer(tile: str) -> WinogradConv2d:
    tf = standard_transform(tile)
    layer = WinogradConv2d(3, 4, tf, padding=1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(to_winograd(W0, tf))
    return layer


def winograd_sgd_update(layer: WinogradConv2d, lr: float, weight_decay: float, precond: bool):
    opt = torch.optim.SGD(layer.parameters(), lr=lr, weight_decay=weight_decay)
    hook = WinogradPreconditioner(layer).apply if precond else (lambda: None)
    F.mse_loss(layer(X), TARGET).backward()
    before = layer.weight.detach().clone()
    hook()
    opt.step()
    return layer.weight.detach() - before


@pytest.mark.parametrize("tile", ["F(2,3)", "F(4,3)"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_precond_sgd_step_is_spatial_sgd_mapped_into_the_winograd_domain(tile, weight_decay):
    tf = standard_transform(tile)
    lr = 0.1
    d_w = spatial_sgd_update(W0, lr, weight_decay)
    d_q = winograd_sgd_update(winograd_layer(tile), lr, weight_decay, precond=True)
    # Q is linear in W, so the match is exact up to float64 rounding (not only to first order)
    torch.testing.assert_close(d_q, to_winograd(d_w, tf), rtol=1e-9, atol=1e-12)
    # the loss after the step is the spatial model's loss after its step
    layer = winograd_layer(tile)
    with torch.no_grad():
        layer.weight.add_(d_q)
        got = F.mse_loss(layer(X), TARGET)
    want = F.mse_loss(F.conv2d(X, W0 + d_w, padding=1), TARGET)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=0)


def test_plain_sgd_on_q_is_not_the_spatial_step():
    tf = standard_transform("F(4,3)")
    d_w = spatial_sgd_update(W0, 0.1, 0.0)
    d_q = winograd_sgd_update(winograd_layer("F(4,3)"), 0.1, 0.0, precond=False)
    assert not torch.allclose(d_q, to_winograd(d_w, tf), rtol=0.1, atol=0)


def test_natural_preconditioner_is_g_g_transposed():
    tf = standard_transform("F(4,3)")
    p = natural_preconditioner(tf)
    torch.testing.assert_close(p, tf.G @ tf.G.T, rtol=0, atol=0)
    torch.testing.assert_close(p, p.T, rtol=0, atol=0)
    assert p.diag().max() / p.diag().min() > 20  # paper-spec 3: about a 27x spread


def test_undamped_steps_stay_in_the_spatial_image_damped_ones_reach_every_entry():
    tf = standard_transform("F(4,3)")
    p0, p1 = natural_preconditioner(tf), natural_preconditioner(tf, damping=0.2)
    eig0, eig1 = torch.linalg.eigvalsh(p0), torch.linalg.eigvalsh(p1)
    assert int((eig0 > 1e-9).sum()) == 3  # rank r = 3 of alpha = 6 for F(4,3)
    torch.testing.assert_close(eig1, eig0 + 0.2 * eig0.max(), rtol=1e-12, atol=1e-12)
    # a gradient on one surviving entry: the undamped step lands in the 9-dim image of the
    # spatial kernels, so it cannot be the entry itself; the damped one moves that entry
    g = torch.zeros(6, 6, dtype=torch.float64)
    g[2, 3] = 1.0
    step0, step1 = p0 @ g @ p0, p1 @ g @ p1
    image = tf.G @ tf.G.pinverse()  # projector onto range(G): the image is image @ X @ image
    torch.testing.assert_close(image @ step0 @ image, step0, rtol=1e-9, atol=1e-12)
    assert not torch.allclose(image @ step1 @ image, step1, rtol=1e-3, atol=1e-6)
    assert step1[2, 3] > step0[2, 3]


def test_damping_belongs_to_precond_sgd():
    assert OptimizerSpec(name="precond-sgd", lr=0.01, damping=0.3).damping == 0.3
    with pytest.raises(RecipeError) as info:
        parse_recipe(with_stage(1, optimizer={"name": "sgd", "lr": 1e-5, "damping": 0.3}))
    assert "stages.1.optimizer.damping" in [e["loc"] for e in info.value.errors]
    # left out of the canonical recipe while 0, so older recipes keep their sha256
    undamped = parse_recipe(with_stage(1, optimizer={"name": "precond-sgd", "lr": 0.01}))
    assert "damping" not in undamped.canonical_json()


def two_layer_net() -> nn.Sequential:
    torch.manual_seed(0)
    tf = standard_transform("F(4,3)")
    return nn.Sequential(WinogradConv2d(2, 3, tf), nn.ReLU(), WinogradConv2d(3, 2, tf))


def grads_after_hook(net: nn.Module, hook) -> list[torch.Tensor]:
    net.zero_grad(set_to_none=True)
    x = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    net(x).square().mean().backward()
    hook()
    return [p.grad.clone() for p in net.parameters() if p.dim() == 4]


@pytest.mark.parametrize(
    ("stage_type", "optimizer", "exponent", "expected"),
    [
        ("winograd-direct", "sgd", 1.5, "scaled"),
        ("winograd-direct", "precond-sgd", 0.0, "precond"),
        ("native-winograd", "precond-sgd", 0.0, "precond"),
        ("winograd-direct", "adam", 0.0, "raw"),
        ("native-winograd", "sgd", 0.0, "raw"),
        ("dense", "sgd", 0.0, "raw"),
    ],
)
def test_gradient_hook_follows_stage_and_optimizer(stage_type, optimizer, exponent, expected):
    net = two_layer_net()
    raw = grads_after_hook(net, lambda: None)
    got = grads_after_hook(net, gradient_hook(net, stage_type, optimizer, exponent))
    f_hat = importance_factors(standard_transform("F(4,3)")).float()
    p = natural_preconditioner(standard_transform("F(4,3)")).float()
    want = {
        "raw": raw,
        "scaled": [g / f_hat**1.5 for g in raw],
        "precond": [p @ g @ p for g in raw],
    }[expected]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-9)


def test_adam_cancels_a_constant_per_position_gradient_scale():
    net = two_layer_net()
    scaled = copy.deepcopy(net)
    x = torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(2))
    scaler = gradient_hook(scaled, "winograd-direct", "sgd", 1.5)
    for model, hook in ((net, lambda: None), (scaled, scaler)):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
            hook()
            opt.step()
    for a, b in zip(net.parameters(), scaled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_scaling_note_flags_f_hat_scaling_with_adam_only():
    adam = OptimizerSpec(name="adam", lr=1e-4, weight_decay=1e-4)
    assert "cancels" in str(scaling_note("winograd-direct", adam, 1.5))
    assert "L2" in str(scaling_note("winograd-direct", adam, 1.5))
    assert scaling_note("winograd-direct", adam, 0.0) is None
    assert scaling_note("winograd-direct", OptimizerSpec(name="sgd", lr=1e-5), 1.5) is None


BASE: dict[str, Any] = {
    "name": "unit",
    "model": {"name": "digits-cnn"},
    "data": {"name": "digits"},
    "pretrain": {"epochs": 1, "optimizer": {"lr": 0.05}},
    "stages": [
        {"type": "spatial-structured", "target": 0.3, "epochs": 1, "optimizer": {"lr": 0.01}},
        {"type": "winograd-direct", "target": 0.5, "epochs": 1, "optimizer": {"lr": 1e-4}},
    ],
}


def with_stage(index: int, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["stages"][index].update(changes)
    return data


def test_grad_exponent_defaults_follow_the_optimizer():
    sgd = parse_recipe(BASE).stages[1]
    assert sgd.grad_exponent == 1.5
    adam = parse_recipe(with_stage(1, optimizer={"name": "adam", "lr": 1e-4})).stages[1]
    assert adam.grad_exponent is None  # no silent (and cancelled) scaling with Adam
    explicit = with_stage(1, optimizer={"name": "adamw", "lr": 1e-4}, grad_exponent=1.5)
    assert parse_recipe(explicit).stages[1].grad_exponent == 1.5  # allowed; the pipeline logs
    precond = with_stage(1, optimizer={"name": "precond-sgd", "lr": 1e-2, "nesterov": True})
    assert parse_recipe(precond).stages[1].grad_exponent is None


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        (with_stage(0, optimizer={"name": "precond-sgd", "lr": 0.01}), "stages.0.optimizer.name"),
        (
            with_stage(1, optimizer={"name": "precond-sgd", "lr": 0.01}, grad_exponent=1.0),
            "stages.1.grad_exponent",
        ),
        (with_stage(1, optimizer={"name": "lbfgs", "lr": 0.01}), "stages.1.optimizer.name"),
        (
            {**BASE, "pretrain": {"epochs": 1, "optimizer": {"name": "precond-sgd", "lr": 0.1}}},
            "pretrain.optimizer.name",
        ),
    ],
)
def test_optimizer_rules_name_their_field_path(data, loc):
    with pytest.raises(RecipeError) as info:
        parse_recipe(data)
    assert loc in [e["loc"] for e in info.value.errors]
