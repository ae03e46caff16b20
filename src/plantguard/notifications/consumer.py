"""The event consumer: each alarm / work-order event → ``notification`` rows, in the same
transaction as the consumer's de-duplication row (:func:`plantguard.events.consumer.idempotent`),
so an event redelivered by the bus never notifies twice and a crash mid-way notifies nobody
until the event is applied again.

Rows are one per recipient × channel: in-app rows are written ``sent`` (the feed *is* the
delivery); the others ``pending`` for the dispatcher, held by quiet hours or folded by the
throttle as :mod:`plantguard.notifications.policy` describes. Alarms with ``notify: false``
(silenced, throttled recurrence) are never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import Equipment
from plantguard.core.db import utcnow
from plantguard.events.bus import Handler
from plantguard.events.consumer import idempotent
from plantguard.events.envelope import Envelope
from plantguard.notifications.messages import ALARM_EVENTS, DEFAULT_TZ, TITLES, Rendered, is_urgent, render
from plantguard.notifications.models import Notification, NotificationChannel, NotificationPreference
from plantguard.notifications.policy import Throttle, quiet_until
from plantguard.notifications.targeting import resolve
from plantguard.tenancy.models import Person, User
from plantguard.workorders.contract import WORKORDER_EVENTS

log = logging.getLogger("plantguard.notifications")

CONSUMER = "notifications"
# Dual prevention: what needs a person's attention (the rest of those families is history).
DUAL_PREVENTION_EVENTS: frozenset[str] = frozenset(
    {"inspection.missed", "hazard.reported", "hazard.submitted", "hazard.overdue"})
# Special work permits: the steps someone must act on (the rest is the permit's history).
PERMIT_NOTIFY_EVENTS: frozenset[str] = frozenset(
    {"permit.submitted", "permit.approved", "permit.rejected", "permit.suspended"})
CONSUMED: frozenset[str] = (frozenset(ALARM_EVENTS) | frozenset(WORKORDER_EVENTS) | DUAL_PREVENTION_EVENTS
                            | PERMIT_NOTIFY_EVENTS)
Clock = Callable[[], datetime]

assert set(TITLES) >= CONSUMED, "every consumed event needs a message template"


def _equipment(session: Session, ent: int, payload: dict[str, Any]) -> str:
    eq_id = payload.get("equipment_id")
    if not eq_id:
        return ""
    row = session.execute(select(Equipment.code, Equipment.name).where(
        Equipment.id == int(eq_id), Equipment.enterprise_id == ent)).first()
    return f"{row[0]} {row[1]}".strip() if row else ""


class NotificationConsumer:
    def __init__(self, clock: Clock = utcnow, throttle: Throttle | None = None) -> None:
        self.clock = clock
        self.throttle = throttle or Throttle.from_env()

    def handler(self, session_factory: sessionmaker[Session]) -> Handler:
        return idempotent(CONSUMER, session_factory, self.apply)

    def apply(self, session: Session, env: Envelope) -> None:
        if env.type not in CONSUMED or env.enterprise_id is None:
            return
        payload = env.payload
        if env.type.startswith("alarm.") and (not payload.get("notify", True) or payload.get("silenced")):
            return
        ent = env.enterprise_id
        now = self.clock()
        urgent = is_urgent(env.type, payload)
        who = resolve(session, ent, env.type, payload)
        equipment = _equipment(session, ent, payload)
        cache: dict[tuple[str, str], Rendered] = {}

        def rendered(locale: str, tz: str) -> Rendered:
            key = (locale, tz)
            if key not in cache:
                cache[key] = render(env.type, payload, env.occurred_at, locale=locale, tz=tz, equipment=equipment)
            return cache[key]

        def row(**kw: Any) -> Notification:
            return Notification(enterprise_id=ent, event_id=env.id, event_type=env.type, context_id=env.context.id,
                                urgent=urgent, created_at=now, **kw)

        if who.users:
            users = session.execute(
                select(User.id, User.locale, Person.email, Person.phone)
                .outerjoin(Person, (Person.id == User.person_id) & (Person.enterprise_id == ent))
                .where(User.enterprise_id == ent, User.id.in_(list(who.users)))).all()
            prefs = {p.user_id: p for p in session.scalars(select(NotificationPreference).where(
                NotificationPreference.enterprise_id == ent, NotificationPreference.user_id.in_(list(who.users))))}
            email_channel = session.scalar(select(NotificationChannel.id).where(
                NotificationChannel.enterprise_id == ent, NotificationChannel.kind == "email",
                NotificationChannel.enabled.is_(True)).order_by(NotificationChannel.id).limit(1))
            for uid, locale, email, _phone in users:
                pref = prefs.get(uid)
                tz = pref.timezone if pref else DEFAULT_TZ
                msg = rendered(locale or "zh_CN", tz)
                for kind in sorted(who.users[uid]):
                    fields = {"user_id": uid, "locale": locale or "zh_CN", "title": msg.title, "body": msg.body,
                              "link": msg.link, "level": msg.level, "channel_kind": kind}
                    if kind == "inapp":
                        session.add(row(status="sent", sent_at=now, **fields))
                        continue
                    if kind == "email":
                        if email_channel is None or not email:
                            log.info("no email channel or address for user %s: email skipped", uid)
                            continue
                        fields.update(channel_id=email_channel, address=email)
                    held = None if urgent or pref is None else quiet_until(now, pref.quiet_start, pref.quiet_end, tz)
                    status = "folded" if self._throttled(session, ent, uid, kind, fields.get("channel_id"), now,
                                                         urgent) else "pending"
                    session.add(row(status=status, next_attempt_at=held or now, held_until=held, **fields))
        for channel_id in sorted(who.groups):
            ch = session.get(NotificationChannel, channel_id)
            if ch is None or ch.enterprise_id != ent:
                continue
            locale = str((ch.config or {}).get("locale") or "zh_CN")
            tz = str((ch.config or {}).get("timezone") or DEFAULT_TZ)
            msg = rendered(locale, tz)
            status = "folded" if self._throttled(session, ent, None, ch.kind, ch.id, now, urgent) else "pending"
            session.add(row(status=status, next_attempt_at=now, channel_kind=ch.kind, channel_id=ch.id,
                            locale=locale, title=msg.title, body=msg.body, link=msg.link, level=msg.level,
                            address=",".join((ch.config or {}).get("at_mobiles") or [])[:200]))
        session.flush()

    def _throttled(self, session: Session, ent: int, user_id: int | None, kind: str, channel_id: Any,
                   now: datetime, urgent: bool) -> bool:
        if urgent or not self.throttle.enabled:
            return False
        q = select(func.count()).select_from(Notification).where(
            Notification.enterprise_id == ent, Notification.channel_kind == kind,
            Notification.created_at > now - self.throttle.window, Notification.status != "folded",
            Notification.event_type != "digest")
        q = q.where(Notification.user_id.is_(None) if user_id is None else Notification.user_id == user_id)
        if channel_id is not None:
            q = q.where(Notification.channel_id == channel_id)
        session.flush()
        return int(session.scalar(q) or 0) >= self.throttle.max_messages
