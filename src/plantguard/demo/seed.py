"""Writing the demo plant (``plant.yaml``) into the database.

:func:`seed_demo` is idempotent: if the demo enterprise (code ``DEMO``) exists it returns
``created=False`` and touches nothing. Otherwise it writes the whole plant in one transaction,
recorded by the audit ledger as the ``system`` actor.

Measurement points are not listed one by one in the YAML: each equipment item gets the points
of its type's template (``point_templates``), with per-item overrides (``points``) and
additions (``extra_points``). Certificate dates are offsets in days from the seed date, so the
demo always shows some certificates about to expire and a couple already expired.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import CRITICALITIES, EQUIPMENT_STATUSES, Equipment, MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.contractors import demo as contractors_demo
from plantguard.contractors.models import ContractorCompany, ContractorQualification, SafetyInduction
from plantguard.core.db import transaction
from plantguard.core.permissions import Role
from plantguard.core.security import hash_password
from plantguard.tenancy.models import (
    Area,
    Certificate,
    Enterprise,
    Person,
    Site,
    SkillTag,
    Team,
    TenantMixin,
    User,
)

DEMO_ENTERPRISE_CODE = "DEMO"
DEMO_PASSWORD = "plantguard-demo"
# The demo accounts, username → role; every one signs in with DEMO_PASSWORD.
DEMO_ACCOUNTS: dict[str, Role] = {
    "admin": Role.ADMIN,
    "safety": Role.SAFETY_MANAGER,
    "leader": Role.TEAM_LEADER,
    "worker": Role.WORKER,
    "auditor": Role.AUDITOR,
    "contractor": Role.CONTRACTOR,
    # The maintenance team's leader and hydraulics technician: the demo routes stamping alarms to
    # their team (workorders/routing/demo.py), so the closed loop has someone to notify and assign.
    "mnt_leader": Role.TEAM_LEADER,
    "mnt_tech": Role.WORKER,
    # Special work permits (demo/permits.py): the plant leader who signs 特级动火 and 四级高处, the
    # electrical team (power supply unit), the painting and utilities team leaders (their areas'
    # operating unit), and the safety officer (hot-work guardian, fire-brigade countersign).
    "director": Role.SAFETY_MANAGER,
    "ele_leader": Role.TEAM_LEADER,
    "pt_leader": Role.TEAM_LEADER,
    "utl_leader": Role.TEAM_LEADER,
    "ehs_officer": Role.SAFETY_MANAGER,
}

THRESHOLDS = ("low_alarm", "low_warning", "high_warning", "high_alarm")
_POINT_KEYS = frozenset({"suffix", "name", "quantity", "unit", "range", "enabled", *THRESHOLDS})

# Models counted in the summary, per enterprise.
_COUNTED: dict[str, type[TenantMixin]] = {
    "sites": Site,
    "areas": Area,
    "equipment": Equipment,
    "points": MeasurementPoint,
    "skills": SkillTag,
    "teams": Team,
    "people": Person,
    "certificates": Certificate,
    "users": User,
    "contractor_companies": ContractorCompany,
    "contractor_qualifications": ContractorQualification,
    "safety_inductions": SafetyInduction,
}


class DemoDataError(ValueError):
    """``plant.yaml`` is inconsistent (a dangling reference, a bad threshold, ...)."""


class DemoSeedError(RuntimeError):
    """The demo cannot be seeded into this database (e.g. a demo user name is taken)."""


@dataclass
class SeedSummary:
    created: bool
    enterprise_id: int
    counts: dict[str, int] = field(default_factory=dict)
    # (username, role) of the enterprise's accounts, in creation order.
    accounts: list[tuple[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The data


def load_plant() -> dict[str, Any]:
    """The parsed ``plant.yaml`` (a fresh copy on every call)."""
    text = resources.files("plantguard.demo").joinpath("plant.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise DemoDataError("plant.yaml: expected a mapping at the top level")
    return data


def point_specs(item: Mapping[str, Any], templates: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The measurement points of one equipment item: its type's template, overridden by the
    item's ``points`` (by suffix; a ``null`` value removes a field), plus its ``extra_points``.
    Each spec has ``code`` (``<tag>-<suffix>``) and the point's fields."""
    tag = str(item.get("tag") or str(item["code"]).removeprefix("EQ-"))
    specs = [dict(p) for p in copy.deepcopy(templates.get(item["type"], []))]
    overrides: Mapping[str, Mapping[str, Any]] = item.get("points") or {}
    by_suffix = {p["suffix"]: p for p in specs}
    for suffix, change in overrides.items():
        if suffix not in by_suffix:
            raise DemoDataError(f"{item['code']}: override for unknown point {suffix!r}")
        for key, value in change.items():
            if key not in _POINT_KEYS:
                raise DemoDataError(f"{item['code']}-{suffix}: unknown point field {key!r}")
            if value is None:
                by_suffix[suffix].pop(key, None)
            else:
                by_suffix[suffix][key] = value
    specs.extend(dict(p) for p in copy.deepcopy(item.get("extra_points") or []))
    out: list[dict[str, Any]] = []
    for spec in specs:
        unknown = set(spec) - _POINT_KEYS
        if unknown:
            raise DemoDataError(f"{item['code']}: unknown point fields {sorted(unknown)}")
        low, high = spec.get("range") or (None, None)
        point: dict[str, Any] = {
            "code": f"{tag}-{spec['suffix']}",
            "name": str(spec["name"]),
            "quantity": str(spec.get("quantity", "")),
            "unit": str(spec.get("unit", "")),
            "range_low": _num(low),
            "range_high": _num(high),
            "enabled": bool(spec.get("enabled", True)),
        }
        for key in THRESHOLDS:
            point[key] = _num(spec.get(key))
        _check_thresholds(point)
        out.append(point)
    return out


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _check_thresholds(point: Mapping[str, Any]) -> None:
    """low_alarm ≤ low_warning ≤ high_warning ≤ high_alarm, all inside the range."""
    values = [point[k] for k in THRESHOLDS if point[k] is not None]
    if values != sorted(values):
        raise DemoDataError(f"{point['code']}: thresholds out of order")
    low, high = point["range_low"], point["range_high"]
    if low is not None and high is not None and low >= high:
        raise DemoDataError(f"{point['code']}: empty range")
    if values and ((low is not None and min(values) < low) or (high is not None and max(values) > high)):
        raise DemoDataError(f"{point['code']}: threshold outside the range")


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def certificate_dates(
    cert: Mapping[str, Any], kind: Mapping[str, Any], today: date
) -> tuple[date, date | None]:
    """(issued_on, expires_on) from the day offsets in ``cert``, resolved against ``today``."""
    expires_in = cert.get("expires_in_days")
    expires_on = today + timedelta(days=int(expires_in)) if expires_in is not None else None
    if cert.get("issued_days_ago") is not None:
        issued_on = today - timedelta(days=int(cert["issued_days_ago"]))
    elif expires_on is not None and kind.get("valid_years"):
        issued_on = _years_before(expires_on, int(kind["valid_years"]))
    else:
        issued_on = today - timedelta(days=365)
    if expires_on is not None and issued_on >= expires_on:
        raise DemoDataError(f"certificate {cert.get('kind')}: issued on or after it expires")
    return issued_on, expires_on


