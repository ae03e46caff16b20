"""Exactly one process relays: the leader lock on each backend."""

from __future__ import annotations

from pathlib import Path

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
