"""Application wiring: the consumer on the bus and the dispatcher under its leader lock.

Called from the app's lifespan. The consumer subscribes in every process (durable
``notifications``: on NATS the processes share its events; in-process each has its own bus);
the dispatcher runs in the one process holding the ``notifications`` lock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from plantguard.events.bus import Bus
from plantguard.events.leader import lock_for
from plantguard.notifications.consumer import CONSUMER, NotificationConsumer
from plantguard.notifications.dispatcher import Dispatcher, dispatch_interval, dispatch_when_leader


async def subscribe(bus: Bus, factory: sessionmaker[Session]) -> None:
    # Only the events that can become messages: subscribing to everything would cost a write
    # transaction (the dedup row) for every audited change in the plant. One durable per subject
    # filter (NATS binds a durable to one filter); the dedup key stays ``notifications``.
    handler = NotificationConsumer().handler(factory)
    for family in ("alarm", "workorder", "inspection", "hazard", "permit"):
        await bus.subscribe(f"{CONSUMER}-{family}", handler, subjects=f"plantguard.{family}.*")


def dispatcher_task(engine: Engine, factory: sessionmaker[Session], var_dir: Path,
                    stop: asyncio.Event) -> asyncio.Task[None] | None:
    interval = dispatch_interval()
    if interval <= 0:
        return None
    return asyncio.create_task(dispatch_when_leader(Dispatcher(factory), lock_for(engine, var_dir, "notifications"),
                                                    stop, interval))
