"""What the dashboard shows: only numbers read from the database.

Panels load their figures themselves (alarms, work orders, hazards, permits: htmx partials
served by each domain's views); an empty panel says what will appear there instead of showing
made-up figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.models import AuditEntry
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Area, Certificate, Person, Team

EXPIRY_WINDOW_DAYS = 30


@dataclass
class DashboardData:
    equipment: int = 0
    points: int = 0
    people: int = 0
    teams: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_area: list[dict[str, Any]] = field(default_factory=list)
    expiring: list[dict[str, Any]] = field(default_factory=list)
    expired_count: int = 0
    recent: list[AuditEntry] = field(default_factory=list)

    def status_series(self) -> list[dict[str, Any]]:
        from plantguard.web.resources import STATUS_LABELS

        colours = {"in_service": "#27ae60", "standby": "#2e86c1", "maintenance": "#e67e22", "retired": "#7f8c8d"}
        return [
            {"name": gettext(STATUS_LABELS.get(s, s)), "value": n, "itemStyle": {"color": colours.get(s, "#999")}}
            for s, n in sorted(self.by_status.items())
        ]


def collect(session: Session, actor: Actor, today: date | None = None) -> DashboardData:
    ent = actor.enterprise_id
    today = today or date.today()
    d = DashboardData()

    def count(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(model.enterprise_id == ent)) or 0)

    d.equipment, d.points, d.people, d.teams = (count(m) for m in (Equipment, MeasurementPoint, Person, Team))
    d.by_status = {
        s: int(n) for s, n in session.execute(
            select(Equipment.status, func.count()).where(Equipment.enterprise_id == ent).group_by(Equipment.status)
        )
    }
    rows = session.execute(
        select(Area.name, Equipment.criticality, func.count())
        .join(Equipment, Equipment.area_id == Area.id)
        .where(Area.enterprise_id == ent)
        .group_by(Area.name, Equipment.criticality)
    ).all()
    areas: dict[str, dict[str, int]] = {}
    for name, crit, n in rows:
        areas.setdefault(name, {"A": 0, "B": 0, "C": 0})[crit] = int(n)
    d.by_area = [{"area": k, **v} for k, v in sorted(areas.items(), key=lambda kv: -sum(kv[1].values()))]
    horizon = today + timedelta(days=EXPIRY_WINDOW_DAYS)
    certs = session.execute(
        select(Certificate, Person.name, Person.id)
        .join(Person, Person.id == Certificate.person_id)
        .where(Certificate.enterprise_id == ent, Certificate.expires_on.is_not(None),
               Certificate.expires_on <= horizon)
        .order_by(Certificate.expires_on)
    ).all()
    for cert, pname, pid in certs:
        assert cert.expires_on is not None
        days = (cert.expires_on - today).days
        if days < 0:
            d.expired_count += 1
        d.expiring.append({"person": pname, "person_id": pid, "kind": cert.kind, "expires_on": cert.expires_on,
                           "days": days})
    if actor.can(Perm.READ_AUDIT):
        d.recent = list(session.scalars(
            select(AuditEntry).where(AuditEntry.enterprise_id == ent).order_by(AuditEntry.seq.desc()).limit(8)
        ))
    return d
