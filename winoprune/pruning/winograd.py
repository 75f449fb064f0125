"""Stage 2: direct pruning of Winograd-domain weights with the importance factor matrix.

A Winograd weight ``Q[k, c, i, j]`` is pruned when ``|Q[k, c, i, j]| * F_hat[i, j] < t``
(paper-spec section 3), with ``F_hat`` the normalised importance factors of the layer's transform
(``winograd.importance.importance_factors``). ``t`` is bisected per layer so that the pruned
fraction, entries pruned before included, reaches the target; masks of earlier stages are OR-ed
in. During retraining, ``grad_Q /= F_hat ** alpha`` (alpha = 1.5 at paper time) once per step,
after ``backward()`` and before ``optimizer.step()``; plain SGD's weight decay then acts on the
unscaled Q (use SGD: Adam's per-parameter normalisation cancels the scaling).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from winoprune.pruning.bisection import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_TOLERANCE,
    threshold_for_scores,
)
from winoprune.pruning.spatial import LayerPruning
from winoprune.winograd.dwm import DWMConv2d
from winoprune.winograd.importance import importance_factors, scale_gradient
from winoprune.winograd.layers import winograd_domain_layers
from winoprune.winograd.transforms import WinogradTransform

PAPER_ALPHA = 1.5


def importance_scores(q: torch.Tensor, f_hat: torch.Tensor) -> torch.Tensor:
    """(K, C, a, a) float64 scores ``|Q| * F_hat`` (F_hat (a, a) broadcast over K and C); a
    DWM layer's packed Q (K, C, P) takes F_hat (P,)."""
    if q.dim() != 2 + f_hat.dim() or tuple(q.shape[2:]) != tuple(f_hat.shape):
        raise ValueError(
            f"weight: expected Winograd weights (K, C, {', '.join(map(str, f_hat.shape))}), "
            f"got {tuple(q.shape)}"
        )
    return q.detach().abs().double() * f_hat.to(device=q.device, dtype=torch.float64)


def prune_winograd_direct(
    q: torch.Tensor,
    tf: WinogradTransform,
    target: float,
    previous: torch.Tensor | None = None,
    tol: float = DEFAULT_TOLERANCE,
    max_iter: int = DEFAULT_MAX_ITERATIONS,
) -> LayerPruning:
    """Mask ``previous | (|Q| * F_hat < t)`` of Winograd weights q (K, C, a, a).

    ``t`` is the smallest threshold with ``#mask / numel >= target - tol``; the result's
    ``sparsity`` is that pruned fraction (exact zeros of Q once the mask is applied).
    """
    scores = importance_scores(q, importance_factors(tf))
    mask, search = threshold_for_scores(scores, target, previous, tol, max_iter)
    return LayerPruning.from_search(mask, search)


class WinogradGradScaler:
    """Divides the gradient of every Winograd weight by ``F_hat ** alpha``, once per step.

    Usage, per training step::

        loss.backward()
        scaler.apply()          # grad_Q /= F_hat ** alpha on each WinogradConv2d
        optimizer.step()        # SGD; weight decay lambda * Q is added unscaled

    ``layers`` restricts the scaling to those module names (default: every WinogradConv2d and
    DWMConv2d, whose packed Q is scaled by its layout's F_hat).
    ``calls`` counts the steps scaled. Calling ``apply`` twice on the same gradient (no
    ``backward`` in between) raises RuntimeError, so the scaling cannot be applied twice.
    """

    def __init__(
        self, model: nn.Module, alpha: float = PAPER_ALPHA, layers: Iterable[str] | None = None
    ) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha < 0:
            raise ValueError(f"alpha: must be a number >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.layers = winograd_domain_layers(model, layers)
        self._f_hat = {
            name: layer.layout.importance_factors()
            if isinstance(layer, DWMConv2d)
            else importance_factors(layer.transform)
            for name, layer in self.layers.items()
        }
        self._last_scaled: dict[str, tuple[int, int]] = {}
        self.calls = 0

    def apply(self) -> None:
        """In place ``grad_Q /= F_hat ** alpha`` for each layer whose gradient is set."""
        pending = []
        for name, layer in self.layers.items():
            grad = layer.weight.grad
            if grad is None:
                continue
            if self._last_scaled.get(name) == (id(grad), grad._version):
                raise RuntimeError(
                    f"{name}: gradient already scaled by F_hat**alpha for this step; call "
                    "apply() once per backward()"
                )
            pending.append((name, layer))
        for name, layer in pending:
            scale_gradient(layer.weight, self._f_hat[name], self.alpha)
            grad = layer.weight.grad
            assert grad is not None
            self._last_scaled[name] = (id(grad), grad._version)
        self.calls += 1
