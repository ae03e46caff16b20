"""Two tenants with an environment monitor each, and helpers for the alignment tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Actor, Role
from plantguard.ingest.reading import to_us
from plantguard.timeseries.alignment.times import zone
from tests.conftest import Db
from tests.factories import Tenant, make_tenant

SHANGHAI = zone("Asia/Shanghai")


def local_us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """µs of a Shanghai wall-clock time, e.g. ``local_us(2026, 3, 2, 8, 30)``."""
    return to_us(datetime(year, month, day, hour, minute, tzinfo=SHANGHAI))


def actor_of(tenant: Tenant, role: Role = Role.ADMIN) -> Actor:
    return Actor(user_id=1, enterprise_id=tenant.enterprise_id, role=role, username=f"test-{role.value}")


@dataclass
class Plant:
    db: Db
    t1: Tenant
    t2: Tenant
    env_eq_id: int  # t1's environment monitor in area ST
    tmp_point_id: int
    rh_point_id: int
    t2_only_equipment: str  # a code that exists in t2 only


def add_env_monitor(db: Db, tenant: Tenant, code: str = "ST-ENV") -> tuple[int, int, int]:
    with db.factory() as s:
        bind_actor(s, None)
        eq = Equipment(enterprise_id=tenant.enterprise_id, area_id=tenant.area_id, code=code, name="温湿度变送器",
                       type="env_monitor", criticality="C")
        s.add(eq)
        s.flush()
        tmp = MeasurementPoint(enterprise_id=tenant.enterprise_id, equipment_id=eq.id, code=f"{code}-TMP",
                               name="环境温度", quantity="temperature", unit="°C")
        rh = MeasurementPoint(enterprise_id=tenant.enterprise_id, equipment_id=eq.id, code=f"{code}-RH",
                              name="环境相对湿度", quantity="humidity", unit="%RH")
        s.add_all([tmp, rh])
        s.commit()
        return eq.id, tmp.id, rh.id


@pytest.fixture
def plant(db: Db) -> Plant:
    t1 = make_tenant(db.factory, "E1", roles=(Role.ADMIN,))
    t2 = make_tenant(db.factory, "E2", roles=(Role.ADMIN,))
    env_eq, tmp, rh = add_env_monitor(db, t1)
    with db.factory() as s:
        bind_actor(s, None)
        s.add(Equipment(enterprise_id=t2.enterprise_id, area_id=t2.area_id, code="EQ-T2-ONLY", name="二厂设备",
                        type="press"))
        s.commit()
    return Plant(db, t1, t2, env_eq, tmp, rh, "EQ-T2-ONLY")
