"""Bodies of the speed routes: one benchmark of an export (what `winoprune export --benchmark`
writes to speed.json), and the stored row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from server.params import NoNul

MAX_MS = 1e9  # a batch slower than 11.6 days is a unit error, not a measurement
MAX_LAYERS = 1_000
# speedup vs conv2d_ms / export_ms: speed.json keeps the full floats; a client that rounds
# the times to three significant digits still agrees within this
SPEEDUP_RTOL = 1e-2
FUTURE_SLACK = timedelta(days=1)  # clocks of the benchmarking machine and the service differ
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # also keeps UTC conversion inside year 1..9999

Millis = Annotated[float, Field(gt=0, le=MAX_MS, allow_inf_nan=False)]
Text200 = Annotated[str, Field(min_length=1, max_length=200), NoNul]
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class LayerSpeed(BaseModel):
    """One Winograd layer's median time as conv2d and as the sparse export, per batch."""

    model_config = STRICT
    conv2d_ms: Millis
    sparse_ms: Millis
    speedup: float = Field(gt=0, le=1e6)
    strategy: Annotated[str, Field(max_length=64), NoNul] | None = None


class SpeedCreate(BaseModel):
    """A benchmark of one export of the run: the weights it timed (sha256), where and how."""

    model_config = STRICT
    checkpoint: Text200 | None = Field(default=None, description="the exported checkpoint")
    stage: int | None = Field(default=None, ge=-1, le=10_000)
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="the export's weights")
    batch: int = Field(ge=1, le=65_536)
    threads: int = Field(ge=1, le=4_096)
    machine: Text200 = Field(description="the host it ran on (part of the idempotency key)")
    cpu: Text200 | None = None
    torch: Annotated[str, Field(min_length=1, max_length=64), NoNul] | None = None
    conv2d_ms: Millis = Field(description="the network as F.conv2d, median ms per batch")
    export_ms: Millis = Field(description="the sparse-Winograd export, median ms per batch")
    speedup: float = Field(gt=0, le=1e6, description="conv2d_ms / export_ms")
    measured_at: datetime
    layers: dict[Text200, LayerSpeed] = Field(default_factory=dict, max_length=MAX_LAYERS)

    @field_validator("speedup")
    @classmethod
    def _consistent(cls, value: float, info: ValidationInfo) -> float:
        conv, sparse = info.data.get("conv2d_ms"), info.data.get("export_ms")
        if conv is not None and sparse is not None:
            expected = conv / sparse
            if abs(value - expected) > SPEEDUP_RTOL * expected:
                raise ValueError(
                    f"must equal conv2d_ms / export_ms = {expected:.4g} (got {value:.4g})"
                )
        return value

    @field_validator("measured_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        if value > datetime.now(UTC) + FUTURE_SLACK:
            raise ValueError("must not lie in the future")
        if value < EARLIEST:
            raise ValueError(f"must lie after {EARLIEST.date()}")
        return value.astimezone(UTC)


class SpeedOut(BaseModel):
    """A stored measurement."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    run_id: int
    checkpoint: str | None
    stage: int | None
    weights_sha256: str
    batch: int
    threads: int
    machine: str
    cpu: str | None
    torch: str | None
    conv2d_ms: float
    export_ms: float
    speedup: float
    measured_at: datetime
    layers: dict[str, Any]
    created_at: datetime
    updated_at: datetime
