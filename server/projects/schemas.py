"""Request and response bodies of the project and membership endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.auth.schemas import USERNAME_PATTERN
from server.params import NoNul

Role = Literal["viewer", "editor", "owner"]


class ProjectCreate(BaseModel):
    """A new project; its creator becomes its owner."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")
    description: Annotated[str, NoNul] = Field(default="", max_length=10_000)


class ProjectUpdate(BaseModel):
    """Changes to a project (owners)."""

    model_config = ConfigDict(extra="forbid")
    description: Annotated[str | None, NoNul] = Field(default=None, max_length=10_000)


class ProjectOut(BaseModel):
    """A project with the caller's role in it."""

    id: int
    name: str
    description: str
    created_at: datetime
    role: Role


class MemberAdd(BaseModel):
    """Invite a user by name."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN)
    role: Role = "viewer"


class MemberUpdate(BaseModel):
    """Change a member's role."""

    model_config = ConfigDict(extra="forbid")
    role: Role


class MemberOut(BaseModel):
    """A member of a project."""

    user_id: int
    username: str
    role: Role
    created_at: datetime