def _unique(items: list[Mapping[str, Any]], key: str, what: str) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for item in items:
        value = str(item[key])
        if value in out:
            raise DemoDataError(f"duplicate {what} {value!r}")
        out[value] = item
    return out


def validate(data: Mapping[str, Any]) -> None:
    """Check references, codes, enumerations and thresholds before anything is written."""
    areas = _unique(data["areas"], "code", "area")
    teams = _unique(data["teams"], "code", "team")
    people = _unique(data["people"], "employee_no", "employee number")
    skills = {s["name"] for s in _unique(data["skills"], "code", "skill").values()}
    kinds: Mapping[str, Any] = data["certificate_kinds"]
    _unique(data["equipment"], "code", "equipment")
    point_codes: set[str] = set()
    for item in data["equipment"]:
        if item["area"] not in areas:
            raise DemoDataError(f"{item['code']}: unknown area {item['area']!r}")
        if item.get("criticality", "B") not in CRITICALITIES:
            raise DemoDataError(f"{item['code']}: bad criticality {item.get('criticality')!r}")
        if item.get("status", "in_service") not in EQUIPMENT_STATUSES:
            raise DemoDataError(f"{item['code']}: bad status {item.get('status')!r}")
        for point in point_specs(item, data["point_templates"]):
            if point["code"] in point_codes:
                raise DemoDataError(f"duplicate point code {point['code']!r}")
            point_codes.add(point["code"])
    for team in data["teams"]:
        if team.get("area") is not None and team["area"] not in areas:
            raise DemoDataError(f"team {team['code']}: unknown area {team['area']!r}")
        if team.get("leader") is not None and team["leader"] not in people:
            raise DemoDataError(f"team {team['code']}: unknown leader {team['leader']!r}")
    for person in data["people"]:
        if person.get("team") is not None and person["team"] not in teams:
            raise DemoDataError(f"{person['employee_no']}: unknown team {person['team']!r}")
        for skill in person.get("skills") or []:
            if skill not in skills:
                raise DemoDataError(f"{person['employee_no']}: unknown skill {skill!r}")
        for cert in person.get("certificates") or []:
            if cert["kind"] not in kinds:
                raise DemoDataError(f"{person['employee_no']}: unknown certificate kind {cert['kind']!r}")
    users = _unique(data["users"], "username", "user")
    for name, user in users.items():
        if user.get("person") is not None and user["person"] not in people:
            raise DemoDataError(f"user {name}: unknown person {user['person']!r}")
        if DEMO_ACCOUNTS.get(name) != Role(user["role"]):
            raise DemoDataError(f"user {name}: role {user['role']!r} does not match DEMO_ACCOUNTS")
    missing = set(DEMO_ACCOUNTS) - set(users)
    if missing:
        raise DemoDataError(f"demo accounts missing from plant.yaml: {sorted(missing)}")
    problems = contractors_demo.problems(data)
    if problems:
        raise DemoDataError(problems[0])


