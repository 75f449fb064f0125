"""Learning-rate range test (Smith 2017): pick a stage's base lr from a short exponential sweep.

Before a phase with ``optimizer.lr: auto`` trains, ``lr_range_test`` runs ``steps`` training
steps (the phase's own gradient hook, optimizer and masks) at learning rates rising
geometrically from ``min_lr`` to ``max_lr``, then restores the model (parameters and buffers,
e.g. BN statistics), the optimizer state, the gradients and the RNG state exactly.

After every step the loss is measured on one fixed probe batch (the first batch, train-mode
forward with a fixed dropout seed, no gradient): with a few dozen steps the per-batch training
loss is too noisy to locate a minimum, the probe loss changes only through the weights. The
probe losses are smoothed by a bias-corrected EMA; the sweep stops early once the smoothed loss
exceeds ``DIVERGENCE`` times the lowest loss seen (the start included) or turns non-finite. The
chosen lr is

- ``rule="min-loss"``: ``factor`` x the lr at the lowest smoothed loss (default 0.1: one decade
  below the minimum, where the loss still falls steadily);
- ``rule="below-start"``: ``factor`` x the largest lr whose smoothed loss is still below the
  probe loss before the sweep (the largest rate that did not make things worse).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["DIVERGENCE", "RangeTestResult", "lr_range_test", "pick_lr", "smooth", "sweep_lrs"]

DIVERGENCE = 4.0
PROBE_SEED = 0x5EED  # the probe's dropout draw: the same every step, so only the weights vary

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class RangeTestResult:
    """The chosen ``lr`` and the curve behind it (``lrs``, raw ``losses``, ``smoothed``)."""

    lr: float
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    diverged: bool
    start_loss: float = math.nan

    def summary(self) -> str:
        """One log line."""
        best = ""
        if self.smoothed:
            low = min(range(len(self.smoothed)), key=self.smoothed.__getitem__)
            best = f"; lowest smoothed loss {self.smoothed[low]:.4g} at lr {self.lrs[low]:.3g}"
        stop = " (diverged, stopped early)" if self.diverged else ""
        return f"lr range test: {len(self.losses)} steps{best}{stop} -> lr {self.lr:.3g}"


def sweep_lrs(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """``steps`` learning rates ``min_lr * (max_lr / min_lr) ** (i / (steps - 1))``."""
    if steps < 2 or not 0 < min_lr < max_lr:
        raise ValueError(
            f"lr_finder: need 0 < min_lr < max_lr and steps >= 2, got {min_lr}, {max_lr}, {steps}"
        )
    ratio = max_lr / min_lr
    return [min_lr * ratio ** (i / (steps - 1)) for i in range(steps)]


def smooth(losses: list[float], beta: float) -> list[float]:
    """Bias-corrected exponential moving average: ``m_i = beta m_{i-1} + (1 - beta) x_i``,
    ``s_i = m_i / (1 - beta ** (i + 1))`` (``beta = 0`` returns the losses)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def pick_lr(
    lrs: list[float], smoothed: list[float], rule: str, factor: float, start: float | None = None
) -> float:
    """The chosen lr of a sweep (see the module docstring); ``start`` is the loss before the
    sweep (default ``smoothed[0]``); ``lrs[0] * factor`` if no finite loss was seen."""
    finite = [i for i, s in enumerate(smoothed) if math.isfinite(s)]
    if not finite:
        return lrs[0] * factor
    reference = smoothed[0] if start is None else start
    if rule == "min-loss":
        best = min(finite, key=smoothed.__getitem__)
    elif rule == "below-start":
        best = max((i for i in finite if smoothed[i] <= reference), default=0)
    else:
        raise ValueError(f"lr_finder.rule: must be min-loss or below-start, got {rule!r}")
    return lrs[best] * factor


@dataclass
class _Snapshot:
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None
    training: bool

    @classmethod
    def take(cls, model: nn.Module, optimizer: torch.optim.Optimizer) -> _Snapshot:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        return cls(
            copy.deepcopy(model.state_dict()),
            copy.deepcopy(optimizer.state_dict()),
            torch.get_rng_state(),
            cuda,
            model.training,
        )

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        model.load_state_dict(self.model)
        optimizer.load_state_dict(self.optimizer)
        model.zero_grad(set_to_none=True)
        model.train(self.training)
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


def _probe_loss(
    model: nn.Module, probe: tuple[torch.Tensor, torch.Tensor], device: torch.device
) -> float:
    """Train-mode loss of the fixed probe batch with a fixed dropout draw (RNG state kept)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(PROBE_SEED)
        return float(nn.functional.cross_entropy(model(probe[0]), probe[1]))


def lr_range_test(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    spec: Any,
    before_step: Callable[[], None] = lambda: None,
    after_step: Callable[[], None] = lambda: None,
) -> RangeTestResult:
    """Sweep ``spec`` (an ``LRFinderSpec``: min_lr, max_lr, steps, smoothing, rule, factor) over
    ``batches`` (cycled when shorter than ``steps``), then restore every piece of state.

    Each step: forward, cross-entropy, backward, ``before_step``, ``optimizer.step()`` at the
    step's lr, ``after_step``, then the probe loss. Returns the chosen lr and the curve.
    """
    lrs = sweep_lrs(spec.min_lr, spec.max_lr, spec.steps)
    snapshot = _Snapshot.take(model, optimizer)
    losses: list[float] = []
    smoothed: list[float] = []
    diverged = False
    try:
        model.train()
        x0, y0 = next(iter(batches))
        probe = (x0.to(device), y0.to(device))
        start = _probe_loss(model, probe, device)
        for lr, (x, y) in zip(lrs, itertools.cycle(batches), strict=False):
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x.to(device)), y.to(device)).backward()
            before_step()
            optimizer.step()
            after_step()
            losses.append(_probe_loss(model, probe, device))
            smoothed = smooth(losses, spec.smoothing)
            lowest = min(start, *smoothed)
            if not math.isfinite(smoothed[-1]) or smoothed[-1] > DIVERGENCE * lowest:
                diverged = True
                break
    finally:
        snapshot.restore(model, optimizer)
    lr = pick_lr(lrs[: len(smoothed)], smoothed, spec.rule, spec.factor, start)
    return RangeTestResult(lr, lrs[: len(losses)], losses, smoothed, diverged, start)
