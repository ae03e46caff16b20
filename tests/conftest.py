"""Shared fixtures: a migrated database per backend, isolated per test.

SQLite: each test gets a fresh copy of a database migrated once per run.
PostgreSQL: one database per run (named after the process, so parallel runs don't meet),
migrated once; every table truncated after each test (TRUNCATE does not fire the ledger's
append-only row triggers).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from plantguard.audit import ledger
from plantguard.core.db import Base, make_engine, make_session_factory
from plantguard.core.migrate import upgrade
from plantguard.core.models import import_all
from tests.services import POSTGRES_URL, require_postgres

import_all()
ledger.install()

# Apps built by tests do not run connectors unless a test asks for them, and nothing a test
# starts writes under the checkout's ./var.
os.environ.setdefault("PLANTGUARD_INGEST", "0")
os.environ.setdefault("PLANTGUARD_WARM_UP_CLASSIFIER", "0")
os.environ.setdefault("PLANTGUARD_VAR_DIR", tempfile.mkdtemp(prefix="plantguard-test-var-"))
# `plantguard run` / `demo seed` in subprocesses: skip the dual-prevention demo history (tens of
# seconds); tests/demo/test_dual_prevention_seed.py seeds it directly.
os.environ.setdefault("PLANTGUARD_DEMO_DUAL_PREVENTION", "0")


@dataclass
class Db:
    backend: str
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    read_factory: sessionmaker[Session]

    def session(self) -> Session:
        return self.factory()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def _pg_db_url() -> str:
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return f"{base}/plantguard_test_{os.getpid()}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    require_postgres()
    admin = POSTGRES_URL
    name = _pg_db_url().rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _pg_db_url()
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "plantguard.db"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        yield Db("sqlite", url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
        engine.dispose()
    else:
        url = request.getfixturevalue("postgres_database")
        engine = make_engine(url)
        try:
            yield Db("postgres", url, engine, make_session_factory(engine),
                     make_session_factory(engine, read_only=True))
        finally:
            _truncate_all(engine)
            engine.dispose()


@pytest.fixture
def pg_db(postgres_database: str) -> Iterator[Db]:
    """PostgreSQL only, for behaviour that exists only there (row locks, SKIP LOCKED)."""
    engine = make_engine(postgres_database)
    try:
        yield Db("postgres", postgres_database, engine, make_session_factory(engine),
                 make_session_factory(engine, read_only=True))
    finally:
        _truncate_all(engine)
        engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Db]:
    """SQLite only, for tests whose subject is not storage."""
    path = tmp_path / "plantguard.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    yield Db("sqlite", url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
    engine.dispose()
