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
    login_max_failures: int = Field(default=5, ge=1)  # per user name and client, all processes
    login_window_s: float = Field(default=60, gt=0)
    password_max_failures: int = Field(default=5, ge=1)  # wrong current passwords, per user
    # zxcvbn strength score (0-4) a new password (the admin's included) must reach.
    password_min_score: int = Field(default=3, ge=0, le=4)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    events_poll_s: float = Field(default=1.0, gt=0)
    events_ping_s: float = Field(default=15.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)
    # Folders a recipe's data.root may point into (JSON list); empty: <data_dir>/datasets.
    data_roots: list[Path] = Field(default_factory=list)
    # -- workers (worker/, see README "Workers and deployment") --------------------------------
    # Celery queues: runs whose recipe says device "cpu" go to the CPU queue, all others to GPU.
    worker_queue_gpu: str = "gpu"
    worker_queue_cpu: str = "cpu"
    # One task trains a run for at most this long, checkpoints, and re-enqueues the next slice
    # (keeps every task well inside Redis' visibility timeout).
    worker_slice_minutes: float = Field(default=30, gt=0)
    # Time a slice may overrun before Celery's soft limit (the stop waits for the current step).
    worker_slice_grace_s: float = Field(default=900, gt=0)
    worker_heartbeat_s: float = Field(default=2.0, gt=0)  # lease renewal and cancel check
    worker_lease_s: float = Field(default=60, gt=0)  # re-queued this long after the last beat
    worker_max_attempts: int = Field(default=3, ge=1)  # starts of a run before it is failed
    # Threads of one training process; None: usable cores / worker_processes_per_host.
    worker_threads: int | None = Field(default=None, ge=1)
    worker_processes_per_host: int = Field(default=1, ge=1)  # training processes on one host
    worker_retry_delay_s: float = Field(default=10, ge=0)  # back-off after an infrastructure error
    worker_sweep_interval_s: float = Field(default=15, ge=0)  # 0: no sweeper in this worker
    # A queued (or handed-over) run untouched this long is re-sent when its queue is empty.
    worker_requeue_after_s: float = Field(default=120, gt=0)
    # `winoprune serve` starts a worker next to the API; None: only with an embedded broker.
    worker_embedded: bool | None = None
    # Where checkpoints live: "local" (the artifacts dir, a shared path in production) or "s3".
    artifact_store: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_prefix: str = "winoprune"
    s3_endpoint_url: str | None = None

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
    def broker_is_embedded(self) -> bool:
        """True when the broker needs no server (kombu's SQLAlchemy or filesystem transport)."""
        scheme = self.resolved_broker_url.split("://", 1)[0].lower()
        return scheme.startswith("sqla+") or scheme in ("filesystem", "memory")

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
        from server.auth.passwords import MIN_SECRET_BITS, secret_bits

        if weak or secret_bits(given) < MIN_SECRET_BITS:
            raise ValueError(
                f"secret_key: WINOPRUNE_SECRET_KEY must be a random string of at least "
                f"{MIN_SECRET_LENGTH} characters and about {MIN_SECRET_BITS} bits of entropy in "
                "production (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
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
