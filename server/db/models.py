"""The tables: users, projects, memberships, tokens, runs, stages, results, artifacts, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base, BigId, UTCDateTime, in_values, utcnow

RUN_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATES = ("succeeded", "failed", "cancelled")
STAGE_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "skipped")
ROLES = ("viewer", "editor", "owner")
ARTIFACT_KINDS = ("checkpoint", "pretrained", "export")
LAYER_DOMAINS = ("spatial", "winograd")
# issue 15: a run's metrics at its latest (stage, epoch), kept by the worker and tracking paths
FINAL_METRIC_COLUMNS = (
    "final_top1", "final_winograd_sparsity", "final_mult_reduction", "final_loss"
)  # fmt: skip
PRETRAIN_STAGE = -1  # stage index of the dense pre-training phase (recipe stages count from 0)


class User(Base):
    """A person (or service account) who logs in."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout: every JWT issued before carries an older generation and is refused.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Project(Base):
    """A team's shared space; every run and artifact belongs to one."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Membership(Base):
    """A user's role in a project."""

    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint(in_values("role", ROLES), name="role"),)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A personal API token; only its sha256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(100))  # space separated: "read write"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # issue 15: a token limited to one project (NULL: every project of its user)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))


class Run(Base):
    """One pruning job: a validated recipe, its state machine and its progress."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(in_values("status", RUN_STATES), name="status"),
        UniqueConstraint("created_by_id", "idempotency_key"),
        Index("ix_runs_created_at_id", "created_at", "id"),
        Index("ix_runs_project_id_created_at_id", "project_id", "created_at", "id"),
        Index("ix_runs_project_id_updated_at_id", "project_id", "updated_at", "id"),
        Index("ix_runs_status_created_at", "status", "created_at"),
        # issue 15: metric sorts (a sort by a metric lists the runs that have it)
        *(
            Index(f"ix_runs_project_id_{name}_id", "project_id", name, "id")
            for name in FINAL_METRIC_COLUMNS
        ),
        # across projects (a caller in several): walk the metric's order, skip other projects
        *(Index(f"ix_runs_{name}_id", name, "id") for name in FINAL_METRIC_COLUMNS),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON)
    recipe_sha256: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(64), index=True)
    model_name: Mapped[str] = mapped_column(String(64), index=True)
    dataset_name: Mapped[str] = mapped_column(String(64), index=True)
    # issue 16: the tile's label ("F(4,3)"), for the runs list, its search and the Pareto groups
    tile: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    device: Mapped[str | None] = mapped_column(String(64))
    progress_stage: Mapped[int | None] = mapped_column(Integer)
    progress_epoch: Mapped[int | None] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # issue 15: runs made outside the workers (tracking API), and final metrics to sort on
    external: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    description: Mapped[str | None] = mapped_column(Text)
    final_top1: Mapped[float | None] = mapped_column(Float)
    final_winograd_sparsity: Mapped[float | None] = mapped_column(Float)
    final_mult_reduction: Mapped[float | None] = mapped_column(Float)
    final_loss: Mapped[float | None] = mapped_column(Float)
    # each multiplication total at the latest (stage, epoch) that has it: the list's
    # mult_reduction without two subqueries per row (kept with the final metrics)
    latest_mult_direct: Mapped[float | None] = mapped_column(Float)
    latest_mult_sparse: Mapped[float | None] = mapped_column(Float)
    # issue 16: hidden from lists by default; the stage whose checkpoints the next start drops
    # (retry "restart the stage", resume; NULL: continue from the latest checkpoint); the
    # worker's latest system figures (device, cpu/gpu use, memory, epoch time)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restart_from: Mapped[int | None] = mapped_column(Integer)
    system: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    created_by: Mapped[User | None] = relationship(lazy="joined")
    stages: Mapped[list[Stage]] = relationship(
        order_by="Stage.index", cascade="all, delete-orphan", passive_deletes=True
    )
    tag_rows: Mapped[list[RunTag]] = relationship(
        order_by="RunTag.tag", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def tags(self) -> list[str]:
        """The run's tags, sorted."""
        return [row.tag for row in self.tag_rows]


