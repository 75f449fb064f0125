"""One time slice of a run: claim its lease, drive the winoprune pipeline, settle the outcome.

A slice trains for at most ``worker_slice_minutes``, then stops cooperatively (the pipeline
checkpoints, mid-epoch if need be), hands the lease over and enqueues the next slice. Errors of
the run itself (bad recipe or data path, NaN loss) fail it at once with the message; any other
error is an infrastructure failure, retried until ``worker_max_attempts``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from server.db.base import utcnow
from server.db.models import Artifact, Run
from server.events.service import publish
from winoprune.recipes import Recipe, RecipeError, parse_recipe
from winoprune.training.pipeline import Pipeline, PipelineResult
from worker import leases
from worker.checkpoints import truncate_from_stage
from worker.context import WorkerContext
from worker.data_roots import check_data_root
from worker.environment import select_device, software_versions
from worker.heartbeat import CANCELLED, SHUTDOWN, SLICE_END, Heartbeat, StopControl
from worker.reporting import DbReporter, RunRef
from worker.settle import settle_stages

logger = logging.getLogger("winoprune.worker.runner")

# Errors of the run itself: retrying cannot help, so the run fails with the message.
RUN_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    FileNotFoundError,
    NotADirectoryError,
    FloatingPointError,
)
ARTIFACT_SCHEME = "artifact:"
# enqueue(run_id, token=..., countdown=...): hands the next slice to the queue
Enqueue = Callable[..., None]


@dataclass(frozen=True)
class RunRow:
    """What a slice reads of its run."""

    ref: RunRef
    recipe: dict[str, Any]
    cancel_requested: bool
    first_unfinished_stage: int | None
    restart_from: int | None = None  # retry "restart the stage" / resume: drop checkpoints


def run_slice(ctx: WorkerContext, run_id: int, token: str | None, enqueue: Enqueue) -> str:
    """Execute one slice of ``run_id``; returns what happened (for the task's log)."""
    settings = ctx.settings
    owner = leases.new_owner_id()
    with ctx.session() as session:
        won = leases.claim(
            session, run_id, owner, token, settings.worker_lease_s, settings.worker_max_attempts
        )
    if won is None:
        logger.info("run %s: not claimable (running elsewhere, finished or stale)", run_id)
        return "not claimed"
    control = StopControl(deadline=time.monotonic() + settings.worker_slice_minutes * 60)
    beat = Heartbeat(
        ctx.session_factory,
        run_id,
        owner,
        control,
        settings.worker_heartbeat_s,
        settings.worker_lease_s,
    )
    beat.start()
    try:
        return _train(ctx, won, control, enqueue)
    except RUN_ERRORS as exc:
        logger.warning("run %s failed: %s", run_id, describe_error(exc))
        finish(ctx, won, "failed", describe_error(exc))
        return "failed"
    except Exception as exc:
        logger.exception("run %s: infrastructure error", run_id)
        return _retry_later(ctx, won, exc, enqueue)
    finally:
        beat.stop()


def describe_error(exc: BaseException) -> str:
    """The message a user sees for a failed run (recipe errors list every field)."""
    if isinstance(exc, RecipeError):
        return "; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors)
    if isinstance(exc, FloatingPointError):
        return f"training diverged: {exc}"
    return str(exc) or type(exc).__name__


def _train(ctx: WorkerContext, won: leases.Claim, control: StopControl, enqueue: Enqueue) -> str:
    row = _load_run(ctx, won.run_id)
    if row.cancel_requested:
        finish(ctx, won, "cancelled", "cancelled on request")
        return "cancelled"
    recipe = parse_recipe(row.recipe)
    check_data_root(recipe, ctx.settings)
    device = select_device(recipe.device)
    environment = software_versions(device)
    _announce(ctx, won, row.ref, environment)
    run_dir = ctx.store.run_dir(row.ref.project_id, won.run_id)
    ctx.store.fetch(run_dir)
    if won.fresh and row.restart_from is not None:  # else: continue from the latest checkpoint
        _restart_at(ctx, won, run_dir, row.restart_from)
    reporter = DbReporter(ctx, row.ref, won.owner, control, environment)
    pipeline = Pipeline(recipe, run_dir, reporter, _init_weights(ctx, recipe))
    return _conclude(ctx, won, control, pipeline.run(), enqueue)


def _load_run(ctx: WorkerContext, run_id: int) -> RunRow:
    with ctx.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise LookupError(f"run_id: no run {run_id}")
        pending = [s.index for s in run.stages if s.status != "succeeded"]
        ref = RunRef(run.id, run.project_id, run.created_by_id, run.model_name)
        first = min(pending) if pending else None
        return RunRow(ref, run.recipe, run.cancel_requested, first, run.restart_from)


def _announce(ctx: WorkerContext, won: leases.Claim, ref: RunRef, env: dict[str, str]) -> None:
    """Record the device; a (re)start also gets a notice with the software versions."""
    with ctx.session() as session:
        if not leases.touch(session, won.run_id, won.owner, device=env["device"]):
            raise LookupError(f"run {won.run_id}: lease lost before training started")
        if won.kind != "handoff":
            publish(
                session,
                ref.project_id,
                ref.id,
                "run.started",
                status="running",
                worker=won.owner,
                attempt=won.attempt,
                environment=env,
            )
        session.commit()


def _restart_at(ctx: WorkerContext, won: leases.Claim, run_dir: Path, stage: int) -> None:
    """Retry/resume from ``stage``: drop the checkpoints after stage - 1's final one."""
    removed = [ctx.store.key(path) for path in truncate_from_stage(run_dir, stage)]
    ctx.store.remove(removed)
    with ctx.session() as session:
        if removed:
            session.execute(
                delete(Artifact).where(Artifact.run_id == won.run_id, Artifact.path.in_(removed))
            )
        session.execute(update(Run).where(Run.id == won.run_id).values(restart_from=None))
        session.commit()
    if not removed:
        return
    logger.info(
        "run %s: restarting at stage %s, removed %d checkpoint(s)", won.run_id, stage, len(removed)
    )


def _init_weights(ctx: WorkerContext, recipe: Recipe) -> Path | None:
    """The file behind ``init_checkpoint: artifact:<id>`` (the service accepts nothing else)."""
    value = recipe.init_checkpoint
    if not value:
        return None
    if not value.startswith(ARTIFACT_SCHEME) or not value[len(ARTIFACT_SCHEME) :].isdigit():
        raise ValueError(f"init_checkpoint: expected 'artifact:<id>', got {value!r}")
    with ctx.session() as session:
        artifact = session.get(Artifact, int(value[len(ARTIFACT_SCHEME) :]))
    path = None if artifact is None else ctx.store.root / artifact.path
    if path is None or not path.is_file():
        raise FileNotFoundError(f"init_checkpoint: the file of {value} is missing")
    return path


def _conclude(
    ctx: WorkerContext,
    won: leases.Claim,
    control: StopControl,
    result: PipelineResult,
    enqueue: Enqueue,
) -> str:
    if result.status == "succeeded":
        finish(ctx, won, "succeeded")
        return "succeeded"
    if control.reason == CANCELLED:
        finish(ctx, won, "cancelled", "cancelled on request")
        return "cancelled"
    if control.reason in (SLICE_END, SHUTDOWN):  # a shutdown hands over too: no attempt counted
        with ctx.session() as session:
            token = leases.hand_over(session, won.run_id, won.owner)
        if token is not None:
            enqueue(won.run_id, token=token)
            return "slice done"
    logger.warning("run %s: lost its lease; another worker carries on", won.run_id)
    return "lease lost"


def _retry_later(ctx: WorkerContext, won: leases.Claim, exc: Exception, enqueue: Enqueue) -> str:
    """An infrastructure error: try again after a delay, or give up after the last attempt."""
    reason = f"{type(exc).__name__}: {exc}"[:1000]
    if won.attempt >= ctx.settings.worker_max_attempts:
        finish(ctx, won, "failed", f"gave up after {won.attempt} attempts: {reason}")
        return "failed"
    with ctx.session() as session:
        token = leases.hand_over(session, won.run_id, won.owner, count_attempt=True)
        if token is not None:
            publish(
                session,
                won_project(session, won.run_id),
                won.run_id,
                "log",
                message=f"attempt {won.attempt} failed ({reason}); retrying",
            )
            session.commit()
    if token is not None:
        enqueue(won.run_id, token=token, countdown=ctx.settings.worker_retry_delay_s)
    return "retrying"


def won_project(session: Session, run_id: int) -> int:
    """The project id of a run."""
    return int(session.scalar(select(Run.project_id).where(Run.id == run_id)) or 0)


def finish(ctx: WorkerContext, won: leases.Claim, status: str, error: str | None = None) -> bool:
    """End the run (fenced by the lease): status, error, stage rows, a "run.finished" notice."""
    with ctx.session() as session:
        held = leases.touch(
            session,
            won.run_id,
            won.owner,
            status=status,
            error=error,
            finished_at=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
        if not held:
            session.rollback()
            return False
        settle_stages(session, won.run_id, status)
        publish(
            session,
            won_project(session, won.run_id),
            won.run_id,
            "run.finished",
            status=status,
            error=error,
        )
        session.commit()
    return True
