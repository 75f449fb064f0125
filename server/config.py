"""Service settings: one pydantic-settings object read from WINOPRUNE_* environment variables."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets that must never be used in production (copied from examples, tutorials, .env files).
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development"})
MIN_SECRET_LENGTH = 32
SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name


class Settings(BaseSettings):
    """All service settings; every field is read from `WINOPRUNE_<FIELD>` (or `.env`)."""

    model_config = SettingsConfigDict(env_prefix="WINOPRUNE_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".winoprune")
    database_url: str | None = None
    broker_url: str | None = None
    secret_key: SecretStr | None = None
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    max_upload_mb: float = Field(default=512, gt=0)
    allow_signup: bool = False
    # Run ids are handed to this "module:function" after commit; None = runs stay queued.
    dispatcher: str | None = None
    access_token_minutes: int = Field(default=12 * 60, gt=0)
    cookie_name: str = "winoprune_session"
    cookie_secure: bool | None = None
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: float = Field(default=60, gt=0)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    events_poll_s: float = Field(default=1.0, gt=0)
    events_ping_s: float = Field(default=15.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)

    @property
    def resolved_database_url(self) -> str:
        """The database URL; default: a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'winoprune.sqlite').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        """The Celery broker URL; default: kombu's SQLAlchemy transport on a SQLite file."""
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        """Root folder of uploaded weights and run checkpoints."""
        return (self.data_dir / "artifacts").resolve()

    @property
    def secure_cookies(self) -> bool:
        """Whether the session cookie carries `Secure` (default: only in production)."""
        return self.env == "production" if self.cookie_secure is None else self.cookie_secure

    @property
    def max_upload_bytes(self) -> int:
        """Upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @cached_property
    def jwt_secret(self) -> str:
        """The JWT signing secret (see `resolve_secret_key`)."""
        return resolve_secret_key(self)


def resolve_secret_key(settings: Settings) -> str:
    """Return the signing secret: refuse weak ones in production, persist a generated one in dev."""
    given = settings.secret_key.get_secret_value() if settings.secret_key else ""
    weak = given.strip().lower() in PLACEHOLDER_SECRETS or len(given) < MIN_SECRET_LENGTH
    if settings.env == "production":
        if weak:
            raise ValueError(
                f"secret_key: WINOPRUNE_SECRET_KEY must be set to a random string of at least "
                f"{MIN_SECRET_LENGTH} characters in production"
            )
        return given
    if given and not weak:
        return given
    return _persisted_dev_secret(settings.data_dir)


def _persisted_dev_secret(data_dir: Path) -> str:
    """Read (or create, mode 0600) the development secret in the data dir."""
    path = data_dir / SECRET_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