class RunTag(Base):
    """One tag of a run (a row per tag keeps the tag filter an indexed lookup)."""

    __tablename__ = "run_tags"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Stage(Base):
    """One stage of a run (index -1 is dense pre-training, 0.. are the recipe's stages)."""

    __tablename__ = "stages"
    __table_args__ = (
        UniqueConstraint("run_id", "index"),
        CheckConstraint(in_values("status", STAGE_STATES), name="status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    target: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    checkpoint: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_s: Mapped[float | None] = mapped_column(Float)
    sparsity: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    # issue 15: at the stage's last epoch (test loss, multiplication reduction)
    loss: Mapped[float | None] = mapped_column(Float)
    mult_reduction: Mapped[float | None] = mapped_column(Float)


class TrackingBatch(Base):
    """A batch an external run's client posted (issue 15): its key makes a retry a no-op."""

    __tablename__ = "tracking_batches"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    metrics: Mapped[int] = mapped_column(Integer, default=0)
    layers: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Metric(Base):
    """One scalar (loss, accuracy, ...) of a run at (stage, epoch)."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "stage", "epoch", "key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    stage: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)


class LayerStat(Base):
    """Per-layer counts of a run at (stage, epoch) in one domain (spatial or winograd)."""

    __tablename__ = "layer_stats"
    __table_args__ = (
        UniqueConstraint("run_id", "stage", "epoch", "layer", "domain"),
        CheckConstraint(in_values("domain", LAYER_DOMAINS), name="domain"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    stage: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int] = mapped_column(Integer)
    layer: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(16))
    numel: Mapped[int] = mapped_column(BigInteger)
    nnz: Mapped[int] = mapped_column(BigInteger)
    sparsity: Mapped[float] = mapped_column(Float)
    multiplications: Mapped[int] = mapped_column(BigInteger)
    # Winograd-ReLU layers' winograd rows only (Liu et al. 2018): the nonzero share of the
    # transformed activations on the evaluation set, and the products per image with both
    # factors nonzero (beside the weight-only ``multiplications``)
    activation_density: Mapped[float | None] = mapped_column(Float)
    mult_activation_sparse: Mapped[int | None] = mapped_column(BigInteger)
    # the layer's direct-convolution cost per image as the worker computed it (rows written
    # before it existed: NULL, and server.results.reduction derives it from the spatial rows)
    mult_direct: Mapped[int | None] = mapped_column(BigInteger)
    # additions per image and the energy estimate in pJ (winoprune.pruning.operations: fp32
    # add 0.9 pJ, mult 3.7 pJ, Horowitz ISSCC 2014); NULL for rows written before them and DWM
    additions: Mapped[int | None] = mapped_column(BigInteger)
    energy_pj: Mapped[float | None] = mapped_column(Float)


class Artifact(Base):
    """A stored file: a run's checkpoint, uploaded pretrained weights, or an export."""

    __tablename__ = "artifacts"
    __table_args__ = (CheckConstraint(in_values("kind", ARTIFACT_KINDS), name="kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(500))  # relative to the artifacts root
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Event(Base):
    """A change notice; SSE streams poll this table (works across processes, any database)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_project_id_id", "project_id", "id"),
        Index("ix_events_run_id_id", "run_id", "id"),
        Index("ix_events_scan_id_id", "scan_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(Integer)  # no FK: "run.deleted" outlives the run
    scan_id: Mapped[int | None] = mapped_column(Integer)  # a sensitivity scan's notices (no FK)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuthFailure(Base):
    """One failed login or password check, counted per key by every service process."""

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_key_created_at", "key", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # "login:<name>:<client>", "password:<id>"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkerInfo(Base):
    """A live worker's advertisement (issue 16): its devices and data roots, renewed by the
    worker's main process; rows older than the liveness window are ignored."""

    __tablename__ = "workers"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    devices: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_roots: Mapped[list[str]] = mapped_column(JSON, default=list)
    datasets: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


# issue 17: the sensitivity scans' tables live in their own module (registered on the metadata)
from server.db.sensitivity_models import SensitivityPoint, SensitivityScan  # noqa: E402, F401

# issue 18: the measured speed of a run's exports
from server.db.speed_models import SpeedMeasurement  # noqa: E402, F401
