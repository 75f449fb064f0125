"""Request and response bodies of the sensitivity endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.params import IdField, IndexField

ScanStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Fraction = Annotated[float, Field(ge=0, lt=1)]


class ScanCreate(BaseModel):
    """Start a scan from a run's stage checkpoint, an uploaded artifact or a recipe's start."""

    model_config = ConfigDict(extra="forbid")
    project: IdField | None = Field(default=None, description="required unless source is run")
    source: Literal["run", "artifact", "recipe"]
    run_id: IdField | None = None
    stage: IndexField | None = Field(default=None, ge=-1, description="run source: the stage")
    artifact_id: IdField | None = None
    recipe: dict[str, Any] | str | None = Field(
        default=None, description="artifact/recipe sources: the model, data and tile"
    )
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    method: Literal["spatial-structured", "winograd-direct", "native-winograd", "winograd-relu"]
    grid: list[Fraction] | None = Field(default=None, min_length=1, max_length=100)
    val_size: int = Field(default=1000, ge=1, le=1_000_000)
    retrain_steps: int = Field(default=0, ge=0, le=10_000)
    retrain_lr: float = Field(default=0.01, gt=0, le=10)
    chunk_size: int = Field(default=0, ge=0, le=100, description="grid points per task; 0: all")


class ScanOut(BaseModel):
    """A scan and its progress."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    project_id: int
    name: str
    source: str
    run_id: int | None
    stage: int | None
    artifact_id: int | None
    method: str
    options: dict[str, Any]
    chunk_size: int
    layers: list[dict[str, Any]] | None
    baseline: dict[str, Any] | None
    status: ScanStatus
    error: str | None
    cancel_requested: bool
    points_total: int | None
    points_done: int = 0
    attempt_count: int = Field(default=0, description="deliveries to the workers (sweeper)")
    heartbeat_at: datetime | None = Field(default=None, description="its tasks' last beat")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ScanDetail(ScanOut):
    """A scan with its recipe."""

    recipe: dict[str, Any]


class ScanPage(BaseModel):
    items: list[ScanOut]


class PointOut(BaseModel):
    """One point: layer alone pruned to ``target`` (grid index ``grid_index``)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    layer: str
    grid_index: int
    target: float
    sparsity: float
    accuracy: float
    loss: float
    multiplications: int
    mult_saved: int


class PointPage(BaseModel):
    """Points after the cursor ``after`` (a point id), oldest first; ``next`` is the last id."""

    items: list[PointOut]
    next: int | None


class AllocateBody(BaseModel):
    """A global target: overall Winograd sparsity or fraction of multiplications saved."""

    model_config = ConfigDict(extra="forbid")
    target: Fraction
    budget: Literal["sparsity", "multiplications"] = "sparsity"
    metric: Literal["loss", "accuracy"] = "loss"


class AllocationOut(BaseModel):
    """Per-layer targets, what they reach and the predicted metrics; ``curve`` predicts the
    allocation at every global target of 0..0.95."""

    targets: dict[str, float]
    achieved: float
    predicted_loss: float
    predicted_accuracy: float
    curve: list[dict[str, float]]
    overrides: dict[str, float] = Field(description="the recipe's layers.overrides to use")
