"""Importance factors: the closed form f_i f_j against brute force and paper-spec section 3."""

from __future__ import annotations

import math

import pytest
import torch

from winoprune.winograd.importance import importance_factors, raw_importance_factors, scale_gradient
from winoprune.winograd.transforms import cook_toom


def _brute_force_squared(tf) -> torch.Tensor:
    """F_ij^2 = sum_{k,l,p,q} (AT_ki AT_lj BT_ip BT_jq)^2, straight from the bilinear form."""
    at, bt = tf.AT, tf.BT
    coeff = torch.einsum("ki,lj,ip,jq->ijklpq", at, at, bt, bt)
    return coeff.square().sum(dim=(2, 3, 4, 5))


@pytest.mark.parametrize(
    ("m", "r", "points"),
    [
        (2, 3, None),
        (4, 3, None),
        (6, 3, None),
        (2, 5, None),
        (4, 5, None),
        (2, 3, ["0", "1/2", "-1/2", "inf"]),
        (6, 3, [0, 1, -1, 2, -2, 3, -3, "inf"]),
    ],
)
def test_closed_form_equals_brute_force(m, r, points):
    tf = cook_toom(m, r, points)
    raw = raw_importance_factors(tf)
    assert torch.allclose(raw.square(), _brute_force_squared(tf), rtol=1e-12)
    f_hat = importance_factors(tf)
    assert f_hat.shape == (tf.alpha, tf.alpha) and f_hat.dtype == torch.float64
    assert f_hat.min().item() == pytest.approx(1.0) and torch.allclose(f_hat, f_hat.T)


def test_f43_matches_the_paper_code():
    tf = cook_toom(4, 3)
    f_squared = torch.diagonal(raw_importance_factors(tf))
    assert torch.allclose(
        f_squared, torch.tensor([42.0, 136, 136, 850, 850, 42], dtype=torch.float64)
    )
    f_hat = importance_factors(tf)
    assert f_hat.max().item() == pytest.approx(850 / 42) and f_hat[3, 3].item() == pytest.approx(
        20.238, abs=1e-3
    )
    assert f_hat[0, 1].item() == pytest.approx(1.7995, abs=1e-4)


def test_f23_takes_values_one_root_two_and_two():
    tf = cook_toom(2, 3)
    f_squared = torch.diagonal(raw_importance_factors(tf))
    assert torch.allclose(f_squared, torch.tensor([2.0, 4, 4, 2], dtype=torch.float64))
    values = sorted({round(v, 9) for v in importance_factors(tf).flatten().tolist()})
    assert values == [1.0, round(math.sqrt(2), 9), 2.0]


def test_scale_gradient_divides_by_the_power_of_the_factors():
    f_hat = importance_factors(cook_toom(2, 3))
    weight = torch.ones(2, 3, 4, 4, requires_grad=True)
    weight.grad = torch.full((2, 3, 4, 4), 8.0)
    scale_gradient(weight, f_hat, 1.5)
    assert torch.allclose(weight.grad[1, 2], 8.0 / f_hat.float() ** 1.5)
    bare = torch.ones(1, 1, 4, 4, requires_grad=True)
    scale_gradient(bare, f_hat, 1.5)  # no gradient yet: nothing to scale
    assert bare.grad is None
