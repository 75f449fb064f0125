"""What the pipeline reports (epoch reports, the result) and the callbacks it reports through;
the device and per-epoch seed helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from winoprune.pruning.metrics import LayerStat
from winoprune.training import checkpoints as ckpt
from winoprune.training.stages import StagePlan


@dataclass
class EpochReport:
    """What one epoch (or the post-pruning evaluation, epoch 0) produced."""

    stage: int
    stage_type: str
    epoch: int
    metrics: dict[str, float]
    layers: list[LayerStat]
    summary: dict[str, float]


@dataclass
class PipelineResult:
    status: str  # "succeeded" or "stopped"
    stages: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None


class Callbacks:
    """Override what you need; every hook is a no-op by default."""

    def on_plan(self, plan: list[StagePlan]) -> None: ...
    def on_stage_start(self, plan: StagePlan) -> None: ...
    def on_epoch(self, report: EpochReport) -> None: ...
    def on_stage_end(self, plan: StagePlan, result: dict[str, Any]) -> None: ...
    def on_checkpoint(self, path: Path, meta: ckpt.CheckpointMeta) -> None: ...
    def on_log(self, message: str) -> None: ...
    def should_stop(self) -> bool:
        return False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def epoch_seed(seed: int, stage: int, epoch: int) -> int:
    return (seed * 1_000_003 + stage * 10_007 + epoch) % (2**63)