# ---------------------------------------------------------------------------------------------
# Seeding


def seed_demo(session_factory: sessionmaker[Session], *, today: date | None = None) -> SeedSummary:
    """Seed the demo plant unless it exists; one transaction, recorded as ``system``."""
    today = today or date.today()
    data = load_plant()
    validate(data)
    code = str(data["enterprise"].get("code", DEMO_ENTERPRISE_CODE))
    try:
        with transaction(session_factory) as session:
            bind_actor(session, None)
            existing = _find(session, code)
            if existing is not None:
                return _summary(session, existing, created=False)
            names = [str(u["username"]) for u in data["users"]]
            taken = sorted(session.scalars(select(User.username).where(User.username.in_(names))))
            if taken:
                raise DemoSeedError(f"user names already taken outside the demo: {', '.join(taken)}")
            enterprise = _write(session, data, today)
            return _summary(session, enterprise.id, created=True)
    except IntegrityError:
        # Another process seeded the demo at the same time: its transaction won.
        with session_factory() as session:
            existing = _find(session, code)
            if existing is None:
                raise
            return _summary(session, existing, created=False)


def _find(session: Session, code: str) -> int | None:
    return session.scalar(select(Enterprise.id).where(Enterprise.code == code))


def _summary(session: Session, enterprise_id: int, *, created: bool) -> SeedSummary:
    counts = {
        name: int(
            session.scalar(
                select(func.count()).select_from(model).where(model.enterprise_id == enterprise_id)
            )
            or 0
        )
        for name, model in _COUNTED.items()
    }
    rows = session.execute(
        select(User.username, User.role).where(User.enterprise_id == enterprise_id).order_by(User.id)
    )
    accounts = [(str(username), str(role)) for username, role in rows]
    return SeedSummary(created=created, enterprise_id=enterprise_id, counts=counts, accounts=accounts)


