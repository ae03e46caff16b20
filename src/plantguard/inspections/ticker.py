"""The inspection tick: make the current windows' tasks and mark ended ones missed.

Runs like the work-order escalation tick: in the process holding the ``inspections`` leader
lock, every ``PLANTGUARD_INSPECTION_TICK_S`` seconds (default 60; 0 = off). Both steps are
idempotent (unique task key; missed is a status change), so a late or doubled tick changes
nothing twice. Time is a parameter (``tick(factory, now)``), which is how the tests drive it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from plantguard.core.db import utcnow
from plantguard.events.leader import LeaderLock, every_when_leader, interval_from_env
from plantguard.inspections import plans, tasks

log = logging.getLogger("plantguard.inspections")
DEFAULT_TICK_S = 60.0
ENV = "PLANTGUARD_INSPECTION_TICK_S"


def tick(factory: sessionmaker[Session], now: datetime | None = None) -> tuple[int, int]:
    """(tasks made, tasks marked missed). Missed first: a window that just ended is settled
    before the next one's task is made."""
    at = now or utcnow()
    with factory() as session:
        missed = tasks.mark_missed(session, at)
        session.commit()
    for attempt in range(2):
        with factory() as session:
            try:
                made = plans.generate(session, at)
                session.commit()
                return made, missed
            except IntegrityError:  # a plan saved at this moment made the same task: again
                session.rollback()
                if attempt:
                    raise
    return 0, missed


def tick_interval() -> float:
    return interval_from_env(ENV, DEFAULT_TICK_S)



async def tick_when_leader(factory: sessionmaker[Session], lock: LeaderLock, stop: asyncio.Event, interval: float,
                           clock: Callable[[], datetime] = utcnow, retry_s: float = 5.0) -> None:
    await every_when_leader(lock, stop, interval, lambda: tick(factory, clock()), name="inspection", retry_s=retry_s,
                            report=lambda r: f"{r[0]} tasks made, {r[1]} missed" if r[0] or r[1] else None)
