"""Risk points at known levels for the map and card tests, written with the register's models."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from plantguard.audit.ledger import bind_actor
from plantguard.risk.models import ControlMeasure, HazardSource, RiskPoint
from tests.factories import Tenant

SVG_PLAN = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 120">'
            '<rect x="0" y="0" width="200" height="120" fill="#eef"/>'
            '<text x="10" y="10">一厂总平面图</text></svg>').encode()


def add_point(factory: sessionmaker[Session], t: Tenant, code: str, name: str, area_id: int,
              level: str | None, *, active: bool = True) -> int:
    with factory() as s:
        bind_actor(s, None)
        p = RiskPoint(enterprise_id=t.enterprise_id, code=code, name=name, kind="equipment", area_id=area_id,
                      equipment_id=t.equipment_id, job="冲压操作", responsible_level="team",
                      responsible_team_id=t.team_id, responsible_person_id=t.person_id, current_level=level,
                      active=active)
        s.add(p)
        s.commit()
        return p.id


def add_card_content(factory: sessionmaker[Session], t: Tenant, point_id: int) -> None:
    """A hazard source with two consequences and a measure of every kind."""
    with factory() as s:
        bind_actor(s, None)
        src = HazardSource(enterprise_id=t.enterprise_id, risk_point_id=point_id, name="滑块意外下行",
                           consequences=["machinery", "struck_by_object"], current_level="major")
        s.add(src)
        s.flush()
        for kind, text in (("engineering", "双手操作按钮与光电保护装置"), ("management", "交接班点检制度"),
                           ("training", "岗前安全培训"), ("ppe", "佩戴防护手套和安全鞋"),
                           ("emergency", "立即按下急停按钮并上报班长")):
            s.add(ControlMeasure(enterprise_id=t.enterprise_id, hazard_source_id=src.id, kind=kind,
                                 description=text))
        s.commit()