def _write(session: Session, data: Mapping[str, Any], today: date) -> Enterprise:
    ent_spec = data["enterprise"]
    enterprise = Enterprise(
        code=str(ent_spec.get("code", DEMO_ENTERPRISE_CODE)),
        name=str(ent_spec["name"]),
        is_demo=bool(ent_spec.get("is_demo", True)),
    )
    session.add(enterprise)
    session.flush()
    eid = enterprise.id

    site_spec = data["site"]
    site = Site(
        enterprise_id=eid,
        code=str(site_spec["code"]),
        name=str(site_spec["name"]),
        address=str(site_spec.get("address", "")),
        plan_width=float(site_spec["plan_width"]),
        plan_height=float(site_spec["plan_height"]),
    )
    session.add(site)
    session.flush()

    areas: dict[str, Area] = {}
    for spec in data["areas"]:
        areas[spec["code"]] = Area(
            enterprise_id=eid,
            site_id=site.id,
            code=str(spec["code"]),
            name=str(spec["name"]),
            kind=str(spec.get("kind", "production")),
            polygon=[[float(x), float(y)] for x, y in spec["polygon"]],
            description=str(spec.get("description", "")),
        )
    skills: dict[str, SkillTag] = {
        s["name"]: SkillTag(enterprise_id=eid, code=str(s["code"]), name=str(s["name"]))
        for s in data["skills"]
    }
    session.add_all([*areas.values(), *skills.values()])
    session.flush()

    teams: dict[str, Team] = {}
    for spec in data["teams"]:
        area = areas.get(spec.get("area") or "")
        teams[spec["code"]] = Team(
            enterprise_id=eid,
            code=str(spec["code"]),
            name=str(spec["name"]),
            area_id=area.id if area else None,
            shift=str(spec.get("shift", "day")),
            description=str(spec.get("description", "")),
        )
    session.add_all(teams.values())
    session.flush()

    kinds: Mapping[str, Mapping[str, Any]] = data["certificate_kinds"]
    people: dict[str, Person] = {}
    for spec in data["people"]:
        team = teams.get(spec.get("team") or "")
        person = Person(
            enterprise_id=eid,
            employee_no=str(spec["employee_no"]),
            name=str(spec["name"]),
            phone=str(spec.get("phone", "")),
            email=str(spec.get("email", "")),
            job_title=str(spec.get("job_title", "")),
            team_id=team.id if team else None,
            active=bool(spec.get("active", True)),
        )
        person.skills = [skills[name] for name in spec.get("skills") or []]
        for cert in spec.get("certificates") or []:
            kind = kinds[cert["kind"]]
            issued_on, expires_on = certificate_dates(cert, kind, today)
            person.certificates.append(
                Certificate(
                    enterprise_id=eid,
                    kind=str(kind["name"]),
                    kind_code=str(cert["kind"]),
                    number=str(cert.get("number") or f"DEMO-{cert['kind']}-{spec['employee_no']}"),
                    issued_by=str(cert.get("issued_by") or kind.get("issued_by", "")),
                    issued_on=issued_on,
                    expires_on=expires_on,
                )
            )
        people[spec["employee_no"]] = person
    session.add_all(people.values())
    session.flush()

    contractors_demo.seed(session, eid, data.get("contractors") or [], people, today)

    # Teams and people refer to each other: leaders are set once both exist.
    for spec in data["teams"]:
        if spec.get("leader"):
            teams[spec["code"]].leader_id = people[spec["leader"]].id

    equipment: list[tuple[Equipment, list[dict[str, Any]]]] = []
    for spec in data["equipment"]:
        item = Equipment(
            enterprise_id=eid,
            area_id=areas[spec["area"]].id,
            code=str(spec["code"]),
            name=str(spec["name"]),
            type=str(spec["type"]),
            model=str(spec.get("model", "")),
            maker=str(spec.get("maker", "")),
            install_date=spec.get("install_date"),
            criticality=str(spec.get("criticality", "B")),
            status=str(spec.get("status", "in_service")),
            notes=str(spec.get("notes", "")),
        )
        equipment.append((item, point_specs(spec, data["point_templates"])))
    session.add_all(item for item, _ in equipment)
    session.flush()

    session.add_all(
        MeasurementPoint(enterprise_id=eid, equipment_id=item.id, **point)
        for item, points in equipment
        for point in points
    )
    # One hash for all demo accounts: they share the published demo password anyway, and
    # argon2 costs ~0.1 s per hash, which every seeding (tests included) would pay per user.
    demo_hash = hash_password(DEMO_PASSWORD)
    for spec in data["users"]:
        person_ref = spec.get("person")
        session.add(
            User(
                enterprise_id=eid,
                username=str(spec["username"]),
                display_name=str(spec.get("display_name", spec["username"])),
                password_hash=demo_hash,
                role=Role(spec["role"]).value,
                person_id=people[person_ref].id if person_ref else None,
                locale=str(spec.get("locale", "zh_CN")),
            )
        )
    session.flush()
    return enterprise
