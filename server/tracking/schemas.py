"""Bodies of the tracking API: an external run, batches of rows, the finish."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict

from server.params import INT64_MAX, IdField, NoNul
from server.runs.schemas import TagStr

KeyStr = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/-]{1,64}$")]
NameStr = Annotated[str, Field(min_length=1, max_length=64), NoNul]
StageIndex = Annotated[int, Field(ge=-1, le=10_000)]
EpochIndex = Annotated[int, Field(ge=0, le=1_000_000)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
MAX_ROWS = 100_000
STRICT = ConfigDict(extra="forbid")


class ExternalRunCreate(BaseModel):
    """An external run: its recipe (validated as for queued runs) and/or a free-form
    description of what ran (then ``name``, and optionally method/model/dataset, say what)."""

    model_config = STRICT
    project: IdField
    recipe: dict[str, Any] | str | None = None
    description: Annotated[str | None, NoNul] = Field(default=None, max_length=10_000)
    name: NameStr | None = Field(default=None, description="required without a recipe")
    method: NameStr | None = None
    model: NameStr | None = None
    dataset: NameStr | None = None
    device: NameStr | None = None
    tags: list[TagStr] = Field(default_factory=list, max_length=32)
    notes: Annotated[str, NoNul] = Field(default="", max_length=10_000)

    @model_validator(mode="after")
    def _recipe_or_description(self) -> ExternalRunCreate:
        if self.recipe is None and self.description is None:
            raise ValueError("recipe: give a recipe or a description of what ran")
        if self.recipe is None and self.name is None:
            raise ValueError("name: required when there is no recipe")
        return self


class MetricRow(TypedDict):
    """One scalar at (stage, epoch); null (or left out) for a value that is not finite."""

    __pydantic_config__ = STRICT  # type: ignore[misc]
    stage: StageIndex
    epoch: EpochIndex
    key: KeyStr
    value: NotRequired[float | None]


class LayerRow(TypedDict):
    """One layer's counts at (stage, epoch) in one domain (as the workers write them)."""

    __pydantic_config__ = STRICT  # type: ignore[misc]
    stage: StageIndex
    epoch: EpochIndex
    layer: Annotated[str, Field(min_length=1, max_length=200), NoNul]
    domain: Literal["spatial", "winograd"]
    numel: Count
    nnz: Count
    sparsity: Share
    multiplications: Count
    mult_direct: NotRequired[Count | None]
    activation_density: NotRequired[Share | None]
    mult_activation_sparse: NotRequired[Count | None]


class StageRow(BaseModel):
    """A stage's state; created when new (a free-form run has no stages until it reports)."""

    model_config = STRICT
    index: StageIndex
    type: KeyStr | None = Field(default=None, description="required for a new stage")
    target: Share | None = None
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "skipped"]


class Batch(BaseModel):
    """Rows for an external run, stored whole or not at all. Rows are unique on their natural
    keys ((stage, epoch, key) and (stage, epoch, layer, domain)): a row already stored is
    skipped, so a retried batch adds nothing; a ``key`` makes a retry a no-op outright."""

    model_config = STRICT
    key: KeyStr | None = None
    stages: list[StageRow] = Field(default_factory=list, max_length=1_000)
    metrics: list[MetricRow] = Field(default_factory=list, max_length=MAX_ROWS)
    layers: list[LayerRow] = Field(default_factory=list, max_length=MAX_ROWS)


class BatchResult(BaseModel):
    """What a batch stored: new rows (duplicates of stored rows are skipped)."""

    key: str | None
    replayed: bool
    metrics: int
    layers: int
    stages: int


class FinishBody(BaseModel):
    """End an external run."""

    model_config = STRICT
    status: Literal["succeeded", "failed", "cancelled"]
    error: Annotated[str | None, NoNul] = Field(default=None, max_length=10_000)
