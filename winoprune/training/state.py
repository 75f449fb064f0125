"""Checkpoint state of a pipeline: what a checkpoint holds (model, masks, RNG, teacher,
optimizer) and how it is saved, restored and taken from ``init_checkpoint``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from winoprune.data.base import DatasetInfo
from winoprune.models import build_model
from winoprune.pruning.masks import MaskSet
from winoprune.recipes import Recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.callbacks import Callbacks
from winoprune.training.distill import TEACHER_PREFIX, frozen_copy
from winoprune.winograd.transforms import WinogradTransform


class CheckpointState:
    """Mixin of ``Pipeline``: saving and restoring its state (the attributes below)."""

    recipe: Recipe
    sha: str
    tf: WinogradTransform
    ckpt_dir: Path
    cb: Callbacks
    device: torch.device
    info: DatasetInfo
    model: nn.Module
    masks: MaskSet
    teacher: nn.Module | None
    init_weights: Path | None

    def _winograd_layers(self) -> list[str]:
        raise NotImplementedError

    def _to_winograd_domain(self) -> None:
        raise NotImplementedError

    def _state_tensors(self, optimizer: torch.optim.Optimizer | None) -> dict[str, torch.Tensor]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"mask.{k}": v for k, v in self.masks.state_dict().items()})
        tensors["rng.torch"] = torch.get_rng_state()
        if self.teacher is not None:
            state = self.teacher.state_dict().items()
            tensors.update({f"{TEACHER_PREFIX}{k}": v for k, v in state})
        if optimizer is not None:
            opt_tensors, _ = ckpt.pack_optimizer(optimizer)
            tensors.update(opt_tensors)
        return tensors

    def _save(
        self,
        stage: int,
        epoch: int,
        optimizer: torch.optim.Optimizer | None,
        step: int = 0,
        done: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        packed = ckpt.pack_optimizer(optimizer)[1] if optimizer is not None else {}
        meta = ckpt.CheckpointMeta(
            recipe_sha256=self.sha,
            stage=stage,
            epoch=epoch,
            step=step,
            tile=self.tf.name,
            recipe=json.loads(self.recipe.canonical_json()),
            stage_done=done,
            winograd_layers=self._winograd_layers(),
            optimizer=packed,
            extra=extra or {},
        )
        path = ckpt.save_checkpoint(self.ckpt_dir, meta, self._state_tensors(optimizer))
        ckpt.prune_old(self.ckpt_dir)
        self.cb.on_checkpoint(path, meta)
        return path

    def _restore(self, meta: ckpt.CheckpointMeta, path: Path) -> dict[str, torch.Tensor]:
        tensors = ckpt.load_tensors(path)
        if meta.winograd_layers:
            self._to_winograd_domain()
            if self._winograd_layers() != meta.winograd_layers:
                raise ValueError("checkpoint: its Winograd layers do not match the recipe's")
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(model_state)
        self.masks = MaskSet.from_state_dict(
            {k[5:]: v for k, v in tensors.items() if k.startswith("mask.")}
        )
        teacher = {
            k.removeprefix(TEACHER_PREFIX): v
            for k, v in tensors.items()
            if k.startswith(TEACHER_PREFIX)
        }
        if teacher:
            model = build_model(
                self.recipe.model.name,
                self.recipe.model.width,
                self.info.num_classes,
                **self.recipe.model_options(),
            )
            model.load_state_dict(teacher)
            self.teacher = frozen_copy(model.to(self.device))
        return tensors

    def _load_init_weights(self) -> None:
        path = self.init_weights or Path(str(self.recipe.init_checkpoint))
        tensors = ckpt.load_tensors(path)
        state = {k.removeprefix("model."): v for k, v in tensors.items()}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"init_checkpoint: {path} does not fit model {self.recipe.model.name}: "
                f"missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        self.cb.on_log(f"initialised from {path}")
