"""Optimizers, learning-rate schedules, and the train / evaluate loops used by the pipeline."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from winoprune.data import iter_batches


class StopRequested(Exception):
    """Raised inside a loop when the cooperative stop callback asks to stop."""

    def __init__(self, step: int, loss_sum: float, correct: int, seen: int) -> None:
        super().__init__(f"stopped at step {step}")
        self.step, self.loss_sum, self.correct, self.seen = step, loss_sum, correct, seen


OPTIMIZERS = ("sgd", "adam", "adamw", "precond-sgd")


def build_optimizer(
    params: Iterable[nn.Parameter], spec: Any, lr: float | None = None
) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov), Adam or AdamW from an optimizer spec of the recipe.

    ``lr`` overrides ``spec.lr`` (required when it is "auto": the range test's result).
    ``precond-sgd`` is torch SGD here; its natural step ``grad_Q <- P grad_Q P`` is the stage's
    gradient hook (``winoprune.training.optim.gradient_hook``), run between backward and ``step()``.
    """
    params = list(params)
    name = spec.name
    rate = spec.lr if lr is None else lr
    if not isinstance(rate, int | float) or isinstance(rate, bool):
        raise ValueError(f"optimizer.lr: {rate!r} needs the lr range test's result (pass lr)")
    if name in ("sgd", "precond-sgd"):
        return torch.optim.SGD(
            params,
            lr=rate,
            momentum=spec.momentum,
            weight_decay=spec.weight_decay,
            nesterov=bool(getattr(spec, "nesterov", False)) and spec.momentum > 0,
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=rate, weight_decay=spec.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=rate, weight_decay=spec.weight_decay)
    raise ValueError(f"optimizer.name: unknown optimizer {name!r} ({', '.join(OPTIMIZERS)})")


def lr_at(base_lr: float, schedule: Any, epoch: int, epochs: int) -> float:
    """Learning rate of epoch ``epoch`` (0-based) of a stage with ``epochs`` epochs."""
    name = getattr(schedule, "name", "constant")
    if name == "constant":
        return base_lr
    if name == "step":
        passed = sum(1 for m in schedule.milestones if epoch >= m)
        return base_lr * schedule.gamma**passed
    if name == "cosine":
        return 0.5 * base_lr * (1 + math.cos(math.pi * epoch / max(epochs, 1)))
    raise ValueError(f"schedule.name: unknown schedule {name!r}")


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


@dataclass
class EpochResult:
    loss: float
    top1: float
    steps: int


def make_loader(
    dataset: Dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Re-iterable batches whose order and augmentation depend only on ``seed``, so every epoch
    can be replayed exactly (``iter_batches`` with a generator seeded afresh on each pass)."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(seed)
    return _Replayable(dataset, batch_size, shuffle, seed, num_workers)


@dataclass
class _Replayable:
    dataset: Dataset
    batch_size: int
    shuffle: bool
    seed: int
    num_workers: int

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed)
        return iter_batches(
            self.dataset,  # type: ignore[arg-type]
            self.batch_size,
            self.shuffle,
            generator,
            self.num_workers,
        )


def train_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    before_step: Callable[[], None],
    after_step: Callable[[], None],
    should_stop: Callable[[], bool],
    start_step: int = 0,
    carried: tuple[float, int, int] = (0.0, 0, 0),
    resume_rng: torch.Tensor | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> EpochResult:
    """One pass over ``loader``: forward, backward, ``before_step`` (gradient scaling and masks),
    ``optimizer.step()``, ``after_step`` (masks). Skips the first ``start_step`` batches when
    resuming inside an epoch, then restores the saved RNG state so the rest replays exactly.
    Raises StopRequested (with the running sums) when ``should_stop()`` turns true.
    ``loss_fn(output, x, y)`` replaces the cross-entropy loss (e.g. distillation).
    """
    model.train()
    cross_entropy = nn.CrossEntropyLoss()
    criterion = loss_fn or (lambda out, _x, y: cross_entropy(out, y))
    loss_sum, correct, seen = carried
    step = 0
    for step, (x, y) in enumerate(loader):
        if step < start_step:
            continue
        if step == start_step and resume_rng is not None:
            torch.set_rng_state(resume_rng)
        if should_stop():
            raise StopRequested(step, loss_sum, correct, seen)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = criterion(out, x, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss: became {loss.item()} at step {step}; lower the learning rate"
            )
        loss.backward()
        before_step()
        optimizer.step()
        after_step()
        loss_sum += loss.item() * y.numel()
        correct += int((out.argmax(1) == y).sum())
        seen += y.numel()
    return EpochResult(loss=loss_sum / max(seen, 1), top1=correct / max(seen, 1), steps=step + 1)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> dict[str, float]:
    """Test loss, top-1 and top-5 accuracy (fractions) of ``model`` on ``loader``."""
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    loss_sum, top1, top5, seen = 0.0, 0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss_sum += float(criterion(out, y))
        k = min(5, out.shape[1])
        best = out.topk(k, dim=1).indices
        top1 += int((best[:, 0] == y).sum())
        top5 += int((best == y[:, None]).any(dim=1).sum())
        seen += y.numel()
    n = max(seen, 1)
    return {"test_loss": loss_sum / n, "top1": top1 / n, "top5": top5 / n}
