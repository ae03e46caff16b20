"""A clock the tests move by hand, an intake on the test database, and signal builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.alarms.models import Alarm, AlarmEvent, AlarmPolicy
from plantguard.detection.signals import ConditionSignal, Contribution, Severity
from plantguard.events.models import OutboxMessage
from tests.conftest import Db
from tests.factories import Tenant, make_tenant

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@dataclass
class World:
    db: Db
    t1: Tenant
    t2: Tenant
    clock: Clock
    intake: AlarmIntake
    seen_events: int = 0
    _unused: list[Any] = field(default_factory=list)

    def signal(self, source: str = "rule:1", active: bool = True, *, at: datetime | None = None,
               severity: Severity = Severity.WARNING, tenant: Tenant | None = None, **kw: Any) -> ConditionSignal:
        t = tenant or self.t1
        kw.setdefault("equipment_id", t.equipment_id)
        kw.setdefault("point_id", t.point_id)
        kw.setdefault("kind", "threshold")
        kw.setdefault("title", "液压压力过高")
        kw.setdefault("contributions", (Contribution(t.point_id, "EQ-1-HP", 29.5, 0.8, "MPa"),))
        kw.setdefault("explanation", {"detector": "threshold", "threshold": 28.0, "predicted_minutes": 12})
        return ConditionSignal(enterprise_id=t.enterprise_id, source=source, active=active,
                               ts=at or self.clock.now, severity=severity, score=0.7, **kw)

    def send(self, *signals: ConditionSignal) -> None:
        self.intake.apply(list(signals))

    def alarms(self, source: str | None = None) -> list[Alarm]:
        with self.db.factory() as s:
            q = select(Alarm).order_by(Alarm.id)
            if source is not None:
                q = q.where(Alarm.source == source)
            return list(s.scalars(q))

    def one(self, source: str = "rule:1") -> Alarm:
        found = self.alarms(source)
        assert len(found) == 1, found
        return found[0]

    def history(self, alarm_id: int) -> list[str]:
        with self.db.factory() as s:
            return list(s.scalars(select(AlarmEvent.kind).where(AlarmEvent.alarm_id == alarm_id)
                                  .order_by(AlarmEvent.id)))

    def events(self) -> list[dict[str, Any]]:
        with self.db.factory() as s:
            rows = s.scalars(select(OutboxMessage.envelope).where(OutboxMessage.event_type.like("alarm.%"))
                             .order_by(OutboxMessage.id)).all()
        return [dict(r) for r in rows]

    def new_events(self) -> list[dict[str, Any]]:
        all_ = self.events()
        out = all_[self.seen_events:]
        self.seen_events = len(all_)
        return out

    def policy(self, scope_key: str = "default", **values: Any) -> None:
        with self.db.factory() as s:
            s.add(AlarmPolicy(enterprise_id=self.t1.enterprise_id, scope_key=scope_key, **values))
            s.commit()


@pytest.fixture
def world(db: Db) -> World:
    clock = Clock()
    return World(db, make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2", roles=()), clock,
                 AlarmIntake(db.factory, clock=clock))


Make = Callable[..., ConditionSignal]
