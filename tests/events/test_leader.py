"""Exactly one process relays: the leader lock on each backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from plantguard.events.leader import AdvisoryLock, FileLock, lock_for
from tests.conftest import Db


def test_one_holder_at_a_time(db: Db, tmp_path: Path) -> None:
    a, b = lock_for(db.engine, tmp_path), lock_for(db.engine, tmp_path)
    assert isinstance(a, AdvisoryLock if db.backend == "postgres" else FileLock)
    assert a.try_acquire() and a.try_acquire()  # re-entrant for its holder
    assert not b.try_acquire()
    a.release()
    assert b.try_acquire()
    b.release()


def test_periodic_job_runs_in_one_process_survives_failures_and_releases(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``every_when_leader`` (every timer of the app: alarms, escalations, inspections, permit
    expiry): only the lock holder runs the job, a failing run is retried next period, and the
    lock is free again after a stop."""
    from plantguard.events.leader import every_when_leader, interval_from_env

    runs: list[str] = []

    def job(tag: str) -> Callable[[], int]:
        def run() -> int:
            runs.append(tag)
            if tag == "a" and runs.count("a") == 2:
                raise RuntimeError("a failing run")
            return len(runs)
        return run

    async def scenario() -> None:
        stop = asyncio.Event()
        a, b = FileLock(tmp_path / "t.lock"), FileLock(tmp_path / "t.lock")
        first = asyncio.create_task(every_when_leader(a, stop, 0.02, job("a"), name="test"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(every_when_leader(b, stop, 0.02, job("b"), name="test", retry_s=0.02))
        for _ in range(200):
            if runs.count("a") >= 4:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(first, second)

    asyncio.run(scenario())
    assert runs.count("a") >= 4  # went on after the failing second run
    assert "b" not in runs  # the second contender never held the lock
    assert FileLock(tmp_path / "t.lock").try_acquire()  # released on stop

    monkeypatch.setenv("PLANTGUARD_TEST_TICK_S", "2.5")
    assert interval_from_env("PLANTGUARD_TEST_TICK_S", 10) == 2.5
    monkeypatch.setenv("PLANTGUARD_TEST_TICK_S", "soon")
    assert interval_from_env("PLANTGUARD_TEST_TICK_S", 10) == 10
    monkeypatch.setenv("PLANTGUARD_TEST_TICK_S", "-1")
    assert interval_from_env("PLANTGUARD_TEST_TICK_S", 10) == 0
