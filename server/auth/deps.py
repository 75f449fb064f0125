"""Request authentication: JWT cookie (browser) or bearer JWT / personal token, plus CSRF."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from server.auth import service
from server.config import Settings
from server.db.models import User
from server.db.session import get_session
from server.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-Requested-With"

DbSession = Annotated[Session, Depends(get_session)]


@dataclass
class Principal:
    """Who is calling and how: via "cookie", "bearer" (JWT) or "token" (personal token)."""

    user: User
    via: str
    scopes: set[str] = field(default_factory=lambda: {"read", "write"})


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def _unauthorized(message: str = "not authenticated") -> ApiError:
    return ApiError(401, message, field="Authorization", headers={"WWW-Authenticate": "Bearer"})


def current_principal(request: Request, session: DbSession) -> Principal:
    """Authenticate the request; unsafe cookie requests must carry the CSRF header."""
    settings = get_settings(request)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _unauthorized("Authorization: expected 'Bearer <token>'")
        return _principal_from_bearer(session, settings, credential.strip())
    cookie = request.cookies.get(settings.cookie_name)
    if not cookie:
        raise _unauthorized()
    user = service.user_from_jwt(session, settings, cookie)
    if user is None:
        raise _unauthorized("session expired or invalid")
    # A custom header cannot be sent cross-site without a CORS preflight (which we never allow),
    # so requiring it on unsafe cookie requests blocks cross-site request forgery.
    if request.method not in SAFE_METHODS and not request.headers.get(CSRF_HEADER):
        raise ApiError(
            403, f"{CSRF_HEADER}: required on cookie-authenticated requests", field=CSRF_HEADER
        )
    return Principal(user=user, via="cookie")


def _principal_from_bearer(session: Session, settings: Settings, credential: str) -> Principal:
    if credential.startswith(service.TOKEN_PREFIX):
        found = service.user_from_api_token(session, credential)
        if found is None:
            raise _unauthorized("token invalid, expired or revoked")
        token_user, grant = found
        # a project-scoped token: projects.service limits every lookup of this request to it
        token_user.token_project_id = grant.project_id  # type: ignore[attr-defined]
        return Principal(user=token_user, via="token", scopes=set(grant.scopes))
    jwt_user = service.user_from_jwt(session, settings, credential)
    if jwt_user is None:
        raise _unauthorized("token invalid or expired")
    return Principal(user=jwt_user, via="bearer")


async def authorized_principal(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    """The principal, after checking its token scopes allow this method."""
    needed = "read" if request.method in SAFE_METHODS else "write"
    if needed not in principal.scopes:
        raise ApiError(403, f"scopes: this token lacks the '{needed}' scope", field="scopes")
    return principal


async def current_user(principal: Annotated[Principal, Depends(authorized_principal)]) -> User:
    """The authenticated user."""
    return principal.user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    """The authenticated user, who must be an administrator."""
    if not user.is_admin:
        raise ApiError(403, "admin rights required")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
CurrentPrincipal = Annotated[Principal, Depends(authorized_principal)]
