"""Run the Alembic migrations programmatically (used by `serve`, the tests and benchmarks)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
ALEMBIC_INI = MIGRATIONS_DIR.parent / "alembic.ini"


def alembic_config(database_url: str) -> Config:
    """An Alembic config for `database_url` using the project's migrations folder."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat '%' in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade_to_head(database_url: str) -> None:
    """Migrate the database to the newest revision."""
    command.upgrade(alembic_config(database_url), "head")


def check_no_drift(database_url: str) -> None:
    """Raise if the models differ from the migrated schema (`alembic check`)."""
    command.check(alembic_config(database_url))
