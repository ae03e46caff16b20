"""Shared fixtures: a migrated database per backend, isolated per test.

SQLite: each test gets a fresh copy of a database migrated once per run.
PostgreSQL: one database per run (named after the process, so parallel runs and xdist workers
don't meet), migrated once; after each test the tables the test wrote to are emptied and their
id sequences restarted (see ``_truncate_all``). The database commits without waiting for the
disk (``synchronous_commit = off``): a test database need not survive a server crash, and each
commit is a few milliseconds faster.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from plantguard.audit import ledger
from plantguard.core.db import Base, make_engine, make_session_factory
from plantguard.core.migrate import upgrade
from plantguard.core.models import import_all
from tests.live import CHROMIUM, LAUNCH_ARGS, PHONE, Chromium, LiveApp, Problems, require_browser, watch
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
# Likewise the demo permits (a few seconds); tests/demo/test_permits_seed.py seeds them directly.
os.environ.setdefault("PLANTGUARD_DEMO_PERMITS", "0")


# The files that take longest (their module-scoped servers, browsers and seeded databases above
# all), heaviest first. ``make unit`` runs ``pytest -n 2 --dist worksteal``: each worker starts on
# one half of the collection in order, and an idle worker takes tests from the END of the other's
# queue, so files at the front are never split between workers (which would build their module
# fixtures twice) and no long file is left running alone at the end. The rest keep pytest's
# order. A file missing here is only run later, never skipped.
SLOW_FIRST = (
    "tests/test_schemathesis.py",
    "tests/api/test_bad_input.py",
    "tests/browser/test_devices.py",
    "tests/demo/test_dual_prevention_seed.py",
    "tests/browser/test_console.py",
    "tests/simulator/test_servers.py",
    "tests/ingest/test_scaleout.py",
    "tests/ingest/test_opcua_connector.py",
    "tests/demo/test_bench_loop.py",
    "tests/ingest/test_store_and_forward.py",
    "tests/events/test_app_events.py",
    "tests/ingest/test_http_ingest.py",
    "tests/api/test_roles.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: files stay whole


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
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    url = _pg_db_url()
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The id sequences that have handed out a value since they were last restarted, with their table.
_USED_SEQUENCES = """
SELECT quote_ident(ps.schemaname) || '.' || quote_ident(ps.sequencename), t.relname
FROM pg_sequences ps
JOIN pg_namespace n ON n.nspname = ps.schemaname
JOIN pg_class s ON s.relname = ps.sequencename AND s.relnamespace = n.oid
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
WHERE ps.schemaname = current_schema() AND ps.last_value IS NOT NULL
"""


def _truncate_all(engine: Engine) -> None:
    """Empty every table and restart every id sequence, as ``TRUNCATE ... RESTART IDENTITY``.

    A TRUNCATE of all ~80 tables costs 1-2 s (a new file for each table and index), and even
    one table cascades to nearly all of them (everything refers to the enterprise), while a
    test writes to a dozen small tables. So: find the tables that hold rows (one query) and
    the sequences that were used (rolled-back inserts use them too), DELETE those rows with
    triggers and foreign-key checks off (``session_replication_role = replica``: the ledger's
    append-only triggers would refuse the DELETE; every table that holds rows is emptied, so
    no reference is left dangling), and restart the sequences. About 50 ms.
    """
    tables = [t.name for t in Base.metadata.sorted_tables]
    known = set(tables)
    probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)
    try:
        with engine.begin() as conn:
            filled = set(conn.execute(text(probe)).scalars())
            used = [seq for seq, table in conn.execute(text(_USED_SEQUENCES)).all() if table in known]
            if not filled and not used:
                return
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in reversed(tables):
                if table in filled:
                    conn.execute(text(f'DELETE FROM "{table}"'))
            for seq in used:
                conn.execute(text(f"ALTER SEQUENCE {seq} RESTART"))
    except DBAPIError as exc:
        if not isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            raise
        # Not a superuser (PLANTGUARD_TEST_POSTGRES_URL): the slow way, which needs no more than ownership.
        names = ", ".join(f'"{t}"' for t in tables)
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


# -- browser tests (tests/live.py) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[LiveApp]:
    """The module's database for a live server (``live_app.serve()``); skips without a browser."""
    require_browser()  # no point starting a server without a browser to drive it
    app = LiveApp(tmp_path_factory.mktemp("live"), sqlite_template)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One headless Chromium per test module; each test opens its own contexts (``pages``).

    Not one per session, although a launch costs 1-2 s: while Playwright's sync API runs, the
    main thread counts as running an asyncio loop, so a later test on the same worker that calls
    ``asyncio.run()`` (the NATS, OPC UA and relay tests do) would fail.
    """
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        phone = {k: v for k, v in p.devices[PHONE].items() if k != "default_browser_type"}
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield Chromium(browser, phone)
        finally:
            browser.close()


@pytest.fixture
def pages(chromium: Chromium) -> Iterator[Callable[..., tuple[Any, Any, Problems]]]:
    """Factory: ``pages(origin, timeout=10_000, watch_requests=True, **context_args)`` opens a
    new browser context watched for problems, and a page in it: ``(context, page, problems)``.
    At the end of the test every context's problems must be none; then all are closed."""
    made: list[tuple[Any, Problems]] = []

    def make(origin: str, *, timeout: float = 10_000, watch_requests: bool = True,
             **context_args: Any) -> tuple[Any, Any, Problems]:
        ctx = chromium.browser.new_context(**context_args)
        ctx.set_default_timeout(timeout)
        problems = watch(ctx, origin, requests=watch_requests)
        made.append((ctx, problems))
        return ctx, ctx.new_page(), problems

    yield make
    try:
        for _, problems in made:
            problems.assert_none()
    finally:
        for ctx, _ in made:
            ctx.close()
