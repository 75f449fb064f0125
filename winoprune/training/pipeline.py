"""Run a recipe stage by stage: pretrain, prune, retrain; report through callbacks only.

Stage -1 is dense pretraining (absent when the recipe starts from ``init_checkpoint``); recipe
stage i is pipeline stage i. Within a stage, epoch 0 is the evaluation right after pruning
and epochs 1..E follow each training epoch. A polynomial sparsity schedule re-prunes at the start
of its scheduled epochs; ``optimizer.lr: auto`` runs the lr range test after the first pruning
(its choice is the epoch metric "lr" and is stored in every checkpoint of the stage). A
checkpoint is written after pruning and after every epoch (and at a stop request), and ``run()``
resumes from the latest one: every epoch reseeds from (seed, stage, epoch) and the pruning
schedule is a function of the epoch, so a resumed run reproduces an uninterrupted one exactly on
the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from winoprune.data import build_datasets
from winoprune.data.base import mix_seed
from winoprune.models import build_model
from winoprune.pruning import prune_model
from winoprune.pruning.activations import count_activations, with_activation_stats
from winoprune.pruning.masks import MaskSet, winograd_masks
from winoprune.pruning.metrics import layer_stats, summary
from winoprune.pruning.zero_maps import PieceMap, model_zero_maps
from winoprune.recipes import Recipe
from winoprune.training import checkpoints as ckpt
from winoprune.training.callbacks import (
    Callbacks,
    EpochReport,
    PipelineResult,
    epoch_seed,
    resolve_device,
)
from winoprune.training.distill import LossFn, frozen_copy, teacher_loss
from winoprune.training.loop import (
    StopRequested,
    build_optimizer,
    evaluate,
    lr_at,
    make_loader,
    set_lr,
    train_epoch,
)
from winoprune.training.lr_finder import lr_range_test
from winoprune.training.optim import gradient_hook, scaling_note
from winoprune.training.stage_settings import StageSettings
from winoprune.training.stages import PRETRAIN_STAGE, StagePlan, layer_policy, plan_stages
from winoprune.training.state import CheckpointState
from winoprune.winograd.layers import convert_model, winograd_domain_layers

LR_KEY = "base_lr"  # checkpoint sidecar extra: the stage's base lr (the range test's choice)
LR_FINDER_STREAM = 0x1F1D  # seed stream of the range test's batches, apart from the epochs'


class Pipeline(CheckpointState):
    """Executes one recipe into ``out_dir`` (checkpoints under ``out_dir/checkpoints``)."""

    def __init__(
        self,
        recipe: Recipe,
        out_dir: Path,
        callbacks: Callbacks | None = None,
        init_weights: Path | None = None,
    ) -> None:
        self.recipe = recipe
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.cb = callbacks or Callbacks()
        self.sha = recipe.sha256()
        self.device = resolve_device(recipe.device)
        self.tf = recipe.transform()  # the tile's points and form (recipes.tile)
        self.policy = layer_policy(recipe)
        self.plan = plan_stages(recipe)
        self.stage_settings = StageSettings(recipe, self.plan, self.policy)  # dropout, BN momentum
        self.init_weights = init_weights
        self.masks = MaskSet()
        self.teacher: nn.Module | None = None  # the distillation teacher (recipe.distill)

    # -- set-up -------------------------------------------------------------------------------
    def _build(self) -> None:
        torch.manual_seed(self.recipe.seed)
        self.train_ds, self.test_ds, self.info = build_datasets(
            self.recipe.data, seed=self.recipe.seed
        )
        self.model = build_model(
            self.recipe.model.name,
            self.recipe.model.width,
            self.info.num_classes,
            **self.recipe.model_options(),
        ).to(self.device)
        self.input_shape: tuple[int, int, int] = self.info.input_shape
        self.test_loader = make_loader(
            self.test_ds, self.recipe.eval_batch_size, False, 0, self.recipe.data.num_workers
        )

    def _winograd_layers(self) -> list[str]:
        return list(winograd_domain_layers(self.model))

    def _to_winograd_domain(self) -> None:
        if self._winograd_layers():
            return
        self.masks.apply(self.model)
        report = convert_model(
            self.model,
            m=self.tf.m,
            include=list(self.policy.include) if self.policy.include is not None else None,
            exclude=list(self.policy.exclude),
            kernel_sizes=(self.tf.r,),
            transform=self.tf,
            dwm=self.policy.dwm,
            summation=self.recipe.summation(),
        )
        self.masks = winograd_masks(self.model, self.masks)
        self.cb.on_log(f"converted to {self.tf.name}: {', '.join(report.converted)}")

    # -- one stage ----------------------------------------------------------------------------
    def _prune(self, plan: StagePlan, target: float | None = None, epoch: int = 0) -> None:
        """Prune to ``target`` (default the stage's); converts to Winograd where the stage does."""
        if plan.domain == "winograd":
            self._to_winograd_domain()
        target = plan.target if target is None else target
        if not plan.prunes:
            return
        self.masks, results = prune_model(
            self.model, plan.method, target, self.policy, self.tf, self.masks
        )
        self.masks.apply(self.model)
        achieved = {name: round(r.sparsity, 4) for name, r in results.items()}
        where = f" epoch {epoch}" if epoch else ""
        self.cb.on_log(f"stage {plan.index}{where} pruned to {target:.4f}: {achieved}")

    def _report(self, plan: StagePlan, epoch: int, extra: dict[str, float]) -> EpochReport:
        self.masks.apply(self.model)
        with count_activations(self.model) as counts:  # Winograd-ReLU layers only
            metrics = evaluate(self.model, self.test_loader, self.device)
        metrics.update(extra)
        if plan.gradual:
            metrics["target"] = plan.target_in_effect(epoch)
        rows = layer_stats(self.model, self.input_shape, self.tf, dwm=self.policy.dwm)
        rows = with_activation_stats(rows, self.model, counts)
        # the activation totals exist only for Winograd-ReLU models: no None metrics elsewhere
        totals = {
            k: v for k, v in asdict(summary(rows, self.counted_layers())).items() if v is not None
        }
        report = EpochReport(plan.index, plan.type, epoch, metrics, rows, totals)
        self.cb.on_epoch(report)
        return report

    def counted_layers(self) -> list[str]:
        """The layers whose Winograd-domain zeros make up the overall sparsity."""
        return list(self.policy.layer_targets(self.model, 0.0))

    def zero_patterns(self) -> dict[str, list[list[float]]]:
        """Per counted layer, the (a, a) fraction of zeros at each Winograd position (a DWM
        layer: its packed (1, P) row; ``piece_patterns`` splits it per piece)."""
        return model_zero_maps(self.model, self.counted_layers(), self.tf, self.policy.dwm)[0]

    def piece_patterns(self) -> dict[str, list[PieceMap]]:
        """Per counted DWM layer, the a1 x a2 zero map and F_hat of every piece."""
        return model_zero_maps(self.model, self.counted_layers(), self.tf, self.policy.dwm)[1]

    def _before_step(self, plan: StagePlan) -> Callable[[], None]:
        """The stage's gradient hook: F_hat^-alpha scaling (winograd-direct with sgd), the
        natural step P grad P (precond-sgd), or nothing."""
        opt = plan.optimizer
        return gradient_hook(self.model, plan.type, opt.name, plan.grad_exponent, opt.damping)

    def _loss_fn(self, plan: StagePlan) -> LossFn | None:
        """Distillation from the teacher in recipe stages (``recipe.distill``), else None."""
        spec = self.recipe.distill
        if spec is None or plan.index < 0:
            return None
        if self.teacher is None:
            raise ValueError("distill: no teacher (the checkpoint predates the first stage)")
        return teacher_loss(self.teacher, spec.temperature, spec.weight)

    def _after_step(self) -> None:
        self.masks.apply(self.model)

    def _find_lr(self, plan: StagePlan) -> float:
        """The stage's base lr: the recipe's, or the lr range test's (state restored after)."""
        if not plan.auto_lr:
            return float(plan.optimizer.lr)
        optimizer = build_optimizer(self.model.parameters(), plan.optimizer, plan.lr_finder.min_lr)
        seed = mix_seed(self.recipe.seed, plan.index, LR_FINDER_STREAM)
        loader = make_loader(
            self.train_ds, self.recipe.batch_size, True, seed, self.recipe.data.num_workers
        )
        found = lr_range_test(
            self.model, loader, optimizer, self.device, plan.lr_finder,
            self._before_step(plan), self._after_step,
        )  # fmt: skip
        self.cb.on_log(f"stage {plan.index} {found.summary()}")
        return found.lr

    def _start_stage(self, plan: StagePlan) -> tuple[float, EpochReport]:
        """Prune, pick the base lr, report epoch 0; returns (base lr, that report)."""
        self.cb.on_stage_start(plan)
        if plan.index == 0 and self.recipe.distill is not None:
            self.teacher = frozen_copy(self.model)  # the dense start, before any pruning
        self._prune(plan, plan.pruning_target(0))
        for note in (
            scaling_note(plan.type, plan.optimizer, plan.grad_exponent),
            self.stage_settings.apply(self.model, plan, 0),
        ):
            if note:
                self.cb.on_log(f"stage {plan.index}: {note}")
        base_lr = self._find_lr(plan)
        return base_lr, self._report(plan, 0, {"lr": base_lr})

    def _run_stage(
        self, plan: StagePlan, resume: tuple[ckpt.CheckpointMeta, dict[str, torch.Tensor]] | None
    ) -> dict[str, Any] | None:
        started = time.time()
        if resume is None:
            base_lr, last = self._start_stage(plan)
        else:
            base_lr = self._resumed_lr(plan, resume[0])
        extra: dict[str, Any] = {LR_KEY: base_lr}
        optimizer = build_optimizer(self.model.parameters(), plan.optimizer, base_lr)
        start_epoch, start_step, carried, rng = 0, 0, (0.0, 0, 0), None
        if resume is None:
            self._save(plan.index, 0, optimizer, done=plan.epochs == 0, extra=extra)
        else:
            meta, tensors = resume
            ckpt.unpack_optimizer(optimizer, tensors, meta.optimizer)
            start_epoch, start_step = meta.epoch, meta.step
            if start_step:
                loss_sum, correct, seen = meta.extra["carried"]
                carried = (float(loss_sum), int(correct), int(seen))
                rng = tensors["rng.torch"]
        before_step, loss_fn = self._before_step(plan), self._loss_fn(plan)
        for epoch in range(start_epoch, plan.epochs):
            target = plan.pruning_target(epoch)
            # a stop inside this epoch saved the masks after its pruning step: no re-pruning
            if epoch > 0 and target is not None and not (epoch == start_epoch and start_step):
                self._prune(plan, target, epoch)
            lr = lr_at(base_lr, plan.schedule, epoch, plan.epochs)
            set_lr(optimizer, lr)
            self.stage_settings.apply(self.model, plan, epoch)
            seed = epoch_seed(self.recipe.seed, plan.index, epoch)
            torch.manual_seed(seed)
            loader = make_loader(
                self.train_ds, self.recipe.batch_size, True, seed, self.recipe.data.num_workers
            )
            try:
                result = train_epoch(
                    self.model, loader, optimizer, self.device, before_step, self._after_step,
                    self.cb.should_stop, start_step, carried, rng, loss_fn,
                )  # fmt: skip
            except StopRequested as stop:
                sums = [stop.loss_sum, stop.correct, stop.seen]
                self._save(
                    plan.index, epoch, optimizer, stop.step, extra={**extra, "carried": sums}
                )
                return None
            start_step, carried, rng = 0, (0.0, 0, 0), None
            metrics = {"lr": lr, "train_loss": result.loss, "train_top1": result.top1}
            last = self._report(plan, epoch + 1, metrics)
            self._save(plan.index, epoch + 1, optimizer, done=epoch + 1 == plan.epochs, extra=extra)
            if self.cb.should_stop() and epoch + 1 < plan.epochs:
                return None
        if resume is not None and plan.epochs == start_epoch:
            last = self._report(plan, plan.epochs, {"lr": base_lr})
        result_row = {
            "stage": plan.index,
            "type": plan.type,
            "target": plan.target,
            "top1": last.metrics["top1"],
            "top5": last.metrics["top5"],
            "winograd_sparsity": last.summary["winograd_sparsity"],
            "mult_reduction": last.summary.get("mult_reduction"),  # direct / sparse Winograd
            "seconds": time.time() - started,
        }
        self.cb.on_stage_end(plan, result_row)
        return result_row

    @staticmethod
    def _resumed_lr(plan: StagePlan, meta: ckpt.CheckpointMeta) -> float:
        """The base lr a resumed stage started with (the range test is not run again)."""
        if not plan.auto_lr:
            return float(plan.optimizer.lr)
        if LR_KEY not in meta.extra:
            raise ValueError(
                f"checkpoint: stage {plan.index} uses lr auto but its checkpoint has no {LR_KEY}"
            )
        return float(meta.extra[LR_KEY])

    # -- the whole job ------------------------------------------------------------------------
    def run(self) -> PipelineResult:
        """Run (or resume) every stage; returns "stopped" when a stop request ended it early."""
        self._build()
        self.cb.on_plan(self.plan)
        latest = ckpt.latest_checkpoint(self.ckpt_dir, self.sha)
        first = PRETRAIN_STAGE
        resume: tuple[ckpt.CheckpointMeta, dict[str, torch.Tensor]] | None = None
        if latest is not None:
            meta, path = latest
            tensors = self._restore(meta, path)
            self.cb.on_log(f"resuming from {path.name}")
            first = meta.stage + 1 if meta.stage_done else meta.stage
            resume = None if meta.stage_done else (meta, tensors)
        elif self.init_weights is not None or self.recipe.init_checkpoint:
            self._load_init_weights()
        results = PipelineResult(status="succeeded")
        for plan in (p for p in self.plan if p.index >= first):
            if self.cb.should_stop():
                results.status = "stopped"
                break
            row = self._run_stage(plan, resume)
            resume = None
            if row is None:
                results.status = "stopped"
                break
            results.stages.append(row)
        items = ckpt.list_checkpoints(self.ckpt_dir)
        results.checkpoint = items[-1][1] if items else None
        return results
