"""The console's CRUD resources: equipment, points, people, teams."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import CRITICALITIES, EQUIPMENT_STATUSES, Equipment
from plantguard.assets.schemas import EquipmentCreate, EquipmentUpdate, PointCreate, PointUpdate
from plantguard.assets.service import equipment_service, point_service
from plantguard.assets.types import EQUIPMENT_TYPES, type_label
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor
from plantguard.tenancy.models import Area, Person, SkillTag, Team
from plantguard.tenancy.schemas import PersonCreate, PersonUpdate, TeamCreate, TeamUpdate
from plantguard.tenancy.service import person_service, team_service
from plantguard.web.forms import Column, FormField, WebResource, choices

STATUS_LABELS = {
    "in_service": N_("In service"), "standby": N_("Standby"), "maintenance": N_("Under maintenance"),
    "retired": N_("Retired"),
}
CRITICALITY_LABELS = {"A": N_("A — critical"), "B": N_("B — important"), "C": N_("C — general")}
SHIFT_LABELS = {"day": N_("Day shift"), "A": N_("Shift A"), "B": N_("Shift B"), "C": N_("Shift C"),
                "D": N_("Shift D")}


def _types(session: Session, actor: Actor) -> list[tuple[str, str]]:
    return [(code, type_label(code)) for code in EQUIPMENT_TYPES]


def _areas(session: Session, actor: Actor) -> list[tuple[str, str]]:
    rows = session.execute(select(Area.id, Area.code, Area.name).where(Area.enterprise_id == actor.enterprise_id)
                           .order_by(Area.code)).all()
    return [(str(i), f"{c} {n}") for i, c, n in rows]


def _teams(session: Session, actor: Actor) -> list[tuple[str, str]]:
    rows = session.execute(select(Team.id, Team.code, Team.name).where(Team.enterprise_id == actor.enterprise_id)
                           .order_by(Team.code)).all()
    return [(str(i), f"{c} {n}") for i, c, n in rows]


def _people(session: Session, actor: Actor) -> list[tuple[str, str]]:
    rows = session.execute(select(Person.id, Person.employee_no, Person.name)
                           .where(Person.enterprise_id == actor.enterprise_id, Person.active.is_(True))
                           .order_by(Person.employee_no)).all()
    return [(str(i), f"{c} {n}") for i, c, n in rows]


def _skills(session: Session, actor: Actor) -> list[tuple[str, str]]:
    rows = session.execute(select(SkillTag.code, SkillTag.name)
                           .where(SkillTag.enterprise_id == actor.enterprise_id).order_by(SkillTag.code)).all()
    return [(c, n) for c, n in rows]


def _equipment(session: Session, actor: Actor) -> list[tuple[str, str]]:
    rows = session.execute(select(Equipment.id, Equipment.code, Equipment.name)
                           .where(Equipment.enterprise_id == actor.enterprise_id).order_by(Equipment.code)).all()
    return [(str(i), f"{c} {n}") for i, c, n in rows]


EQUIPMENT = WebResource(
    slug="equipment", title=N_("Equipment ledger"), singular=N_("Equipment"), service=equipment_service,
    create_schema=EquipmentCreate, update_schema=EquipmentUpdate, audit_entity="equipment",
    fields=[
        FormField("code", N_("Code"), required=True, maxlength=40),
        FormField("name", N_("Name"), required=True, maxlength=200),
        FormField("type", N_("Type"), required=True, maxlength=60, options=_types,
                  help=N_("Pick a known type or enter your own code")),
        FormField("area_id", N_("Area"), "select", required=True, options=_areas),
        FormField("model", N_("Model"), maxlength=200),
        FormField("maker", N_("Maker"), maxlength=200),
        FormField("install_date", N_("Install date"), "date"),
        FormField("criticality", N_("Criticality"), "select", required=True,
                  options=choices(CRITICALITIES, CRITICALITY_LABELS)),
        FormField("status", N_("Status"), "select", required=True,
                  options=choices(EQUIPMENT_STATUSES, STATUS_LABELS)),
        FormField("notes", N_("Notes"), "textarea"),
    ],
    columns=[
        Column("code", N_("Code"), lambda e: e.code, link=True),
        Column("name", N_("Name"), lambda e: e.name, link=True),
        Column("type", N_("Type"), lambda e: type_label(e.type)),
        Column("area", N_("Area"), lambda e: e.area.name),
        Column("maker", N_("Maker"), lambda e: e.maker),
        Column("criticality", N_("Criticality"), lambda e: e.criticality, badge="crit"),
        Column("status", N_("Status"), lambda e: STATUS_LABELS.get(e.status, e.status), badge="status",
               translate=True),
    ],
    filters=[
        FormField("area_id", N_("Area"), "select", options=_areas),
        FormField("status", N_("Status"), "select", options=choices(EQUIPMENT_STATUSES, STATUS_LABELS)),
        FormField("criticality", N_("Criticality"), "select", options=choices(CRITICALITIES, CRITICALITY_LABELS)),
    ],
    detail_fields=[
        Column("model", N_("Model"), lambda e: e.model),
        Column("install_date", N_("Install date"), lambda e: e.install_date or ""),
        Column("notes", N_("Notes"), lambda e: e.notes),
    ],
)

POINTS = WebResource(
    slug="points", title=N_("Measurement points"), singular=N_("Measurement point"), service=point_service,
    create_schema=PointCreate, update_schema=PointUpdate, audit_entity="measurement_point",
    fields=[
        FormField("equipment_id", N_("Equipment"), "select", required=True, options=_equipment),
        FormField("code", N_("Code"), required=True, maxlength=60),
        FormField("name", N_("Name"), required=True, maxlength=200),
        FormField("quantity", N_("Quantity"), maxlength=200),
        FormField("unit", N_("Unit"), maxlength=20),
        FormField("range_low", N_("Range low"), "number"),
        FormField("range_high", N_("Range high"), "number"),
        FormField("low_alarm", N_("Low alarm"), "number"),
        FormField("low_warning", N_("Low warning"), "number"),
        FormField("high_warning", N_("High warning"), "number"),
        FormField("high_alarm", N_("High alarm"), "number"),
        FormField("enabled", N_("Enabled"), "checkbox"),
    ],
    columns=[
        Column("code", N_("Code"), lambda p: p.code, link=True),
        Column("name", N_("Name"), lambda p: p.name, link=True),
        Column("equipment", N_("Equipment"), lambda p: p.equipment.name),
        Column("unit", N_("Unit"), lambda p: p.unit),
        Column("range", N_("Range"), lambda p: _range(p.range_low, p.range_high)),
        Column("alarms", N_("Alarm limits"), lambda p: _range(p.low_alarm, p.high_alarm)),
    ],
)


def _range(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return ""
    return f"{'' if lo is None else f'{lo:g}'} … {'' if hi is None else f'{hi:g}'}"


PEOPLE = WebResource(
    slug="people", title=N_("People"), singular=N_("Person"), service=person_service,
    create_schema=PersonCreate, update_schema=PersonUpdate, audit_entity="person",
    fields=[
        FormField("employee_no", N_("Employee no."), required=True, maxlength=40),
        FormField("name", N_("Name"), required=True, maxlength=100),
        FormField("job_title", N_("Job title"), maxlength=100),
        FormField("team_id", N_("Team"), "select", options=_teams),
        FormField("phone", N_("Phone"), maxlength=40),
        FormField("email", N_("E-mail"), maxlength=200),
        FormField("skills", N_("Skills"), "multiselect", options=_skills),
        FormField("active", N_("Active"), "checkbox"),
    ],
    columns=[
        Column("employee_no", N_("Employee no."), lambda p: p.employee_no, link=True),
        Column("name", N_("Name"), lambda p: p.name, link=True),
        Column("job_title", N_("Job title"), lambda p: p.job_title),
        Column("skills", N_("Skills"), lambda p: "、".join(s.name for s in p.skills)),
        Column("certs", N_("Certificates"), lambda p: len(p.certificates)),
    ],
    filters=[FormField("team_id", N_("Team"), "select", options=_teams)],
)

TEAMS = WebResource(
    slug="teams", title=N_("Teams"), singular=N_("Team"), service=team_service,
    create_schema=TeamCreate, update_schema=TeamUpdate, audit_entity="team",
    fields=[
        FormField("code", N_("Code"), required=True, maxlength=40),
        FormField("name", N_("Name"), required=True, maxlength=100),
        FormField("area_id", N_("Area"), "select", options=_areas),
        FormField("shift", N_("Shift"), "select", required=True, options=choices(tuple(SHIFT_LABELS), SHIFT_LABELS)),
        FormField("leader_id", N_("Team leader"), "select", options=_people),
        FormField("description", N_("Description"), "textarea"),
    ],
    columns=[
        Column("code", N_("Code"), lambda t: t.code, link=True),
        Column("name", N_("Name"), lambda t: t.name, link=True),
        Column("shift", N_("Shift"), lambda t: SHIFT_LABELS.get(t.shift, t.shift), translate=True),
    ],
)

RESOURCES = {r.slug: r for r in (EQUIPMENT, POINTS, PEOPLE, TEAMS)}


def label(msgid: str) -> str:
    return _(msgid)
