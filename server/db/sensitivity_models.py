"""The sensitivity tables: a scan (a job like a run) and its points, one row per (layer, grid
index). ``server.db.models`` imports this module so that the metadata holds both."""

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
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, BigId, UTCDateTime, in_values, utcnow

SCAN_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
SCAN_SOURCES = ("run", "artifact", "recipe")


class SensitivityScan(Base):
    """One per-layer sensitivity scan: where its weights come from, its options, its state."""

    __tablename__ = "sensitivity_scans"
    __table_args__ = (
        CheckConstraint(in_values("status", SCAN_STATES), name="status"),
        CheckConstraint(in_values("source", SCAN_SOURCES), name="source"),
        Index("ix_sensitivity_scans_project_id_id", "project_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    recipe: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    stage: Mapped[int | None] = mapped_column(Integer)
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # ScanSpec.to_dict()
    chunk_size: Mapped[int] = mapped_column(Integer, default=0)  # grid points per task (0: all)
    layers: Mapped[list[Any] | None] = mapped_column(JSON)  # [{name, numel, mult_dense}]
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {accuracy, loss}
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    points_total: Mapped[int | None] = mapped_column(Integer)
    # liveness for the sweeper (worker/scan_sweeper.py): the scan's tasks touch heartbeat_at
    # while they compute; attempt_count counts its deliveries to the workers
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempt_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SensitivityPoint(Base):
    """Layer ``layer`` alone pruned to grid point ``grid_index`` (= ``target``): its metrics."""

    __tablename__ = "sensitivity_points"
    __table_args__ = (UniqueConstraint("scan_id", "layer", "grid_index"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(
        ForeignKey("sensitivity_scans.id", ondelete="CASCADE"), index=True
    )
    layer: Mapped[str] = mapped_column(String(200))
    grid_index: Mapped[int] = mapped_column(Integer)
    target: Mapped[float] = mapped_column(Float)
    sparsity: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float] = mapped_column(Float)
    loss: Mapped[float] = mapped_column(Float)
    multiplications: Mapped[int] = mapped_column(BigInteger)
    mult_saved: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
