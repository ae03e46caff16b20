"""Migrations run up, down and up again on both backends, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from plantguard.core.db import Base
from plantguard.core.migrate import downgrade, upgrade
from tests.conftest import Db


def test_models_and_migrations_agree(db: Db) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models differ from migrations: {diff}"


def test_down_and_up_again(db: Db) -> None:
    downgrade(db.url, "base")
    with db.engine.connect() as conn:
        assert not db.engine.dialect.has_table(conn, "equipment")
    upgrade(db.url)
    with db.engine.connect() as conn:
        assert db.engine.dialect.has_table(conn, "equipment")
        assert db.engine.dialect.has_table(conn, "audit_entry")
