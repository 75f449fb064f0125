"""Pipeline callbacks -> database rows and change notices.

Each callback is one short transaction, fenced by the run's lease (``leases.touch``): metrics and
layer rows of an epoch are upserted on their unique keys together with the run's progress and the
change notices, so a stage that runs again (redelivery, resume) rewrites the same rows and a
worker that lost its lease writes nothing.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.artifacts.storage import file_digest
from server.db.base import utcnow
from server.db.models import Artifact, LayerStat, Metric, Stage
from server.events.service import publish
from server.runs.progress import upsert
from server.runs.summary import refresh_summary
from winoprune.training import checkpoints as ckpt
from winoprune.training.pipeline import Callbacks, EpochReport
from winoprune.training.stages import StagePlan
from worker import leases
from worker.context import WorkerContext
from worker.heartbeat import LEASE_LOST, StopControl
from worker.system_figures import SystemSampler

logger = logging.getLogger("winoprune.worker.reporting")

METRIC_KEYS = ["run_id", "stage", "epoch", "key"]
LAYER_KEYS = ["run_id", "stage", "epoch", "layer", "domain"]
LAYER_FIELDS = (
    "layer", "domain", "numel", "nnz", "sparsity", "multiplications", "mult_direct",
    "activation_density", "mult_activation_sparse",  # Winograd-ReLU layers only, else None
    "additions", "energy_pj",  # pruning.operations (None for DWM rows)
)  # fmt: skip
MAX_LOG_CHARS = 2000


@dataclass(frozen=True)
class RunRef:
    """The columns of a run the callbacks need (the ORM object stays in its own session)."""

    id: int
    project_id: int
    created_by_id: int | None
    model_name: str


def finite_or_none(value: Any) -> float | None:
    """A metric value for the database: NaN and infinities become NULL."""
    number = float(value)
    return number if math.isfinite(number) else None


class DbReporter(Callbacks):
    """Writes a running pipeline's progress into the database (see the module docstring)."""

    def __init__(
        self,
        ctx: WorkerContext,
        run: RunRef,
        owner: str,
        control: StopControl,
        environment: dict[str, str],
    ) -> None:
        self.ctx, self.run, self.owner, self.control = ctx, run, owner, control
        self.environment = environment
        self.final_checkpoints: dict[int, str] = {}  # stage -> key of its stage_done checkpoint
        self.system = SystemSampler(environment.get("device", "cpu"))

    # -- plumbing -----------------------------------------------------------------------------
    def _transaction(self, write: Callable[[Session], None], **run_values: Any) -> bool:
        """Run ``write`` and the run update in one transaction, only while the lease is held."""
        with self.ctx.session() as session:
            if not leases.touch(session, self.run.id, self.owner, **run_values):
                session.rollback()
                self.control.request(LEASE_LOST)
                return False
            write(session)
            session.commit()
        return True

    def _notify(self, session: Session, kind: str, **data: Any) -> None:
        publish(session, self.run.project_id, self.run.id, kind, **data)

    def _set_stage(self, session: Session, index: int, **values: Any) -> None:
        session.execute(
            update(Stage)
            .where(Stage.run_id == self.run.id, Stage.index == index)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    # -- callbacks ----------------------------------------------------------------------------
    def on_stage_start(self, plan: StagePlan) -> None:
        def write(session: Session) -> None:
            self._set_stage(
                session,
                plan.index,
                status="running",
                started_at=utcnow(),
                finished_at=None,
                duration_s=None,
            )
            self._notify(
                session,
                "stage.started",
                stage=plan.index,
                type=plan.type,
                target=plan.target,
                epochs=plan.epochs,
            )

        self._transaction(write, progress_stage=plan.index, progress_epoch=None)

    def on_epoch(self, report: EpochReport) -> None:
        values = {**report.metrics, **report.summary}
        metric_rows = [
            {
                "run_id": self.run.id,
                "stage": report.stage,
                "epoch": report.epoch,
                "key": key,
                "value": finite_or_none(value),
            }
            for key, value in values.items()
        ]
        layer_rows = [
            {
                "run_id": self.run.id,
                "stage": report.stage,
                "epoch": report.epoch,
                **{name: getattr(row, name) for name in LAYER_FIELDS},
            }
            for row in report.layers
        ]

        def write(session: Session) -> None:
            upsert(session, Metric.__table__, metric_rows, METRIC_KEYS)  # type: ignore[arg-type]
            upsert(session, LayerStat.__table__, layer_rows, LAYER_KEYS)  # type: ignore[arg-type]
            refresh_summary(session, self.run.id, [report.stage])  # sortable final metrics
            # a stage resumed mid-way gets no on_stage_start: mark it running here
            session.execute(
                update(Stage)
                .where(
                    Stage.run_id == self.run.id,
                    Stage.index == report.stage,
                    Stage.status != "running",
                )
                .values(status="running", finished_at=None)
                .execution_options(synchronize_session=False)
            )
            where = {"stage": report.stage, "epoch": report.epoch}
            self._notify(session, "metrics", **where)
            self._notify(session, "layers", **where)
            self._notify(
                session,
                "run.progress",
                **where,
                top1=values.get("top1"),
                winograd_sparsity=values.get("winograd_sparsity"),
            )

        system = self.system.sample(report.stage)
        self._transaction(
            write, progress_stage=report.stage, progress_epoch=report.epoch, system=system
        )

    def on_stage_end(self, plan: StagePlan, result: dict[str, Any]) -> None:
        def write(session: Session) -> None:
            stage = session.scalar(
                select(Stage).where(Stage.run_id == self.run.id, Stage.index == plan.index)
            )
            if stage is None:
                return
            now = utcnow()
            stage.status, stage.finished_at = "succeeded", now
            stage.checkpoint = self.final_checkpoints.get(plan.index, stage.checkpoint)
            stage.sparsity = finite_or_none(result["winograd_sparsity"])
            stage.accuracy = finite_or_none(result["top1"])
            if stage.started_at is not None:
                stage.duration_s = (now - stage.started_at).total_seconds()
            self._notify(
                session,
                "stage.finished",
                stage=plan.index,
                status="succeeded",
                top1=stage.accuracy,
                winograd_sparsity=stage.sparsity,
            )

        self._transaction(write)

    def on_checkpoint(self, path: Path, meta: ckpt.CheckpointMeta) -> None:
        self.ctx.store.publish(path)
        key = self.ctx.store.key(path)
        if meta.stage_done:
            self.final_checkpoints[meta.stage] = key
        size, digest = file_digest(path)
        stale: list[str] = []

        def write(session: Session) -> None:
            artifact = self._artifact_row(session, key)
            artifact.name, artifact.size, artifact.sha256 = path.name, size, digest
            artifact.meta = {
                "stage": meta.stage,
                "epoch": meta.epoch,
                "step": meta.step,
                "stage_done": meta.stage_done,
                "environment": self.environment,
                "sidecar": json.loads(json.dumps(asdict(meta))),
            }
            session.flush()
            stale.extend(self._drop_pruned_rows(session, path.parent))
            self._notify(
                session,
                "artifact.created",
                artifact_id=artifact.id,
                stage=meta.stage,
                epoch=meta.epoch,
                step=meta.step,
            )

        if self._transaction(write) and stale:
            self.ctx.store.remove(stale)  # the pipeline pruned them locally; S3 keeps copies

    def _artifact_row(self, session: Session, key: str) -> Artifact:
        artifact = session.scalar(
            select(Artifact).where(Artifact.run_id == self.run.id, Artifact.path == key)
        )
        if artifact is None:
            artifact = Artifact(
                project_id=self.run.project_id,
                run_id=self.run.id,
                kind="checkpoint",
                path=key,
                created_by_id=self.run.created_by_id,
                model_name=self.run.model_name,
            )
            session.add(artifact)
        return artifact

    def _drop_pruned_rows(self, session: Session, folder: Path) -> list[str]:
        """Delete checkpoint rows whose file the pipeline pruned; returns their keys."""
        present = {self.ctx.store.key(p) for p in folder.glob("*.safetensors")}
        rows = session.execute(
            select(Artifact.id, Artifact.path).where(
                Artifact.run_id == self.run.id, Artifact.kind == "checkpoint"
            )
        ).all()
        gone = [(row_id, key) for row_id, key in rows if key not in present]
        if gone:
            session.execute(delete(Artifact).where(Artifact.id.in_([g[0] for g in gone])))
        return [key for _, key in gone]

    def on_log(self, message: str) -> None:
        logger.info("run %s: %s", self.run.id, message)
        self._transaction(
            lambda session: self._notify(session, "log", message=message[:MAX_LOG_CHARS])
        )

    def should_stop(self) -> bool:
        return self.control.should_stop()
