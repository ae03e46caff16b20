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
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

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


def interval_from_env(name: str, default: float) -> float:
    """Seconds between runs of a periodic job from ``name`` (0 turns the job off); a value that
    is not a number falls back to ``default`` with a warning."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        log.warning("%s=%r is not a number; using %s s", name, raw, default)
        value = default
    return max(0.0, value)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def every_when_leader(lock: LeaderLock, stop: asyncio.Event, interval: float, job: Callable[[], Any], *,
                            name: str, report: Callable[[Any], str | None] = lambda _: None,
                            retry_s: float = 5.0, on_lead: str = "") -> None:
    """Run ``job`` (blocking, in a thread) every ``interval`` seconds while holding ``lock``;
    otherwise try for the lock every ``retry_s`` seconds.

    Why one loop for every timer (alarm timers, SLA and hazard escalation, inspection tasks,
    permit expiry): with several processes exactly one runs each job, a failed run is logged and
    retried next period without killing the app, and the lock is released on the way out. What
    ``report`` returns for a run's result is logged at INFO (None: nothing worth a line)."""
    try:
        while not stop.is_set():
            try:
                leader = await asyncio.to_thread(lock.try_acquire)
            except Exception:  # the database is away: try again later
                log.exception("%s leader lock", name)
                leader = False
            if leader:
                if on_lead:
                    log.info("%s", on_lead)
                while not stop.is_set():
                    await wait_or_stop(stop, interval)
                    if stop.is_set():
                        break
                    try:
                        line = report(await asyncio.to_thread(job))
                        if line:
                            log.info("%s tick: %s", name, line)
                    except Exception:  # logged and retried next period; never kills the app
                        log.exception("%s tick failed", name)
                return
            await wait_or_stop(stop, retry_s)
    finally:
        await asyncio.to_thread(lock.release)
