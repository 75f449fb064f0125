"""Request bodies of the user-management endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from server.auth.schemas import USERNAME_PATTERN


class UserCreate(BaseModel):
    """A new user (admin only, or open sign-up when enabled)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=1000)
    is_admin: bool = False


class SignUp(BaseModel):
    """Self-service sign-up (only when WINOPRUNE_ALLOW_SIGNUP=true)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=1000)


class UserUpdate(BaseModel):
    """Admin changes to a user."""

    model_config = ConfigDict(extra="forbid")
    is_active: bool | None = None
    is_admin: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1000)
