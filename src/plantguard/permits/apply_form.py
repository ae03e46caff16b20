"""The console's apply form (``/permits/new``): its choices and the parsing of what it posts.

Why the form is driven by the type catalogue: each type's grades and Appendix A fields come
from ``types.yaml``; the page renders one fieldset per type (``<type>.<field>`` names, so two
types' ``medium`` never collide) and only the chosen type's values are read back. People are
offered as the plant's employees and the workers of *admitted* contractors, each with their
certificate kinds, because the service refuses anyone else with the clause that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.contractors.models import ContractorCompany
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor
from plantguard.permits.contract import LIVE_STATUSES, WorkerRole
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit
from plantguard.permits.types import all_types, gases, get_type
from plantguard.tenancy.models import Area, Person
from plantguard.timeseries.alignment.times import plant_tz

BAD_NUMBER = N_("Enter a number")
BAD_MOMENT = N_("Enter a date and time")
MAX_ROWS = 30
TEXT_KEYS = ("content", "location", "applicant_unit", "work_unit", "risk_identification", "other_measures",
             "other_measures_by")
TEXT_LIMITS = {"location": 300, "applicant_unit": 200, "work_unit": 200, "other_measures_by": 100}


@dataclass
class PersonOption:
    id: int
    label: str
    group: str  # "" = employee, else the contractor company's name


def people(session: Session, actor: Actor) -> list[PersonOption]:
    """Active employees, then the workers of admitted contractors, with their certificate kinds."""
    ent = actor.enterprise_id
    admitted = {c.id: c.name for c in session.scalars(select(ContractorCompany).where(
        ContractorCompany.enterprise_id == ent, ContractorCompany.status == "admitted"))}
    out: list[PersonOption] = []
    for p in session.scalars(select(Person).where(Person.enterprise_id == ent, Person.active.is_(True))
                             .order_by(Person.contractor_company_id.is_not(None), Person.employee_no)):
        if p.contractor_company_id is not None and p.contractor_company_id not in admitted:
            continue
        kinds = sorted({c.kind_code or c.kind for c in p.certificates})
        label = f"{p.name} ({p.employee_no})" + (" · " + ", ".join(kinds) if kinds else "")
        out.append(PersonOption(p.id, label, admitted.get(p.contractor_company_id or 0, "")))
    return out


def options(session: Session, actor: Actor) -> dict[str, Any]:
    """Everything the form offers, read once per render."""
    ent = actor.enterprise_id
    areas = session.execute(select(Area.id, Area.code, Area.name).where(Area.enterprise_id == ent)
                            .order_by(Area.code)).all()
    equipment = session.execute(select(Equipment.id, Equipment.code, Equipment.name, Equipment.area_id).where(
        Equipment.enterprise_id == ent).order_by(Equipment.code)).all()
    companies = session.execute(select(ContractorCompany.id, ContractorCompany.name).where(
        ContractorCompany.enterprise_id == ent, ContractorCompany.status == "admitted")
        .order_by(ContractorCompany.name)).all()
    linkable = session.execute(select(Permit.id, Permit.number, Permit.type_code, Permit.content).where(
        Permit.enterprise_id == ent, Permit.status.in_(sorted(LIVE_STATUSES | {S.DRAFT})))
        .order_by(Permit.id.desc()).limit(200)).all()
    return {"types": list(all_types().values()), "areas": areas, "equipment": equipment, "companies": companies,
            "people": people(session, actor), "links": linkable, "gases": gases()["gases"],
            "roles": list(WorkerRole)}


def defaults(now: datetime, type_code: str | None) -> dict[str, Any]:
    """A fresh form: the next full hour for four hours (plant time)."""
    start = now.astimezone(plant_tz()).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {"type_code": type_code if get_type(type_code or "") else "hot_work",
            "planned_start": start.strftime("%Y-%m-%dT%H:%M"),
            "planned_end": (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")}


def _id(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 16 else None


def _moment(raw: str, field: str, errors: list[FieldError]) -> datetime | None:
    """A plant-local ``datetime-local`` value as an aware datetime."""
    if not raw.strip():
        return None
    try:
        return datetime.strptime(raw.strip()[:16], "%Y-%m-%dT%H:%M").replace(tzinfo=plant_tz())
    except ValueError:
        errors.append(FieldError(field, BAD_MOMENT))
        return None


def _number(raw: str, field: str, errors: list[FieldError]) -> float | None:
    try:
        value = float(raw.strip().replace(",", "."))
    except ValueError:
        value = float("nan")
    if value != value or abs(value) >= 1e12:  # not a number, or one no field means
        errors.append(FieldError(field, BAD_NUMBER))
        return None
    return value


def parse(form: Any) -> dict[str, Any]:
    """The posted form as ``service.apply`` values; unreadable numbers or moments raise
    ``ValidationFailed`` naming their field, like the service's own refusals."""
    text = {k: str(v).replace("\x00", "").strip() for k, v in form.multi_items() if isinstance(v, str)}
    errors: list[FieldError] = []
    type_code = text.get("type_code", "")
    v: dict[str, Any] = {"type_code": type_code}
    for k in TEXT_KEYS:
        v[k] = text.get(k, "")[:TEXT_LIMITS.get(k, 5000)]
    for k in ("area_id", "equipment_id", "work_leader_id", "guardian_id", "contractor_company_id"):
        v[k] = _id(text.get(k, ""))
    for k in ("plan_x", "plan_y"):
        v[k] = _number(text[k], k, errors) if text.get(k) else None
    v["planned_start"] = _moment(text.get("planned_start", ""), "planned_start", errors)
    v["planned_end"] = _moment(text.get("planned_end", ""), "planned_end", errors)
    v["gas_code"] = text.get("gas_code") or None
    v["continuous_monitoring"] = text.get("continuous_monitoring") == "1"
    ptype = get_type(type_code)
    fields: dict[str, Any] = {}
    if ptype is not None:
        v["grade"] = (text.get(f"{type_code}.grade") or None) if ptype.graded else None
        for spec in ptype.fields:
            key = f"{type_code}.{spec.name}"
            if spec.type == "bool":
                if text.get(key) == "1":
                    fields[spec.name] = True
            elif spec.type == "multi":
                chosen = [str(x) for x in form.getlist(key) if isinstance(x, str)]
                if chosen:
                    fields[spec.name] = chosen
            elif text.get(key):
                fields[spec.name] = (_number(text[key], f"fields.{spec.name}", errors) if spec.type == "number"
                                     else text[key][:500])
    v["fields"] = fields
    workers = []
    for i in range(MAX_ROWS):
        person = _id(text.get(f"workers.{i}.person_id", ""))
        if person is not None:
            workers.append({"person_id": person, "role": text.get(f"workers.{i}.role") or WorkerRole.WORKER.value})
    v["workers"] = workers
    jsa = []
    for i in range(MAX_ROWS):
        row = {k: text.get(f"jsa.{i}.{k}", "")[:1000] for k in ("step", "hazards", "controls")}
        if any(row.values()):
            jsa.append(row)
    v["jsa"] = jsa
    v["links"] = [i for i in (_id(str(x)) for x in form.getlist("links") if isinstance(x, str)) if i is not None]
    if errors:
        raise ValidationFailed(errors)
    return v


def echo(form: Any) -> dict[str, Any]:
    """What was typed, to fill the form again after a refusal."""
    out: dict[str, Any] = {k: str(v) for k, v in form.multi_items() if isinstance(v, str)}
    out["links"] = [str(x) for x in form.getlist("links")]
    for rows, prefix in (("worker_rows", "workers."), ("jsa_rows", "jsa.")):
        used = [int(k.split(".")[1]) for k in out if k.startswith(prefix) and k.split(".")[1].isdigit()]
        out[rows] = min(max(3, max(used, default=0) + 1), MAX_ROWS)
    return out
