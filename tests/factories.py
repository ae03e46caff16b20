"""Small, explicit test data: two enterprises, one account per role in the first."""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Role
from plantguard.tenancy.models import Area, Enterprise, Person, Site, SkillTag, Team, User

PASSWORD = "correct-horse-1"
_HASH: list[str] = []


def password_hash() -> str:
    """One argon2id hash for every test account, made with the cheapest parameters.

    argon2 reads its parameters from the stored hash when verifying, so the product's real
    cost (about 0.1-0.3 s per sign-in on this machine) stays in force for every other hash,
    while the suite's thousands of test sign-ins verify in microseconds.
    """
    if not _HASH:
        _HASH.append(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD))
    return _HASH[0]


@dataclass
class Tenant:
    enterprise_id: int
    site_id: int
    area_id: int
    area2_id: int
    team_id: int
    person_id: int
    equipment_id: int
    point_id: int
    skill_code: str
    users: dict[str, str] = field(default_factory=dict)  # role -> username


def make_tenant(factory: sessionmaker[Session], code: str, roles: tuple[Role, ...] = tuple(Role)) -> Tenant:
    with factory() as s:
        bind_actor(s, None)
        ent = Enterprise(code=code, name=f"{code} 有限公司")
        s.add(ent)
        s.flush()
        site = Site(enterprise_id=ent.id, code="S1", name="一厂")
        s.add(site)
        s.flush()
        area = Area(enterprise_id=ent.id, site_id=site.id, code="ST", name="冲压车间", kind="stamping",
                    polygon=[[0, 0], [50, 0], [50, 30], [0, 30]])
        area2 = Area(enterprise_id=ent.id, site_id=site.id, code="WD", name="焊装车间", kind="welding",
                     polygon=[[60, 0], [110, 0], [110, 30], [60, 30]])
        s.add_all([area, area2])
        s.flush()
        skill = SkillTag(enterprise_id=ent.id, code="weld", name="焊接")
        s.add(skill)
        team = Team(enterprise_id=ent.id, code="T1", name="冲压一班", area_id=area.id, shift="A")
        s.add(team)
        s.flush()
        person = Person(enterprise_id=ent.id, employee_no="P001", name="张伟", team_id=team.id, skills=[skill])
        s.add(person)
        eq = Equipment(enterprise_id=ent.id, area_id=area.id, code="EQ-1", name="1号压力机", type="press",
                       criticality="A")
        s.add(eq)
        s.flush()
        pt = MeasurementPoint(enterprise_id=ent.id, equipment_id=eq.id, code="EQ-1-HP", name="液压压力",
                              unit="MPa", range_low=0, range_high=35, high_alarm=28)
        s.add(pt)
        users: dict[str, str] = {}
        for role in roles:
            username = f"{code.lower()}-{role.value}"
            s.add(User(enterprise_id=ent.id, username=username, password_hash=password_hash(), role=role.value,
                       display_name=f"{role.value} of {code}"))
            users[role.value] = username
        s.commit()
        return Tenant(ent.id, site.id, area.id, area2.id, team.id, person.id, eq.id, pt.id, "weld", users)
