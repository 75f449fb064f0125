"""Request and response bodies of the run endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import object_session

from server.params import IdField, IndexField, NoNul
from server.results.reduction import latest_reduction, stage_reductions
from server.runs.queue import queue_info

REDUCTION_TEXT = (
    "multiplication reduction versus direct convolution: direct / sparse Winograd "
    "multiplications per image over all conv layers (null: not measured yet)"
)
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TagStr = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/-]{1,64}$")]


class RunCreate(BaseModel):
    """Submit a run: a recipe (object, or YAML/JSON text) into a project."""

    model_config = ConfigDict(extra="forbid")
    project: IdField
    recipe: dict[str, Any] | str
    tags: list[TagStr] = Field(default_factory=list, max_length=32)
    notes: Annotated[str, NoNul] = Field(default="", max_length=10_000)


class RunPatch(BaseModel):
    """Replace a run's tags and/or notes."""

    model_config = ConfigDict(extra="forbid")
    tags: list[TagStr] | None = Field(default=None, max_length=32)
    notes: Annotated[str | None, NoNul] = Field(default=None, max_length=10_000)
    archived: bool | None = Field(default=None, description="archived runs leave the lists")


class ResumeBody(BaseModel):
    """Re-run a finished run from one stage on (-1 = pre-training, 0.. = recipe stages)."""

    model_config = ConfigDict(extra="forbid")
    stage: IndexField = Field(ge=-1)


class RetryBody(BaseModel):
    """How a retried run goes on: from its latest checkpoint, or its unfinished stage anew."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["continue", "restart"] = "continue"


class CloneBody(BaseModel):
    """Copy a run with recipe changes given as a JSON merge patch (RFC 7396)."""

    model_config = ConfigDict(extra="forbid")
    project: IdField | None = None
    patch: dict[str, Any] = Field(default_factory=dict)
    tags: list[TagStr] | None = Field(default=None, max_length=32)
    notes: Annotated[str | None, NoNul] = Field(default=None, max_length=10_000)


class Progress(BaseModel):
    """Where a running job is."""

    stage: int | None
    epoch: int | None


class StageOut(BaseModel):
    """One stage of a run."""

    model_config = ConfigDict(from_attributes=True)
    index: int
    type: str
    target: float | None
    status: str
    checkpoint: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    sparsity: float | None
    accuracy: float | None
    loss: float | None = None
    mult_reduction: float | None = Field(
        default=None, description=f"at the stage's last epoch; {REDUCTION_TEXT}"
    )


class FinalMetrics(BaseModel):
    """A run's metrics at its latest (stage, epoch): what lists filter and sort on."""

    top1: float | None = None
    winograd_sparsity: float | None = None
    mult_reduction: float | None = None
    loss: float | None = None


class RunOut(BaseModel):
    """A run in lists."""

    id: int
    project_id: int
    name: str
    status: RunStatus
    method: str
    model: str
    dataset: str
    tile: str | None = None
    recipe_sha256: str
    owner: str | None
    tags: list[str]
    notes: str
    attempt_count: int
    error: str | None
    cancel_requested: bool
    device: str | None
    progress: Progress
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    archived_at: datetime | None = None
    mult_reduction: float | None = Field(
        default=None, description=f"at the run's latest epoch; {REDUCTION_TEXT}"
    )
    external: bool = Field(
        default=False, description="made outside the workers and fed by the tracking API"
    )
    final: FinalMetrics = Field(default_factory=FinalMetrics)


class RunDetail(RunOut):
    """A run with its recipe, stages and worker lease."""

    description: str | None = Field(default=None, description="external runs: what ran")

    recipe: dict[str, Any]
    stages: list[StageOut]
    lease_owner: str | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    # POST /runs only: false when the broker was unreachable; the run is queued, not yet sent
    # to a worker, and is re-sent as soon as the broker answers (null on other answers).
    dispatched: bool | None = None
    # issue 16: place in the queue (1 = next), seconds of training left, the worker's figures
    queue_position: int | None = None
    eta_s: float | None = None
    epoch_s: float | None = None
    system: dict[str, Any] | None = None


class RunPage(BaseModel):
    """One page of runs; pass `next_cursor` as `cursor` for the next one (null: the end)."""

    items: list[RunOut]
    next_cursor: str | None


def run_out(run: Any) -> RunOut:
    """A Run row as the list item shape."""
    return RunOut(**_run_fields(run), mult_reduction=latest_reduction(_reductions(run)))


def run_detail(run: Any) -> RunDetail:
    """A Run row with recipe, stages and lease."""
    reductions = _reductions(run)
    return RunDetail(
        **_run_fields(run),
        mult_reduction=latest_reduction(reductions) if reductions else run.final_mult_reduction,
        recipe=run.recipe,
        stages=[
            StageOut.model_validate(s).model_copy(
                update={"mult_reduction": reductions.get(s.index, s.mult_reduction)}
            )
            for s in run.stages
        ],
        lease_owner=run.lease_owner,
        lease_expires_at=run.lease_expires_at,
        heartbeat_at=run.heartbeat_at,
        description=run.description,
        system=run.system,
        **_queue(run),
    )


def _queue(run: Any) -> dict[str, Any]:
    """Queue position and ETA (none when detached)."""
    session = object_session(run)
    return {} if session is None else queue_info(session, run)


def _reductions(run: Any) -> dict[int, float | None]:
    """{stage: multiplication reduction} from the run's metric rows (none when detached)."""
    session = object_session(run)
    return {} if session is None else stage_reductions(session, run.id)


def _run_fields(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "project_id": run.project_id,
        "name": run.name,
        "status": run.status,
        "method": run.method,
        "model": run.model_name,
        "dataset": run.dataset_name,
        "tile": run.tile,
        "recipe_sha256": run.recipe_sha256,
        "owner": run.created_by.username if run.created_by else None,
        "tags": run.tags,
        "notes": run.notes,
        "attempt_count": run.attempt_count,
        "error": run.error,
        "cancel_requested": run.cancel_requested,
        "device": run.device,
        "progress": Progress(stage=run.progress_stage, epoch=run.progress_epoch),
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "archived_at": run.archived_at,
        "external": bool(run.external),
        "final": FinalMetrics(
            top1=run.final_top1,
            winograd_sparsity=run.final_winograd_sparsity,
            mult_reduction=run.final_mult_reduction,
            loss=run.final_loss,
        ),
    }
