"""The importance-factor matrix of a Winograd transform and the gradient scaling it drives.

Each output of ``O = AT [Q * (BT I B)] A`` is bilinear in (Q, I) with coefficient
``AT_ki AT_lj BT_ip BT_jq`` on ``Q_ij I_pq``. The importance factor of position (i, j) is the
root-sum-square of those coefficients, ``F_ij = f_i f_j`` with
``f_i = ||BT[i, :]||_2 * ||AT[:, i]||_2`` (paper-spec section 3). Zeroing ``Q_ij`` changes the
output by ``|Q_ij| F_ij`` in expectation for unit-variance inputs, so ``|Q| * F_hat`` ranks
Winograd weights and ``grad / F_hat**alpha`` evens out their effective learning rates.
"""

from __future__ import annotations

import torch

from winoprune.winograd.transforms import WinogradTransform


def raw_importance_factors(tf: WinogradTransform) -> torch.Tensor:
    """F (alpha, alpha) = outer(f, f), f_i = ||BT[i, :]|| * ||AT[:, i]|| (float64)."""
    f = tf.BT.norm(dim=1) * tf.AT.norm(dim=0)
    return torch.outer(f, f)


def importance_factors(tf: WinogradTransform) -> torch.Tensor:
    """F_hat (alpha, alpha) = F / min F, so the least important position has factor 1."""
    raw = raw_importance_factors(tf)
    return raw / raw.min()


def scale_gradient(weight: torch.Tensor, f_hat: torch.Tensor, alpha: float) -> None:
    """In place: ``grad_Q /= F_hat ** alpha``; call after backward, before the optimizer step.

    ``weight`` is a Winograd weight (K, C, a, a) whose ``.grad`` is set; weight decay added by the
    optimizer afterwards stays unscaled (L2 on Q, as in the paper's code).
    """
    if weight.grad is None:
        return
    scale = f_hat.to(device=weight.grad.device, dtype=weight.grad.dtype).pow(alpha)
    weight.grad.div_(scale)
