"""Winograd-domain optimizer pieces: the natural (preconditioned) step and the per-step gradient
hook a stage uses.

Why a preconditioner: a Winograd layer trains ``Q = G W G^T`` directly. Spatial SGD on W,
``W <- W - eta * dL/dW`` with ``dL/dW = G^T (dL/dQ) G``, moves Q by
``G (dW) G^T = -eta * P (dL/dQ) P`` with ``P = G G^T`` (alpha x alpha, symmetric), exactly, since
Q is linear in W. So SGD on Q with the gradient replaced by ``P grad_Q P`` ("precond-sgd", the
"natural" step of the authors' repository notes, paper-spec 3) reproduces spatial SGD at the
spatial learning rate, and L2 weight decay on W becomes ``lambda * Q`` (torch SGD adds it after
the hook). Such steps stay in the image of ``W -> G W G^T``; only the pruning masks move Q out of
it. The paper's alternative, ``grad_Q /= F_hat ** alpha`` (``WinogradGradScaler``), rescales each
position instead and needs a Winograd lr about 1e3 below the spatial one (paper-spec 9).

Adam / AdamW divide each entry by its running RMS gradient, so any constant per-position scale
of the gradient (F_hat^-alpha, or P's diagonal) cancels up to eps; with Adam's coupled L2
(``adam`` with weight_decay > 0) the scale only changes how strongly the L2 term counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from winoprune.pruning import WinogradGradScaler
from winoprune.winograd.dwm import DWMConv2d
from winoprune.winograd.layers import winograd_domain_layers
from winoprune.winograd.transforms import WinogradTransform

__all__ = [
    "WinogradPreconditioner",
    "gradient_hook",
    "natural_preconditioner",
    "precondition_gradient",
    "scaling_note",
]

ADAM_NAMES = ("adam", "adamw")
# a DWM piece's packed positions, its tile (a1, a2) and its row and column P = G G^T
PiecePreconditioner = tuple[slice, tuple[int, int], torch.Tensor, torch.Tensor]


def natural_preconditioner(tf: WinogradTransform, damping: float = 0.0) -> torch.Tensor:
    """``P = G G^T + damping * lambda_max(G G^T) * I`` (alpha, alpha), float64.

    ``damping`` 0 is the exact natural step. ``G G^T`` has rank r < alpha (3 of 6 for F(4,3)),
    so undamped steps never leave the r*r-dimensional image of the spatial kernels: once pruning
    masks have moved Q out of it, the surviving Winograd-domain weights cannot use their extra
    freedom. A damping > 0 makes P full rank and lets every surviving entry move.
    """
    p = tf.G @ tf.G.transpose(0, 1)
    if damping:
        p = p + damping * torch.linalg.eigvalsh(p).max() * torch.eye(p.shape[0], dtype=p.dtype)
    return p


def precondition_gradient(weight: torch.Tensor, p: torch.Tensor) -> None:
    """In place ``grad_Q[k, c] <- P grad_Q[k, c] P`` for every (k, c) of a (K, C, a, a) weight.

    Call after backward and before the optimizer step (the step then adds weight decay on Q).
    """
    grad = weight.grad
    if grad is None:
        return
    p = p.to(device=grad.device, dtype=grad.dtype)
    grad.copy_(p @ grad @ p)  # P is symmetric, so P g P^T == P g P


class WinogradPreconditioner:
    """Applies the natural step ``grad_Q <- P grad_Q P`` to every Winograd layer, once per step.

    Usage, per training step: ``loss.backward(); pre.apply(); optimizer.step()`` (SGD).
    ``layers`` restricts it to those module names (default: every WinogradConv2d and
    DWMConv2d; a model with none makes ``apply`` a no-op, i.e. plain SGD). ``calls`` counts
    the steps.
    """

    def __init__(
        self, model: nn.Module, layers: Iterable[str] | None = None, damping: float = 0.0
    ) -> None:
        self.layers = winograd_domain_layers(model, layers)
        self._p: dict[str, torch.Tensor] = {}
        self._pieces: dict[str, list[PiecePreconditioner]] = {}
        for name, m in self.layers.items():
            if isinstance(m, DWMConv2d):  # per piece Q = G1 W G2^T: grad <- P1 grad P2
                self._pieces[name] = [
                    (
                        piece.positions,
                        piece.tile,
                        natural_preconditioner(piece.transform.rows, damping),
                        natural_preconditioner(piece.transform.cols, damping),
                    )
                    for piece in m.layout.pieces
                ]
            else:
                self._p[name] = natural_preconditioner(m.transform, damping)
        self.calls = 0

    def apply(self) -> None:
        """In place ``grad_Q <- P grad_Q P`` for each layer whose gradient is set (per piece,
        ``P1 grad P2``, on a DWM layer)."""
        for name, layer in self.layers.items():
            if name in self._p:
                precondition_gradient(layer.weight, self._p[name])
                continue
            grad = layer.weight.grad
            if grad is None:
                continue
            for positions, tile, p1, p2 in self._pieces[name]:
                g = grad[:, :, positions].unflatten(2, tile)
                p1, p2 = (p.to(device=grad.device, dtype=grad.dtype) for p in (p1, p2))
                grad[:, :, positions] = (p1 @ g @ p2).flatten(2)
        self.calls += 1


def gradient_hook(
    model: nn.Module,
    stage_type: str,
    optimizer_name: str,
    grad_exponent: float,
    damping: float = 0.0,
) -> Callable[[], None]:
    """What a stage does to the gradients between backward and the optimizer step.

    ``precond-sgd``: ``WinogradPreconditioner`` (with ``damping``); winograd-direct with
    ``grad_exponent > 0``: ``grad_Q /= F_hat ** grad_exponent`` (``WinogradGradScaler``);
    otherwise nothing.
    """
    if optimizer_name == "precond-sgd":
        return WinogradPreconditioner(model, damping=damping).apply
    if stage_type == "winograd-direct" and grad_exponent > 0:
        return WinogradGradScaler(model, alpha=grad_exponent).apply
    return _no_op


def _no_op() -> None:
    return None


def scaling_note(stage_type: str, optimizer: Any, grad_exponent: float) -> str | None:
    """A log line when F_hat scaling is combined with Adam (where it is close to a no-op)."""
    if stage_type != "winograd-direct" or grad_exponent <= 0 or optimizer.name not in ADAM_NAMES:
        return None
    note = (
        f"grad_exponent {grad_exponent} with {optimizer.name}: Adam normalises every entry by "
        "its RMS gradient, so the constant F_hat^-alpha scale cancels (up to eps)"
    )
    if optimizer.name == "adam" and optimizer.weight_decay > 0:
        note += "; it only reweights the coupled L2 term against the gradient"
    return note
