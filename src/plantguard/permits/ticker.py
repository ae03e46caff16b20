"""The permit tick: permits whose validity ended before completion become expired (4.16).

Runs like the inspection tick: in the process holding the ``permits`` leader lock, every
``PLANTGUARD_PERMIT_TICK_S`` seconds (default 60; 0 = off). Expiry is a status change through
the lifecycle, so a late or doubled tick changes nothing twice. Time is a parameter
(``tick(factory, now)``), which is how the tests drive it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import utcnow
from plantguard.events.leader import LeaderLock, every_when_leader, interval_from_env

log = logging.getLogger("plantguard.permits")
DEFAULT_TICK_S = 60.0
ENV = "PLANTGUARD_PERMIT_TICK_S"


def tick(factory: sessionmaker[Session], now: datetime | None = None) -> list[int]:
    """Ids of the permits expired now."""
    from plantguard.permits import service

    with factory() as session:
        bind_actor(session, None)
        expired = service.expire_due(session, now or utcnow())
        session.commit()
        return expired


def tick_interval() -> float:
    return interval_from_env(ENV, DEFAULT_TICK_S)



async def tick_when_leader(factory: sessionmaker[Session], lock: LeaderLock, stop: asyncio.Event, interval: float,
                           clock: Callable[[], datetime] = utcnow, retry_s: float = 5.0) -> None:
    await every_when_leader(lock, stop, interval, lambda: tick(factory, clock()), name="permit", retry_s=retry_s,
                            report=lambda ids: f"{len(ids)} permits expired" if ids else None)
