"""Response bodies of the artifact endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ArtifactOut(BaseModel):
    """A stored file's metadata; download it by id."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    project_id: int
    run_id: int | None
    kind: str
    name: str
    size: int
    sha256: str
    model_name: str | None
    meta: dict[str, Any]
    created_at: datetime
