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
import contextlib
import logging
import os

from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.events.leader import LeaderLock

log = logging.getLogger("plantguard.alarms")

DEFAULT_TICK_S = 10.0


def tick_interval() -> float:
    raw = os.environ.get("PLANTGUARD_ALARM_TICK_S", "")
    try:
        value = float(raw) if raw else DEFAULT_TICK_S
    except ValueError:
        log.warning("PLANTGUARD_ALARM_TICK_S=%r is not a number; using %s s", raw, DEFAULT_TICK_S)
        value = DEFAULT_TICK_S
    return max(0.0, value)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def tick_when_leader(intake: AlarmIntake, lock: LeaderLock, stop: asyncio.Event, interval: float,
                           retry_s: float = 5.0) -> None:
    try:
        while not stop.is_set():
            try:
                leader = await asyncio.to_thread(lock.try_acquire)
            except Exception:  # the database is away: try again later
                log.exception("alarm leader lock")
                leader = False
            if leader:
                log.info("this process runs the alarm timers and the no-data watchdog")
                while not stop.is_set():
                    await _wait(stop, interval)
                    if stop.is_set():
                        break
                    try:
                        counts = await asyncio.to_thread(intake.tick)
                        if any(counts.values()):
                            log.info("alarm tick: %s", counts)
                    except Exception:  # logged and retried next period; never kills the app
                        log.exception("alarm tick failed")
                return
            await _wait(stop, retry_s)
    finally:
        await asyncio.to_thread(lock.release)
