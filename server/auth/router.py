"""Auth endpoints: login/logout (JWT + cookie), me, password, personal API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from server.auth import service
from server.auth.deps import CurrentPrincipal, CurrentUser, DbSession, get_settings
from server.auth.passwords import require_strong_password
from server.auth.ratelimit import limiter_key
from server.auth.schemas import (
    LoginResponse,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserOut,
)
from server.db.base import utcnow
from server.errors import ApiError
from server.params import IdPath
from server.projects.service import require_role

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse)
def login(
    request: Request,
    response: Response,
    session: DbSession,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> LoginResponse:
    """Exchange user name and password for a JWT (body and HttpOnly cookie)."""
    limiter = request.app.state.login_limiter
    client = request.client.host if request.client else "unknown"
    key = limiter_key("login", form.username, client)
    wait = limiter.retry_after(key)
    if wait:
        raise ApiError(
            429, "too many failed logins; retry later", "username", {"Retry-After": str(wait)}
        )
    user = service.authenticate(
        session, request.app.state.password_hasher, form.username, form.password
    )
    if user is None:
        limiter.record_failure(key)
        raise ApiError(401, "username or password incorrect", field="password")
    limiter.reset(key)
    settings = get_settings(request)
    token, lifetime = service.create_access_token(settings, user)
    response.set_cookie(
        settings.cookie_name,
        token,
        max_age=lifetime,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return LoginResponse(access_token=token, expires_in=lifetime)


@router.post("/logout", status_code=204)
def logout(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """End every JWT session of the caller and clear the cookie."""
    service.end_sessions(session, user)
    response = Response(status_code=204)
    response.delete_cookie(get_settings(request).cookie_name, path="/")
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The authenticated user."""
    return UserOut.model_validate(user)


@router.post("/password", status_code=204)
def change_password(
    request: Request, session: DbSession, user: CurrentUser, body: PasswordChange
) -> Response:
    """Change one's own password (the current one is required, guesses are throttled).

    Every JWT session ends (log in again); `revoke_tokens` also revokes the personal tokens.
    """
    hasher = request.app.state.password_hasher
    limiter = request.app.state.password_limiter
    key = limiter_key("password", str(user.id))
    wait = limiter.retry_after(key)
    if wait:
        raise ApiError(
            429,
            "too many wrong current passwords; retry later",
            "current_password",
            {"Retry-After": str(wait)},
        )
    if not service.verify_password(hasher, user.password_hash, body.current_password):
        limiter.record_failure(key)
        raise ApiError(422, "current_password: incorrect", field="current_password")
    limiter.reset(key)
    settings = get_settings(request)
    require_strong_password(
        body.new_password, user.username, settings.password_min_score, "new_password"
    )
    user.password_hash = hasher.hash(body.new_password)
    if body.revoke_tokens:
        service.revoke_all_api_tokens(session, user)
    service.end_sessions(session, user)  # bumps the session generation and commits
    response = Response(status_code=204)
    response.delete_cookie(settings.cookie_name, path="/")
    return response


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(
    session: DbSession, principal: CurrentPrincipal, body: TokenCreate
) -> TokenCreated:
    """Create a personal API token; its secret is in this response only."""
    if principal.via == "token":
        raise ApiError(
            403, "tokens can only be created from a login session", field="Authorization"
        )
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    if body.project is not None:
        require_role(session, principal.user, body.project, "viewer")
    row, secret = service.create_api_token(
        session, principal.user, body.name, list(body.scopes), expires, body.project
    )
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=secret)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(session: DbSession, user: CurrentUser) -> list[TokenOut]:
    """The caller's personal tokens (metadata only)."""
    return [TokenOut.model_validate(row) for row in service.list_api_tokens(session, user)]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(session: DbSession, user: CurrentUser, token_id: IdPath) -> Response:
    """Revoke one of the caller's tokens."""
    if not service.revoke_api_token(session, user, token_id):
        raise ApiError(404, "token not found")
    return Response(status_code=204)
