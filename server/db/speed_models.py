"""Measured speed of a run's exports (issue 18): one row per benchmark of an export's weights
on a machine at a batch size and thread count (``winoprune export --benchmark``'s speed.json).
``server.db.models`` imports this module so that the metadata holds it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, UTCDateTime, utcnow


class SpeedMeasurement(Base):
    """conv2d and sparse-Winograd export times of one run's export; unique on (run, weights,
    batch, threads, machine), so a retried publish updates the row instead of adding one."""

    __tablename__ = "speed_measurements"
    __table_args__ = (
        # named here: the convention's name (all five columns) passes PostgreSQL's 63 characters
        UniqueConstraint(
            "run_id",
            "weights_sha256",
            "batch",
            "threads",
            "machine",
            name="uq_speed_measurements_natural_key",
        ),
        Index("ix_speed_measurements_run_id_measured_at", "run_id", "measured_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    checkpoint: Mapped[str | None] = mapped_column(String(200))  # the exported checkpoint's name
    stage: Mapped[int | None] = mapped_column(Integer)
    weights_sha256: Mapped[str] = mapped_column(String(64))
    batch: Mapped[int] = mapped_column(Integer)
    threads: Mapped[int] = mapped_column(Integer)
    machine: Mapped[str] = mapped_column(String(200))  # host name (or the cpu when unknown)
    cpu: Mapped[str | None] = mapped_column(String(200))
    torch: Mapped[str | None] = mapped_column(String(64))
    conv2d_ms: Mapped[float] = mapped_column(Float)  # whole network, median per batch
    export_ms: Mapped[float] = mapped_column(Float)
    speedup: Mapped[float] = mapped_column(Float)  # conv2d_ms / export_ms
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # {layer: {conv2d_ms, sparse_ms, speedup, strategy}}
    layers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
