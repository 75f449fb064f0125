"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.params import IdField, NoNul

USERNAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class LoginResponse(BaseModel):
    """A bearer JWT (also set as the HttpOnly session cookie)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int


class UserOut(BaseModel):
    """A user as the API shows it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class TokenCreate(BaseModel):
    """A new personal API token."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, NoNul] = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "write"]] = Field(default=["read", "write"], min_length=1)
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)
    project: IdField | None = Field(
        default=None, description="limit the token to this project (you must be a member)"
    )


class TokenOut(BaseModel):
    """A personal token's metadata (never its secret)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    scopes: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    project_id: int | None = None


class TokenCreated(TokenOut):
    """A just-created token: `token` is shown this once only."""

    token: str


class PasswordChange(BaseModel):
    """Change one's own password."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=1000)
    new_password: str = Field(min_length=8, max_length=1000)
    revoke_tokens: bool = False  # also revoke every personal API token
