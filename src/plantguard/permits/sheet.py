"""Everything one permit shows, gathered in one tenant-scoped read: the PDF (``pdf.py``) and the
console's detail page (``views.py``) print the same facts, so they read them from one place.

Why not the service's ``get``: the sheet also resolves every id to the name a reader needs
(people, areas, equipment, the applicant's account, linked permit numbers) and labels the
signature steps, which only the output side needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.i18n import N_, gettext
from plantguard.core.permissions import Actor
from plantguard.permits import types as catalogue
from plantguard.permits.contract import GasKind, SignStep, WorkerRole
from plantguard.permits.models import (
    GasAnalysis,
    Permit,
    PermitEvent,
    PermitLink,
    PermitMeasure,
    PermitPoint,
    PermitSignature,
    PermitWorker,
)
from plantguard.tenancy.models import Area, Enterprise, Person, User
from plantguard.timeseries.alignment.times import plant_tz

SIGN_STEP_LABELS: dict[str, str] = {
    SignStep.APPLICANT: N_("Applicant"),
    SignStep.WORK_LEADER: N_("Work leader"),
    SignStep.GUARDIAN: N_("Guardian"),
    SignStep.BRIEFER: N_("Safety briefing given by"),
    SignStep.BRIEFEE: N_("Safety briefing received by"),
    SignStep.SHIFT_LEADER: N_("Shift leader's check"),
    SignStep.ACCEPTANCE: N_("Completion acceptance"),
}
WORKER_ROLE_LABELS: dict[str, str] = {
    WorkerRole.WORKER: N_("Worker"),
    WorkerRole.ELECTRICIAN: N_("Electrician"),
    WorkerRole.RIGGER: N_("Rigger"),
    WorkerRole.SIGNALLER: N_("Signaller"),
    WorkerRole.CRANE_OPERATOR: N_("Crane operator"),
}
GAS_KIND_LABELS: dict[str, str] = {
    GasKind.COMBUSTIBLE: N_("Combustible gas"),
    GasKind.OXYGEN: N_("Oxygen"),
    GasKind.TOXIC: N_("Toxic gas"),
}
DECISION_LABELS: dict[str, str] = {"signed": N_("Signed"), "approved": N_("Approved"),
                                   "rejected": N_("Refused")}


def plant_time(ts: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) moment as the plant's clock shows it; "—" when unset."""
    if ts is None:
        return "—"
    aware = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return aware.astimezone(plant_tz()).strftime(fmt)


def is_zh() -> bool:
    from plantguard.core.context import locale_var

    return locale_var.get() == "zh_CN"


def type_name(code: str) -> str:
    t = catalogue.get_type(code)
    if t is None:
        return code
    return t.name if is_zh() else t.name_en


def grade_name(type_code: str, grade: str) -> str:
    t = catalogue.get_type(type_code)
    g = t.grade(grade) if t else None
    if g is None:
        return grade
    return g.name if is_zh() else g.name_en


def step_label(step: str) -> str:
    """The sign-off's name in the caller's language: approval steps name the approver role
    (types.yaml ``approver_roles``), countersigns the department."""
    if step.startswith("approve:"):
        role = catalogue.approver_roles().get(step.split(":", 1)[1])
        if role is None:
            return step
        return role["name"] if is_zh() else role["name_en"]
    if step.startswith("countersign:"):
        return gettext(N_("Countersign: %(department)s"), department=step.split(":", 1)[1])
    label = SIGN_STEP_LABELS.get(step)
    return gettext(label) if label else step


def message(msgid: str, params: dict[str, Any] | None = None) -> str:
    """A stored message id (grade reasons, conflicts) in the caller's language."""
    text = gettext(msgid)
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):
        return text


def gas_name(code: str, kind: str) -> str:
    row = catalogue.gases().get("gases", {}).get(code) if code else None
    if row:
        return str(row["name"] if is_zh() else row["name_en"])
    label = GAS_KIND_LABELS.get(kind)
    return gettext(label) if label else (code or kind)


@dataclass
class WorkerLine:
    role: str
    person_id: int
    name: str
    certificate_no: str
    contractor: bool


