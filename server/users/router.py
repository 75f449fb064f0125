"""User endpoints: admins create, list and update users; optional open sign-up."""

from __future__ import annotations

from fastapi import APIRouter, Request

from server.auth.deps import AdminUser, DbSession, get_settings
from server.auth.passwords import require_strong_password
from server.auth.schemas import UserOut
from server.db.models import User
from server.errors import ApiError
from server.params import IdPath
from server.users import service
from server.users.schemas import SignUp, UserCreate, UserUpdate

router = APIRouter(tags=["users"])


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(
    request: Request, session: DbSession, _admin: AdminUser, body: UserCreate
) -> UserOut:
    """Create a user (admin only)."""
    hasher = request.app.state.password_hasher
    min_score = get_settings(request).password_min_score
    require_strong_password(body.password, body.username, min_score)
    user = service.create_user(session, hasher, body.username, body.password, body.is_admin)
    return UserOut.model_validate(user)


@router.get("/users", response_model=list[UserOut])
def list_users(session: DbSession, _admin: AdminUser) -> list[UserOut]:
    """List all users (admin only)."""
    return [UserOut.model_validate(user) for user in service.list_users(session)]


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(
    request: Request, session: DbSession, admin: AdminUser, user_id: IdPath, body: UserUpdate
) -> UserOut:
    """Activate/deactivate, grant/revoke admin, or reset a password (admin only)."""

    user = session.get(User, user_id)
    if user is None:
        raise ApiError(404, "user not found")
    if user.id == admin.id and (body.is_admin is False or body.is_active is False):
        raise ApiError(409, "is_admin: admins cannot demote or deactivate themselves", "is_admin")
    if body.is_active is not None:
        user.is_active = body.is_active
    if body.is_admin is not None:
        user.is_admin = body.is_admin
    if body.password is not None:
        require_strong_password(
            body.password, user.username, get_settings(request).password_min_score
        )
        user.password_hash = request.app.state.password_hasher.hash(body.password)
        user.session_generation += 1
    session.commit()
    return UserOut.model_validate(user)


@router.post("/auth/signup", response_model=UserOut, status_code=201, tags=["auth"])
def sign_up(request: Request, session: DbSession, body: SignUp) -> UserOut:
    """Create one's own account, when WINOPRUNE_ALLOW_SIGNUP is true."""
    if not get_settings(request).allow_signup:
        raise ApiError(403, "sign-up is disabled; ask an administrator for an account")
    require_strong_password(body.password, body.username, get_settings(request).password_min_score)
    user = service.create_user(
        session, request.app.state.password_hasher, body.username, body.password
    )
    return UserOut.model_validate(user)
