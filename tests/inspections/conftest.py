"""Inspection test world: two tenants with the work-order roster (worker and worker2 in team
T1, the team leader leading it), a risk point in each with two control measures, and a clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Actor, Role
from plantguard.risk.models import ControlMeasure, HazardSource, RiskPoint
from plantguard.tenancy.models import User
from tests.conftest import Db
from tests.factories import Tenant, make_tenant
from tests.workorders.conftest import Clock, wire_roster

# Wednesday 2026-11-25 10:00 in Shanghai (02:00 UTC): day shift, week 48, Q4
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@dataclass
class Point:
    id: int
    measure_ids: list[int]
    source_id: int


def make_point(db: Db, t: Tenant, code: str = "RP-1") -> Point:
    with db.factory() as s:
        bind_actor(s, None)
        p = RiskPoint(enterprise_id=t.enterprise_id, code=code, name="1号压力机作业", kind="equipment",
                      area_id=t.area_id, equipment_id=t.equipment_id, responsible_team_id=t.team_id,
                      current_level="significant")
        s.add(p)
        s.flush()
        src = HazardSource(enterprise_id=t.enterprise_id, risk_point_id=p.id, name="机械伤害", consequences=["4"])
        s.add(src)
        s.flush()
        m1 = ControlMeasure(enterprise_id=t.enterprise_id, hazard_source_id=src.id, kind="engineering",
                            description="双手按钮与光电保护装置完好有效")
        m2 = ControlMeasure(enterprise_id=t.enterprise_id, hazard_source_id=src.id, kind="ppe",
                            description="佩戴防护手套和安全鞋")
        s.add_all([m1, m2])
        s.commit()
        return Point(p.id, [m1.id, m2.id], src.id)


def actor_of(session: Session, t: Tenant, role: str) -> Actor:
    from sqlalchemy import select

    u = session.scalars(select(User).where(User.enterprise_id == t.enterprise_id,
                                           User.username == t.users[role])).one()
    return Actor(user_id=u.id, enterprise_id=t.enterprise_id, role=Role(u.role), username=u.username)


@dataclass
class World:
    db: Db
    t1: Tenant
    t2: Tenant
    ids: dict[str, int]
    p1: Point
    p2: Point  # in t2
    clock: Clock

    def actor(self, session: Session, role: str, tenant: Tenant | None = None) -> Actor:
        return actor_of(session, tenant or self.t1, role)


@pytest.fixture
def world(db: Db) -> Iterator[World]:
    t1 = make_tenant(db.factory, "E1")
    t2 = make_tenant(db.factory, "E2")
    ids = wire_roster(db, t1)
    wire_roster(db, t2)
    yield World(db, t1, t2, ids, make_point(db, t1), make_point(db, t2), Clock(T0))
