"""Valid permits of every type for tests (shared by the permits helpers' tests).

``crew(session, enterprise_id)`` makes (once per enterprise) people holding every certificate
kind a permit type asks for, each with a user account so they can sign; ``make_permit`` applies
a valid draft of any type through the real service; ``make_approved`` / ``make_active`` take it
further. Times default to a weekday morning in plant time (Wednesday 2026-11-25 09:00–12:00
Asia/Shanghai), so hot work is not raised for night, rest day or holiday unless a test asks.

Usage::

    with db.factory() as s:
        bind_actor(s, actor)
        permit = make_permit(s, actor, type_code="hot_work", grade="second")
        s.commit()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.permissions import Actor, Role
from plantguard.permits import lifecycle, service, snapshot
from plantguard.permits.contract import GasKind, SignStep
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit
from plantguard.permits.types import get_type
from plantguard.tenancy.models import Area, Certificate, Person, User
from tests.factories import password_hash

# Wednesday 25 November 2026, 09:00 in Shanghai (01:00 UTC): a working day, in daytime.
DAY = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
VALID_UNTIL = date(2030, 12, 31)
ALL_KINDS = ("TZ-WELD", "TZ-LV", "TZ-HV", "TZ-HEIGHT", "SE-N1", "SE-Q1", "SE-Q2", "CS-TRAIN", "HW-WATCH")

# Fields of a valid application of each type (grade → overrides below).
FIELDS: dict[str, dict[str, Any]] = {
    "hot_work": {"hot_work_method": "welding", "medium": "蒸汽"},
    "confined_space": {"space_name": "T-101 甲醇储罐", "original_medium": "甲醇"},
    "blind_plate": {"operation": "insert", "line_no": "P-2001-80", "medium": "氮气", "temperature_c": 25,
                    "pressure_mpa": 0.1, "plate_material": "20#", "plate_spec": "DN80 PN16", "plate_no": "MB-07"},
    "work_at_height": {"height_m": 8},
    "lifting": {"mass_t": 20, "crane": "50 t 汽车吊", "commander": "周指挥"},
    "temp_electricity": {"connection_point": "2# 配电室 AP-3", "working_voltage_v": 380, "load_kw": 5.5},
    "excavation": {"depth_m": 1.0, "scope": "2 m × 3 m", "method": "manual"},
    "road_breaking": {"reason": "管线检修", "affected_depts": "消防队, 安全部"},
}
GRADE_FIELDS: dict[tuple[str, str], dict[str, Any]] = {
    ("work_at_height", "I"): {"height_m": 3},
    ("work_at_height", "II"): {"height_m": 8},
    ("work_at_height", "III"): {"height_m": 20},
    ("work_at_height", "IV"): {"height_m": 35},
    ("lifting", "first"): {"mass_t": 120, "lifting_plan": "DZ-FA-01"},
    ("lifting", "second"): {"mass_t": 60, "lifting_plan": "DZ-FA-02"},
    ("lifting", "third"): {"mass_t": 20},
}
GAS_CODE = {"hot_work": "methane", "confined_space": "methanol", "temp_electricity": "methane"}
_seq = count(1)


@dataclass
class Crew:
    enterprise_id: int
    area_id: int
    leader: Person
    workers: list[Person]
    users: dict[int, int] = field(default_factory=dict)  # person id → user id

    def actor(self, person: Person, role: Role = Role.TEAM_LEADER) -> Actor:
        """The account of ``person`` as an Actor (to sign as them); see also :func:`person_actor`."""
        return Actor(self.users[person.id], self.enterprise_id, role, f"u{person.id}", person.name)


def person_actor(s: Session, person_id: int, role: Role | None = None) -> Actor:
    """The account linked to a person (every crew member and guardian made here has one)."""
    u = s.scalars(select(User).where(User.person_id == person_id)).one()
    return Actor(u.id, u.enterprise_id, role or Role(u.role), u.username, u.display_name)


def _person(s: Session, enterprise_id: int, no: str, name: str, kinds: tuple[str, ...], role: str,
            crew: Crew | None = None) -> Person:
    p = Person(enterprise_id=enterprise_id, employee_no=no, name=name)
    for k in kinds:
        p.certificates.append(Certificate(enterprise_id=enterprise_id, kind=k, kind_code=k, number=f"{k}-{no}",
                                          expires_on=VALID_UNTIL))
    s.add(p)
    s.flush()
    u = User(enterprise_id=enterprise_id, username=f"e{enterprise_id}-{no.lower()}", password_hash=password_hash(),
             role=role, display_name=name, person_id=p.id)
    s.add(u)
    s.flush()
    if crew is not None:
        crew.users[p.id] = u.id
    return p


def crew(s: Session, enterprise_id: int) -> Crew:
    """The enterprise's permit crew, made on first use: a work leader and two workers holding
    every certificate kind (valid until 2030)."""
    area_id = s.scalar(select(Area.id).where(Area.enterprise_id == enterprise_id).order_by(Area.id))
    assert area_id is not None, "make_tenant first"
    people = {p.employee_no: p for p in s.scalars(select(Person).where(
        Person.enterprise_id == enterprise_id, Person.employee_no.in_(["PTW-L", "PTW-W1", "PTW-W2"])))}
    c = Crew(enterprise_id, area_id, people.get("PTW-L"), [])  # type: ignore[arg-type]
    if people:
        c.workers = [people["PTW-W1"], people["PTW-W2"]]
        for u in s.scalars(select(User).where(User.enterprise_id == enterprise_id,
                                              User.person_id.in_([p.id for p in people.values()]))):
            assert u.person_id is not None
            c.users[u.person_id] = u.id
        return c
    c.leader = _person(s, enterprise_id, "PTW-L", "刘负责", ALL_KINDS, "team_leader", c)
    c.workers = [_person(s, enterprise_id, "PTW-W1", "赵焊工", ALL_KINDS, "worker", c),
                 _person(s, enterprise_id, "PTW-W2", "钱电工", ALL_KINDS, "worker", c)]
    return c


def guardian(s: Session, enterprise_id: int, c: Crew | None = None, name: str = "孙监护") -> Person:
    """A new guardian (one guardian guards one job at a time, 4.10), with an account."""
    c = c or crew(s, enterprise_id)
    n = next(_seq)
    return _person(s, enterprise_id, f"PTW-G{n}", f"{name}{n}", ("HW-WATCH", "CS-TRAIN"), "worker", c)


def values(s: Session, enterprise_id: int, type_code: str = "hot_work", grade: str | None = None,
           **overrides: Any) -> dict[str, Any]:
    """The body of a valid application; ``overrides`` replace keys (``fields`` merge)."""
    c = crew(s, enterprise_id)
    ptype = get_type(type_code)
    assert ptype is not None, type_code
    if grade is None:
        grade = {"hot_work": "second", "lifting": "third"}.get(type_code, ptype.grades[0].code)
    fields = {**FIELDS[type_code], **GRADE_FIELDS.get((type_code, grade), {}), **overrides.pop("fields", {})}
    g = guardian(s, enterprise_id, c) if ptype.guardian_required or type_code in ("lifting", "road_breaking") else None
    out: dict[str, Any] = {
        "type_code": type_code, "grade": grade if ptype.graded else None, "content": f"{ptype.name}：检修",
        "location": "一厂冲压车间东侧", "area_id": c.area_id, "applicant_unit": "设备部", "work_unit": "检修班",
        "work_leader_id": c.leader.id, "guardian_id": g.id if g else None,
        "planned_start": DAY, "planned_end": DAY + timedelta(hours=3), "fields": fields,
        "risk_identification": "火灾、中毒", "jsa": [{"step": "准备", "hazards": "泄漏", "controls": "隔离"}],
        "gas_code": GAS_CODE.get(type_code),
        "workers": [{"person_id": c.workers[0].id, "role": "worker"}, {"person_id": c.workers[1].id, "role": "worker"}],
        "links": [],
    }
    out.update(overrides)
    return out


def make_permit(s: Session, actor: Actor, type_code: str = "hot_work", grade: str | None = None,
                now: datetime | None = None, **overrides: Any) -> Permit:
    """A valid draft permit of ``type_code`` applied by ``actor`` (needs permits.apply).

    Hot work inside a confined space: pass ``fields={"in_confined_space": True}`` and
    ``links=[cs.id]`` with a confined-space permit ``cs``."""
    body = values(s, actor.enterprise_id, type_code, grade, **overrides)
    return service.apply(s, actor, body, now=now or DAY - timedelta(hours=2))


def approve_now(s: Session, permit: Permit, at: datetime) -> Permit:
    """Mark a pending permit approved as the last approval step does (approvals.decide), for
    tests that are about what comes after approval."""
    permit.approved_at = at
    permit.content_sha256 = snapshot.content_sha256(s, permit)
    lifecycle.move(s, permit, "approve", at, lifecycle.SYSTEM)
    return permit


def make_approved(s: Session, actor: Actor, type_code: str = "hot_work", grade: str | None = None,
                  **overrides: Any) -> Permit:
    """Applied, submitted and approved (approval steps done directly, see :func:`approve_now`)."""
    permit = make_permit(s, actor, type_code, grade, **overrides)
    at = DAY - timedelta(hours=1)
    service.submit(s, actor, permit.id, now=at)
    if permit.status == S.PENDING:
        approve_now(s, permit, at)
    return permit


def make_ready(s: Session, actor: Actor, permit: Permit, *, at: datetime | None = None) -> Permit:
    """Everything the start needs: measures decided, gas analysed, sign-offs and briefing."""
    at = at or permit.planned_start + timedelta(minutes=10)
    c = crew(s, actor.enterprise_id)
    for m in service.measures(s, permit):
        service.confirm_measure(s, actor, permit.id, m.code, applicable=True, now=at - timedelta(minutes=20))
    ptype = get_type(permit.type_code)
    assert ptype is not None
    from plantguard.permits import gas

    for kind in gas.required_kinds(ptype, permit.fields):
        value, unit = (20.9, "%vol") if kind == GasKind.OXYGEN else (2.0, "%LEL")
        service.record_gas(s, actor, permit.id, kind=kind, gas_code=permit.gas_code if kind != GasKind.OXYGEN else None,
                           value=value, unit=unit, sampled_at=at - timedelta(minutes=10), sample_point="动火点",
                           analyst_name="化验员", now=at - timedelta(minutes=9))
    leader = c.actor(c.leader)
    service.sign(s, leader, permit.id, SignStep.WORK_LEADER, now=at - timedelta(minutes=5))
    service.sign(s, leader, permit.id, SignStep.BRIEFER, now=at - timedelta(minutes=5))
    if permit.guardian_id is not None:
        service.sign(s, person_actor(s, permit.guardian_id), permit.id, SignStep.GUARDIAN,
                     now=at - timedelta(minutes=5))
    service.sign(s, c.actor(c.workers[0], Role.WORKER), permit.id, SignStep.BRIEFEE, now=at - timedelta(minutes=4))
    return permit


def make_active(s: Session, actor: Actor, type_code: str = "hot_work", grade: str | None = None,
                **overrides: Any) -> Permit:
    """Approved, ready and started 10 minutes after its planned start."""
    permit = make_approved(s, actor, type_code, grade, **overrides)
    at = permit.planned_start + timedelta(minutes=10)
    make_ready(s, actor, permit, at=at)
    service.start(s, actor, permit.id, now=at)
    return permit
