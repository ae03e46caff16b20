"""The dispatcher: sends pending notification rows, retries with exponential back-off and
gives up into the dead letter.

Runs in the one process holding the ``notifications`` leader lock (the scheme of the alarm
ticker and the outbox relay), so rows need no claim. Each pass: fold throttled rows into
digests, then take due rows (``status = pending`` and ``next_attempt_at <= now``), send each
*outside* any transaction, and record the outcome in a short transaction per row.

Delivery is **at least once**: a process that dies between a successful send and the mark
sends that row again after restart (channels have no idempotency key to offer). A receiver
that is down only delays delivery: a failure sets ``attempts``, ``last_error`` and
``next_attempt_at = now + min(max_delay, base_delay · 2^(attempts-1))``; after
``max_attempts`` failures, or ``max_age`` after the message became due (quiet hours do not
count), or at once for a permanent refusal, the row is ``dead``: listed in the dead-letter
view, where a person may send it again.

Secrets never reach the log or ``last_error``: errors are written from status codes and
exception kinds, never from URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from plantguard.core.db import utcnow
from plantguard.core.i18n import gettext
from plantguard.events.leader import LeaderLock
from plantguard.events.wake import Wakeup, wake_after_commit
from plantguard.notifications.channels import ChannelConfig, DeliveryError, OutMessage, channel_for
from plantguard.notifications.messages import render_digest
from plantguard.notifications.models import Notification, NotificationChannel
from plantguard.notifications.policy import Throttle

log = logging.getLogger("plantguard.notifications")

DEFAULT_INTERVAL_S = 2.0

# Set after a commit that wrote a pending outside-channel row (the consumer's): the dispatcher of
# this process sends it at once instead of at its next poll (events/wake.py).
PENDING_WRITTEN = Wakeup("notifications")
wake_after_commit(PENDING_WRITTEN, lambda obj: isinstance(obj, Notification) and obj.status == "pending"
                  and obj.channel_kind != "inapp")


def public_url() -> str:
    """Absolute links in messages that leave the console (email, robots)."""
    return os.environ.get("PLANTGUARD_PUBLIC_URL", "http://localhost:8000").rstrip("/")


def dispatch_interval() -> float:
    raw = os.environ.get("PLANTGUARD_NOTIFY_DISPATCH_S", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S


@dataclass
class Job:
    id: int
    kind: str
    channel_id: int | None
    enterprise_id: int
    message: OutMessage
    attempts: int
    due_since: datetime


class Dispatcher:
    def __init__(self, factory: sessionmaker[Session], *, clock: Callable[[], datetime] = utcnow,
                 max_attempts: int = 10, max_age: timedelta = timedelta(hours=24), base_delay_s: float = 2.0,
                 max_delay_s: float = 600.0, batch: int = 100, throttle: Throttle | None = None,
                 base_url: str | None = None) -> None:
        self.factory = factory
        self.clock = clock
        self.max_attempts = max_attempts
        self.max_age = max_age
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.batch = batch
        self.throttle = throttle or Throttle.from_env()
        self.base_url = base_url if base_url is not None else public_url()
        self._owners: dict[int, int] = {}

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempts - 1)))

    # -- a pass ------------------------------------------------------------------------------

    def run_once(self) -> dict[str, int]:
        now = self.clock()
        counts = {"digests": self.fold_digests(now), "sent": 0, "retry": 0, "dead": 0}
        jobs, configs = self._due(now)
        for job in jobs:
            outcome = self._send(job, configs)
            counts[outcome] += 1
        return counts

    def _due(self, now: datetime) -> tuple[list[Job], dict[int, ChannelConfig]]:
        with self.factory() as s:
            rows = s.scalars(select(Notification).where(
                Notification.status == "pending", Notification.next_attempt_at <= now,
                Notification.channel_kind != "inapp").order_by(Notification.next_attempt_at, Notification.id)
                .limit(self.batch)).all()
            ids = {r.channel_id for r in rows if r.channel_id is not None}
            configs = {c.id: (c.enterprise_id, c.enabled, ChannelConfig(dict(c.config or {}), c.secret))
                       for c in s.scalars(select(NotificationChannel).where(NotificationChannel.id.in_(ids)))}
            jobs = []
            for r in rows:
                mobiles = tuple(m for m in r.address.split(",") if m) if r.channel_kind != "email" else ()
                link = f"{self.base_url}{r.link}" if r.link.startswith("/") else r.link
                msg = OutMessage(title=r.title, body=r.body, link=link, level=r.level, locale=r.locale,
                                 to=r.address if r.channel_kind == "email" else "", mobiles=mobiles,
                                 link_label=gettext("Open in PlantGuard", r.locale))
                jobs.append(Job(r.id, r.channel_kind, r.channel_id, r.enterprise_id, msg, r.attempts,
                                max(r.created_at, r.held_until or r.created_at)))
            s.rollback()
        usable = {cid: cfg for cid, (ent, enabled, cfg) in configs.items() if enabled}
        # A channel must belong to the row's enterprise; anything else is refused below.
        self._owners = {cid: ent for cid, (ent, _e, _c) in configs.items()}
        return jobs, usable

    def _send(self, job: Job, configs: dict[int, ChannelConfig]) -> str:
        error: DeliveryError | None = None
        try:
            cfg = configs.get(job.channel_id or -1)
            if cfg is None or self._owners.get(job.channel_id or -1) != job.enterprise_id:
                raise DeliveryError("channel missing, disabled or not this enterprise's", permanent=True)
            channel_for(job.kind, cfg).send(job.message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug in a channel must not stop the others
            log.exception("notification %s: channel %s failed unexpectedly", job.id, job.kind)
            error = DeliveryError(f"{type(exc).__name__}")
        now = self.clock()
        values: dict[str, Any] = {"attempts": job.attempts + 1}
        if error is None:
            values.update(status="sent", sent_at=now, last_error="", next_attempt_at=None)
            outcome = "sent"
        else:
            values["last_error"] = str(error)[:500]
            too_old = now - job.due_since >= self.max_age
            if error.permanent or job.attempts + 1 >= self.max_attempts or too_old:
                values.update(status="dead", dead_at=now, next_attempt_at=None)
                outcome = "dead"
                log.warning("notification %s (%s) moved to dead letter: %s", job.id, job.kind, values["last_error"])
            else:
                values["next_attempt_at"] = now + self.backoff(job.attempts + 1)
                outcome = "retry"
        with self.factory() as s:
            s.execute(update(Notification).where(Notification.id == job.id, Notification.status == "pending")
                      .values(**values))
            s.commit()
        return outcome

    # -- throttling digests ------------------------------------------------------------------

    def fold_digests(self, now: datetime) -> int:
        """One digest per recipient × channel whose folded messages' window has passed."""
        made = 0
        with self.factory() as s:
            rows = s.scalars(select(Notification).where(Notification.status == "folded",
                                                        Notification.digest_id.is_(None))
                             .order_by(Notification.id).limit(2000)).all()
            groups: dict[tuple[int, int | None, str, int | None], list[Notification]] = defaultdict(list)
            for r in rows:
                groups[(r.enterprise_id, r.user_id, r.channel_kind, r.channel_id)].append(r)
            for (ent, uid, kind, cid), items in groups.items():
                if now - items[0].created_at < self.throttle.window:
                    continue
                d = render_digest([i.title for i in items], len(items), locale=items[0].locale)
                digest = Notification(enterprise_id=ent, event_type="digest", user_id=uid, channel_kind=kind,
                                      channel_id=cid, address=items[0].address, locale=items[0].locale,
                                      title=d.title[:300], body=d.body, link=d.link, status="pending",
                                      created_at=now, next_attempt_at=now)
                s.add(digest)
                s.flush()
                for i in items:
                    i.digest_id = digest.id
                made += 1
            s.commit()
        return made


async def dispatch_when_leader(dispatcher: Dispatcher, lock: LeaderLock, stop: asyncio.Event, interval: float,
                               retry_s: float = 5.0, wake: Wakeup | None = PENDING_WRITTEN) -> None:
    """Dispatch every ``interval`` seconds while holding ``lock``, and at once when a commit in
    this process wrote a pending message (``wake``); otherwise wait and retry."""

    async def wait(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    try:
        while not stop.is_set():
            try:
                leader = await asyncio.to_thread(lock.try_acquire)
            except Exception:  # the database is away: try again later
                log.exception("notifications leader lock")
                leader = False
            if leader:
                log.info("this process dispatches notifications")
                waiter = wake.waiter() if wake is not None else None
                try:
                    while not stop.is_set():
                        try:
                            counts = await asyncio.to_thread(dispatcher.run_once)
                            if any(counts.values()):
                                log.info("notifications: %s", counts)
                        except Exception:  # logged and retried next period; never kills the app
                            log.exception("notification dispatch failed")
                        if waiter is not None:
                            await waiter.wait(interval, stop)
                        else:
                            await wait(interval)
                finally:
                    if waiter is not None:
                        waiter.close()
                return
            await wait(retry_s)
    finally:
        await asyncio.to_thread(lock.release)
