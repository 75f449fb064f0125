"""User management and the first-start admin bootstrap."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.auth.passwords import password_problem
from server.config import Settings
from server.db.models import Membership, Project, User
from server.errors import ApiError

DEFAULT_PROJECT = "default"


def create_user(
    session: Session, hasher: PasswordHasher, username: str, password: str, is_admin: bool = False
) -> User:
    """Create a user; 409 when the name is taken."""
    user = User(username=username, password_hash=hasher.hash(password), is_admin=is_admin)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "username: already taken", field="username") from None
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def bootstrap_admin(session: Session, hasher: PasswordHasher, settings: Settings) -> str | None:
    """On an empty database create the admin (and a "default" project it owns).

    Returns the generated password (to print once), or None when nothing was generated.
    """
    if session.scalar(select(func.count()).select_from(User)):
        return None
    given = settings.admin_password.get_secret_value() if settings.admin_password else ""
    problem = password_problem(given, settings.admin_username, settings.password_min_score)
    if given and problem:
        raise ValueError(f"admin_password: WINOPRUNE_ADMIN_PASSWORD {problem}")
    password = given or secrets.token_urlsafe(16)
    admin = create_user(session, hasher, settings.admin_username, password, is_admin=True)
    project = Project(name=DEFAULT_PROJECT, description="Created on first start.")
    session.add(project)
    session.flush()
    session.add(Membership(project_id=project.id, user_id=admin.id, role="owner"))
    session.commit()
    return None if given else password
