"""Running the tick in exactly one process: the one holding the "alarms" leader lock.

Several web workers may serve one database; the timers and the watchdog must run once, or an
escalation would be announced once per worker. Every worker runs :func:`tick_when_leader`;
the lock holder ticks, the others retry now and then and take over when it dies (the same
scheme as the outbox relay, ``events/leader.py``).

``PLANTGUARD_ALARM_TICK_S`` sets the period (default 10 s; 0 switches the tick off, e.g. for a
process that only serves pages). The first tick comes one period after start-up.
"""

from __future__ import annotations

import asyncio
import logging

from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.events.leader import LeaderLock, every_when_leader, interval_from_env

log = logging.getLogger("plantguard.alarms")

DEFAULT_TICK_S = 10.0


def tick_interval() -> float:
    return interval_from_env("PLANTGUARD_ALARM_TICK_S", DEFAULT_TICK_S)



async def tick_when_leader(intake: AlarmIntake, lock: LeaderLock, stop: asyncio.Event, interval: float,
                           retry_s: float = 5.0) -> None:
    await every_when_leader(lock, stop, interval, intake.tick, name="alarm", retry_s=retry_s,
                            on_lead="this process runs the alarm timers and the no-data watchdog",
                            report=lambda counts: str(counts) if any(counts.values()) else None)
