"""Passwords (argon2), JWTs (HS256), personal API tokens (sha256-hashed) and user lookup."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.config import Settings
from server.db.base import utcnow
from server.db.models import ApiToken, User

TOKEN_PREFIX = "wp_"  # noqa: S105 - a marker, not a secret
JWT_ALGORITHM = "HS256"
TOKEN_SCOPES = ("read", "write")
# Writing last_used_at on every request would serialise SQLite writers; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def password_hasher(settings: Settings) -> PasswordHasher:
    """An argon2id hasher with the configured cost."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def verify_password(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """Whether `password` matches the stored argon2 hash."""
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(
    session: Session, hasher: PasswordHasher, username: str, password: str
) -> User | None:
    """The active user with this name and password, else None."""
    # A NUL byte cannot be in any stored name (and PostgreSQL refuses it in a query).
    query = select(User).where(User.username == username)
    user = None if "\x00" in username else session.scalar(query)
    if user is None:
        hasher.hash(password)  # same cost as a verify: timing does not reveal user names
        return None
    if not verify_password(hasher, user.password_hash, password) or not user.is_active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        session.commit()
    return user


def create_access_token(settings: Settings, user: User) -> tuple[str, int]:
    """A signed JWT for `user` and its lifetime in seconds."""
    lifetime = settings.access_token_minutes * 60
    now = utcnow()
    claims = {
        "sub": str(user.id),
        "gen": user.session_generation,
        "iat": now,
        "exp": now + timedelta(seconds=lifetime),
        "typ": "access",
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM), lifetime


def user_from_jwt(session: Session, settings: Settings, token: str) -> User | None:
    """The active user a valid, current-generation JWT names, else None."""
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[JWT_ALGORITHM])
        user_id = int(claims["sub"])
        generation = int(claims.get("gen", -1))
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.session_generation != generation:
        return None
    return user


def hash_token(secret: str) -> str:
    """The stored form of a personal token: sha256 hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    session: Session,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    project_id: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a personal token (limited to ``project_id`` when given); returns the row and the
    secret (shown to the user once)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:10],
        scopes=" ".join(sorted(set(scopes))),
        expires_at=expires_at,
        project_id=project_id,
    )
    session.add(row)
    session.commit()
    return row, secret


@dataclass(frozen=True)
class TokenGrant:
    """What a valid personal token allows: its scopes, and the one project it is limited to
    (None: every project of its user)."""

    scopes: frozenset[str]
    project_id: int | None


def user_from_api_token(session: Session, secret: str) -> tuple[User, TokenGrant] | None:
    """The active user and the grant of a personal token secret, else None."""
    # the user as an entity, the token as plain columns: one ORM object less per request
    found = session.execute(
        select(
            User,
            ApiToken.id,
            ApiToken.scopes,
            ApiToken.project_id,
            ApiToken.revoked_at,
            ApiToken.expires_at,
            ApiToken.last_used_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(secret))
    ).first()
    now = utcnow()
    if found is None:
        return None
    user, token_id, scopes, project_id, revoked_at, expires_at, last_used_at = found
    if revoked_at is not None or (expires_at is not None and expires_at <= now):
        return None
    if not user.is_active:
        return None
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        session.commit()
    return user, TokenGrant(frozenset(scopes.split()), project_id)


def list_api_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens (revoked ones included), newest first."""
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    return list(session.scalars(query.order_by(ApiToken.id.desc())))


def revoke_api_token(session: Session, user: User, token_id: int) -> bool:
    """Revoke one of the user's tokens; False when the user has no such token."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return True


def revoke_all_api_tokens(session: Session, user: User) -> None:
    """Revoke every token of the user that is not revoked yet (the caller commits)."""
    now = utcnow()
    for row in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        row.revoked_at = now


def end_sessions(session: Session, user: User) -> None:
    """Invalidate every JWT issued to the user so far (logout)."""
    user.session_generation += 1
    session.commit()
