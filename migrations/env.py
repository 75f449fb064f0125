"""Alembic environment: the URL comes from `-x url=`, the config, or WINOPRUNE settings."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

import server.db.models  # noqa: F401  (registers every table on the metadata)
from server.config import Settings
from server.db.base import Base
from server.db.session import create_db_engine

config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def database_url() -> str:
    """The URL to migrate: `-x url=...`, then sqlalchemy.url, then the service settings."""
    cli_url = context.get_x_argument(as_dictionary=True).get("url")
    return cli_url or config.get_main_option("sqlalchemy.url") or (Settings().resolved_database_url)


def configure(connection: Connection) -> None:
    """Configure the migration context; batch mode lets SQLite alter tables."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL without a connection (`alembic upgrade head --sql`)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through a live connection."""
    engine = create_db_engine(database_url())
    try:
        with engine.connect() as connection:
            configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
