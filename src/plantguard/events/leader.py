"""Which process relays the outbox when several serve the same database.

One relay per SQLite file (its rows are claimed without row locks), and on PostgreSQL one is
enough for the embedded deployment too. Every worker runs :func:`relay_when_leader`; the one
that holds the lock relays, the others retry now and then, so a worker that dies hands the
job on. SQLite: an exclusive ``flock`` on a file beside the database. PostgreSQL: a
session-level advisory lock held on a dedicated connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import zlib
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text

from plantguard.events.relay import OutboxRelay

log = logging.getLogger("plantguard.events.leader")

ADVISORY_KEY = 0x504C414E54  # "PLANT"


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class AdvisoryLock:
    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            self._conn.close()
            self._conn = None


def lock_for(engine: Engine, var_dir: Path, name: str = "relay") -> LeaderLock:
    """One leader per ``name`` ("relay", "ingest") across the processes sharing the database."""
    if engine.dialect.name == "postgresql":
        key = ADVISORY_KEY if name == "relay" else ADVISORY_KEY + 1 + zlib.crc32(name.encode()) % 1000
        return AdvisoryLock(engine, key)
    database = engine.url.database or ""
    base = Path(database) if database and database != ":memory:" else var_dir / "plantguard.db"
    return FileLock(base.with_name(f"{base.name}.{name}.lock"))


async def relay_when_leader(relay: OutboxRelay, lock: LeaderLock, stop: asyncio.Event, interval: float,
                            retry_s: float = 5.0) -> None:
    """Relay while holding ``lock``; otherwise try again every ``retry_s`` seconds."""
    try:
        while not stop.is_set():
            try:
                leader = await asyncio.to_thread(lock.try_acquire)
            except Exception:  # the database is away: try again later
                log.exception("relay leader lock")
                leader = False
            if leader:
                log.info("this process relays the outbox")
                await relay.run(stop, interval)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry_s)
    finally:
        await asyncio.to_thread(lock.release)
