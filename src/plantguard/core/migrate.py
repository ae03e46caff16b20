"""Running Alembic from code: ``plantguard db upgrade`` and start-up both come here."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from plantguard.core.db import normalise_url


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "plantguard:migrations")
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