@dataclass
class Sheet:
    permit: Permit
    type: catalogue.PermitType | None
    area: Area | None
    equipment: Equipment | None
    enterprise: Enterprise | None
    applicant: str
    people: dict[int, Person]
    workers: list[WorkerLine]
    links: list[Permit]
    measures: list[PermitMeasure]
    gas: list[GasAnalysis]
    signatures: list[PermitSignature]
    events: list[PermitEvent]
    points: list[PermitPoint]
    user_names: dict[int, str] = field(default_factory=dict)

    def person(self, person_id: int | None) -> str:
        if person_id is None:
            return "—"
        p = self.people.get(person_id)
        return p.name if p else f"#{person_id}"

    def fields(self) -> list[tuple[str, str]]:
        """The type-specific fields (Appendix A) as (label, value) in the caller's language."""
        out: list[tuple[str, str]] = []
        if self.type is None:
            return out
        values = self.permit.fields or {}
        for spec in self.type.fields:
            if spec.name not in values:
                continue
            raw = values[spec.name]
            if spec.type == "bool":
                shown = gettext(N_("Yes")) if raw else gettext(N_("No"))
            elif spec.type == "choice":
                shown = str(spec.choices.get(str(raw), raw))
            elif spec.type == "multi" and isinstance(raw, list):
                shown = "、".join(str(spec.choices.get(str(v), v)) for v in raw)
            else:
                shown = "" if raw is None else str(raw)
            out.append((spec.label if is_zh() else spec.label_en, shown))
        return out

    def grade_reasons(self) -> list[str]:
        return [message(str(r.get("msgid") or ""), r.get("params")) for r in self.permit.grade_reasons or []
                if isinstance(r, dict)]

    def signatures_of(self, step: str) -> list[PermitSignature]:
        return [s for s in self.signatures if s.step == step]

    def approvals(self) -> list[PermitSignature]:
        return [s for s in self.signatures if s.step.startswith(("approve:", "countersign:"))]


def load(session: Session, actor: Actor, permit_id: int) -> Sheet:
    """The sheet of one permit of the caller's enterprise; another tenant's is "not found"."""
    from plantguard.permits.query import get

    permit = get(session, actor, permit_id)
    ent = actor.enterprise_id

    def rows(model: Any, order: Any) -> list[Any]:
        return list(session.scalars(select(model).where(model.enterprise_id == ent, model.permit_id == permit.id)
                                    .order_by(*order)))

    workers = rows(PermitWorker, (PermitWorker.id,))
    measures = rows(PermitMeasure, (PermitMeasure.code, PermitMeasure.id))
    gas = rows(GasAnalysis, (GasAnalysis.sampled_at, GasAnalysis.id))
    signatures = rows(PermitSignature, (PermitSignature.at, PermitSignature.id))
    events = rows(PermitEvent, (PermitEvent.at, PermitEvent.id))
    points = rows(PermitPoint, (PermitPoint.id,))
    link_ids = {lk.linked_id if lk.permit_id == permit.id else lk.permit_id for lk in session.scalars(
        select(PermitLink).where(PermitLink.enterprise_id == ent,
                                 or_(PermitLink.permit_id == permit.id, PermitLink.linked_id == permit.id)))}
    links = list(session.scalars(select(Permit).where(Permit.enterprise_id == ent, Permit.id.in_(link_ids))
                                 .order_by(Permit.number))) if link_ids else []
    person_ids = {w.person_id for w in workers} | {
        p for p in (permit.work_leader_id, permit.guardian_id) if p is not None} | {
        s.person_id for s in signatures if s.person_id is not None} | {
        m.confirmed_by_person_id for m in measures if m.confirmed_by_person_id is not None}
    people = {p.id: p for p in session.scalars(select(Person).where(
        Person.enterprise_id == ent, Person.id.in_(person_ids)))} if person_ids else {}
    user_ids = {u for u in [permit.applicant_user_id, *(e.user_id for e in events),
                            *(s.user_id for s in signatures)] if u is not None}
    user_names = {int(i): d or u for i, d, u in session.execute(select(User.id, User.display_name, User.username)
                                                                .where(User.enterprise_id == ent,
                                                                       User.id.in_(user_ids)))} if user_ids else {}
    area = session.get(Area, permit.area_id)
    equipment = session.get(Equipment, permit.equipment_id) if permit.equipment_id else None
    lines = [WorkerLine(w.role, w.person_id, people[w.person_id].name if w.person_id in people else f"#{w.person_id}",
                        w.certificate_no, bool(people.get(w.person_id) and people[w.person_id].contractor_company_id))
             for w in workers]
    return Sheet(
        permit=permit, type=catalogue.get_type(permit.type_code),
        area=area if area is not None and area.enterprise_id == ent else None,
        equipment=equipment if equipment is not None and equipment.enterprise_id == ent else None,
        enterprise=session.get(Enterprise, ent),
        applicant=user_names.get(permit.applicant_user_id, "") if permit.applicant_user_id else "",
        people=people, workers=lines, links=links, measures=measures, gas=gas, signatures=signatures,
        events=events, points=points, user_names=user_names)
