"""Test data for notifications: synthetic envelopes, channels, people with addresses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Actor, Role
from plantguard.events.consumer import apply_once
from plantguard.events.envelope import Context, Envelope
from plantguard.notifications.consumer import CONSUMER, NotificationConsumer
from plantguard.notifications.models import Notification, NotificationChannel, NotificationPreference
from plantguard.tenancy.models import Person, Team, User
from tests.factories import Tenant

AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def alarm_env(tenant: Tenant, *, severity: str = "major", type_: str = "alarm.raised", notify: bool = True,
              alarm_id: int = 7, **extra: Any) -> Envelope:
    payload = {"alarm_id": alarm_id, "source": "rule:1", "kind": "threshold", "severity": severity,
               "status": "active_unack", "title": "液压压力过高", "equipment_id": tenant.equipment_id,
               "point_id": tenant.point_id, "silenced": not notify, "notify": notify, **extra}
    return Envelope(type=type_, enterprise_id=tenant.enterprise_id, occurred_at=AT, context=Context(),
                    payload=payload)


def wo_env(tenant: Tenant, type_: str, **extra: Any) -> Envelope:
    payload = {"id": 41, "number": "WO-20261128-0001", "title": "1号压力机漏油", "priority": "p2",
               "status": "dispatched", "source": "alarm", "alarm_id": 7, "equipment_id": tenant.equipment_id,
               "team_id": tenant.team_id, "due_at": "2026-11-28T08:00:00+00:00", **extra}
    return Envelope(type=type_, enterprise_id=tenant.enterprise_id, occurred_at=AT, payload=payload)


def consume(factory: sessionmaker[Session], consumer: NotificationConsumer, env: Envelope) -> bool:
    return apply_once(CONSUMER, factory, consumer.apply, env)


def user_id(factory: sessionmaker[Session], username: str) -> int:
    with factory() as s:
        return int(s.scalars(select(User.id).where(User.username == username)).one())


def give_person(factory: sessionmaker[Session], tenant: Tenant, role: str, email: str, *, leader: bool = False,
                employee_no: str | None = None) -> int:
    """Link the role's account to a person with an email (and make them the team's leader)."""
    with factory() as s:
        bind_actor(s, None)
        user = s.scalars(select(User).where(User.username == tenant.users[role])).one()
        person = Person(enterprise_id=tenant.enterprise_id, employee_no=employee_no or f"P-{role}", name=role,
                        email=email, phone="13800000000", team_id=tenant.team_id)
        s.add(person)
        s.flush()
        user.person_id = person.id
        if leader:
            s.get_one(Team, tenant.team_id).leader_id = person.id
        s.commit()
        return int(user.id)


def add_channel(factory: sessionmaker[Session], tenant: Tenant, kind: str, settings: dict[str, Any],
                secret: str = "", name: str | None = None) -> int:
    with factory() as s:
        bind_actor(s, None)
        ch = NotificationChannel(enterprise_id=tenant.enterprise_id, kind=kind, name=name or kind, config=settings,
                                 secret=secret)
        s.add(ch)
        s.commit()
        return int(ch.id)


def set_pref(factory: sessionmaker[Session], tenant: Tenant, uid: int, **kw: Any) -> None:
    with factory() as s:
        s.add(NotificationPreference(enterprise_id=tenant.enterprise_id, user_id=uid, **kw))
        s.commit()


def rows(factory: sessionmaker[Session], **where: Any) -> list[Notification]:
    with factory() as s:
        q = select(Notification).order_by(Notification.id)
        for k, v in where.items():
            q = q.where(getattr(Notification, k) == v)
        return list(s.scalars(q))


def actor_of(db: Any, tenant: Tenant, role: str) -> Actor:
    with db.factory() as s:
        u = s.scalars(select(User).where(User.username == tenant.users[role])).one()
        return Actor(user_id=u.id, enterprise_id=u.enterprise_id, role=Role(u.role), username=u.username)
