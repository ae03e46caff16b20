"""Special work permits (特殊作业票, GB 30871-2022): apply, change a draft, submit, cancel, expire.

Every function takes the caller, checks the role and scopes every query to the caller's
enterprise (another tenant's permit is "not found"). Every rule is checked before anything
changes, so a refusal leaves the permit, its history and the outbox exactly as they were; the
caller's transaction carries the change, the history line and the event together
(``permits/lifecycle.py``).

Reads are in ``permits/query.py`` and the steps of the work itself (measures, gas, sign-offs,
start … close) in ``permits/steps.py``; both are re-exported here so callers need one module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.events.envelope import Context
from plantguard.permits import calendar, lifecycle, rules
from plantguard.permits.calendar import aware
from plantguard.permits.contract import LIVE_STATUSES, TERMINAL_STATUSES, WorkerRole
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.lifecycle import SYSTEM
from plantguard.permits.models import Permit, PermitLink, PermitMeasure, PermitWorker
from plantguard.permits.query import (
    PERMIT,
    analyses,
    by_client_key,
    conflicts_of,
    get,
    history,
    linked,
    list_permits,
    measures,
    replayed,
    signatures,
    who,
    workers,
)
from plantguard.permits.types import PermitType, gases, get_type
from plantguard.tenancy.models import Area, Person
from plantguard.timeseries.alignment.times import plant_tz

log = logging.getLogger("plantguard.permits")

NOT_FOUND = N_("%(entity)s not found")
# What an application may name; ``fields`` are the type's own (types.yaml).
PERMIT_KEYS = ("type_code", "grade", "content", "location", "area_id", "equipment_id", "plan_x", "plan_y",
               "applicant_unit", "work_unit", "contractor_company_id", "work_leader_id", "guardian_id",
               "planned_start", "planned_end", "fields", "risk_identification", "jsa", "other_measures",
               "other_measures_by", "gas_code", "continuous_monitoring", "workers", "links")
# Linking to a permit that is still a draft is allowed while applying (both are filled in
# together); by submission the linked permit must be live.
LINKABLE_AT_APPLY = frozenset(LIVE_STATUSES | {S.DRAFT})


@dataclass
class Checked:
    """An application that passed every rule, with what the checks loaded."""

    ptype: PermitType
    grade: rules.GradeDecision
    leader: Person | None
    guardian: Person | None
    workers: list[tuple[Person, str]]
    links: list[Permit]
    cert: dict[int, Any] = field(default_factory=dict)  # person id → the certificate that qualifies them


def _person(session: Session, enterprise_id: int, ident: Any, field_name: str,
            errors: list[FieldError]) -> Person | None:
    if ident is None:
        return None
    p = session.scalars(select(Person).where(Person.id == ident, Person.enterprise_id == enterprise_id)).first()
    if p is None:
        errors.append(FieldError(field_name, NOT_FOUND, {"entity": N_("Person")}))
    return p


def _ref(session: Session, enterprise_id: int, model: Any, ident: Any, field_name: str, label: str,
         errors: list[FieldError]) -> None:
    if ident is None:
        return
    if session.scalar(select(model.id).where(model.id == ident, model.enterprise_id == enterprise_id)) is None:
        errors.append(FieldError(field_name, NOT_FOUND, {"entity": label}))


def guardian_busy(session: Session, enterprise_id: int, guardian_id: int, start: datetime, end: datetime,
                  self_id: int | None = None) -> list[Permit]:
    """Live permits the person already guards in an overlapping window (4.10: one job at a time)."""
    q = select(Permit).where(Permit.enterprise_id == enterprise_id, Permit.guardian_id == guardian_id,
                             Permit.status.in_(sorted(LIVE_STATUSES)), Permit.planned_start < end,
                             Permit.planned_end > start)
    if self_id is not None:
        q = q.where(Permit.id != self_id)
    return list(session.scalars(q.order_by(Permit.id)))


def admission_refusals(session: Session, enterprise_id: int, people: list[tuple[str, Person]],
                       days: list[Any]) -> list[FieldError]:
    """Contractors' workers must pass the admission check (induction, company qualifications,
    agreement) on every day the permit may run: checked on its first and its last day, so a
    7-day height permit cannot outlive an induction or a licence."""
    from plantguard.contractors.admission import admission_refusals as check

    errors: list[FieldError] = []
    for field_name, person in people:
        for on in dict.fromkeys(days):
            for e in check(session, enterprise_id, person.id, on, field=field_name):
                if e not in errors:
                    errors.append(e)
    return errors


def evaluate(session: Session, enterprise_id: int, v: dict[str, Any], *, self_id: int | None = None,
             linkable: frozenset[str] = LINKABLE_AT_APPLY) -> Checked:
    """Every rule of an application (``v``: the full set of values); all refusals at once."""
    errors: list[FieldError] = []
    ptype = get_type(str(v.get("type_code") or ""))
    if ptype is None:
        from plantguard.permits.contract import PERMIT_TYPES

        raise ValidationFailed([FieldError("type_code", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(PERMIT_TYPES)})])
    if not str(v.get("content") or "").strip():
        errors.append(FieldError("content", rules.REQUIRED))
    _ref(session, enterprise_id, Area, v.get("area_id"), "area_id", N_("Area"), errors)
    if v.get("area_id") is None:
        errors.append(FieldError("area_id", rules.REQUIRED))
    _ref(session, enterprise_id, Equipment, v.get("equipment_id"), "equipment_id", N_("Equipment"), errors)
    if v.get("contractor_company_id") is not None:
        from plantguard.contractors.models import ContractorCompany

        _ref(session, enterprise_id, ContractorCompany, v["contractor_company_id"], "contractor_company_id",
             N_("Contractor"), errors)
    if v.get("gas_code") and v["gas_code"] not in gases()["gases"]:
        errors.append(FieldError("gas_code", N_("Unknown gas %(gas)s"), {"gas": v["gas_code"]}))
    start, end = aware(v["planned_start"]), aware(v["planned_end"])
    fields: dict[str, Any] = dict(v.get("fields") or {})
    errors += rules.field_refusals(ptype, fields)
    cfg = calendar.load(session, enterprise_id)
    decision, grade_errors = rules.decide_grade(ptype, v.get("grade"), fields, start, end, cfg)
    errors += grade_errors
    links: list[Permit] = []
    for i, lid in enumerate(v.get("links") or []):
        lp = session.scalars(select(Permit).where(Permit.id == lid, Permit.enterprise_id == enterprise_id)).first()
        if lp is None or lp.id == self_id:
            errors.append(FieldError(f"links.{i}", NOT_FOUND, {"entity": PERMIT}))
        else:
            links.append(lp)
    errors += rules.link_refusals(ptype, fields, links, linkable)
    if decision is not None:
        errors += rules.plan_refusals(ptype, decision.grade, fields)
        errors += rules.validity_refusals(ptype, decision.grade, fields, start, end, cfg, links)
    leader = _person(session, enterprise_id, v.get("work_leader_id"), "work_leader_id", errors)
    guardian = _person(session, enterprise_id, v.get("guardian_id"), "guardian_id", errors)
    crew: list[tuple[Person, str]] = []
    seen: set[tuple[int, str]] = set()
    for i, w in enumerate(v.get("workers") or []):
        role = str(w.get("role") or WorkerRole.WORKER)
        if role not in set(WorkerRole):
            errors.append(FieldError(f"workers.{i}.role", N_("Must be one of: %(expected)s"),
                                     {"expected": ", ".join(WorkerRole)}))
            continue
        p = _person(session, enterprise_id, w.get("person_id"), f"workers.{i}.person_id", errors)
        if p is not None and (p.id, role) not in seen:
            seen.add((p.id, role))
            crew.append((p, role))
    busy = guardian_busy(session, enterprise_id, guardian.id, start, end, self_id) if guardian else []
    until = end.astimezone(plant_tz()).date()
    missing_person = any(e.field in ("work_leader_id", "guardian_id") or e.field.startswith("workers.")
                         for e in errors if e.message == NOT_FOUND)
    if not missing_person:
        errors += rules.people_refusals(ptype, cfg, leader=leader, guardian=guardian,
                                        workers=[p for p, _ in crew], until=until, guardian_busy=busy)
        named = [("work_leader_id", leader)] if leader else []
        named += [("guardian_id", guardian)] if guardian else []
        named += [(f"workers.{i}.person_id", p) for i, (p, _) in enumerate(crew)]
        errors += admission_refusals(session, enterprise_id, [(f, p) for f, p in named if p is not None],
                                     [start.astimezone(plant_tz()).date(), until])
    if errors or decision is None:
        raise ValidationFailed(errors or [FieldError("grade", rules.REQUIRED)])
    codes = rules.certificate_codes(ptype, cfg, "workers")
    cert = {p.id: rules.valid_certificate(p, codes, until) for p, _ in crew} if codes else {}
    return Checked(ptype, decision, leader, guardian, crew, links, cert)


def find_conflicts(session: Session, permit: Permit) -> list[dict[str, Any]]:
    """Overlapping permits at the same place (helper D's ``conflicts.find``): shown, not refused."""
    try:
        from plantguard.permits import conflicts
    except ImportError:
        log.warning("permits.conflicts missing: overlaps not checked")
        return []
    found: list[dict[str, Any]] = conflicts.find(session, permit)
    return found


def _set_people(session: Session, permit: Permit, c: Checked) -> None:
    session.execute(delete(PermitWorker).where(PermitWorker.permit_id == permit.id))
    for p, role in c.workers:
        cert = c.cert.get(p.id)
        session.add(PermitWorker(enterprise_id=permit.enterprise_id, permit_id=permit.id, person_id=p.id, role=role,
                                 certificate_id=cert.id if cert else None, certificate_no=cert.number if cert else ""))


def _set_links(session: Session, permit: Permit, c: Checked) -> None:
    session.execute(delete(PermitLink).where(PermitLink.permit_id == permit.id))
    for p in c.links:
        session.add(PermitLink(enterprise_id=permit.enterprise_id, permit_id=permit.id, linked_id=p.id))


SCALARS = ("content", "location", "area_id", "equipment_id", "plan_x", "plan_y", "applicant_unit", "work_unit",
           "contractor_company_id", "work_leader_id", "guardian_id", "risk_identification", "jsa",
           "other_measures", "other_measures_by", "gas_code", "continuous_monitoring")


# Columns that are never NULL: an omitted (None) value is their empty default.
EMPTY: dict[str, Any] = {"content": "", "location": "", "applicant_unit": "", "work_unit": "",
                         "risk_identification": "", "other_measures": "", "other_measures_by": "",
                         "continuous_monitoring": False}


def _assign(permit: Permit, v: dict[str, Any], c: Checked) -> None:
    for k in SCALARS:
        if k in v:
            val = v[k]
            if val is None and k in EMPTY:
                val = EMPTY[k]
            elif k == "jsa":
                val = list(val or [])
            setattr(permit, k, val)
    permit.planned_start, permit.planned_end = aware(v["planned_start"]), aware(v["planned_end"])
    permit.fields = dict(v.get("fields") or {})
    permit.requested_grade = str(v.get("grade") or "")
    permit.grade = c.grade.grade
    permit.grade_reasons = c.grade.reasons


def apply(session: Session, actor: Actor, values: dict[str, Any], *, client_key: str | None = None,
          now: datetime | None = None) -> Permit:
    """A new draft permit (申请). ``values``: PERMIT_KEYS; ``workers``: [{person_id, role}];
    ``links``: permit ids. A repeated ``client_key`` returns the permit it created."""
    actor.require(Perm.APPLY_PERMITS)
    if client_key:
        earlier = by_client_key(session, actor, client_key)
        if earlier is not None:
            return earlier
    v = {k: values[k] for k in PERMIT_KEYS if k in values}
    for k in ("planned_start", "planned_end"):
        if not isinstance(v.get(k), datetime):
            raise ValidationFailed([FieldError(k, rules.REQUIRED)])
    c = evaluate(session, actor.enterprise_id, v)
    at = now or utcnow()
    ctx = session.info.get("context") or Context(user_id=actor.user_id or None)
    session.info["context"] = ctx
    permit = Permit(enterprise_id=actor.enterprise_id, type_code=c.ptype.code, status=S.DRAFT.value,
                    number=lifecycle.next_number(session, actor.enterprise_id, c.ptype.number_prefix, at),
                    applied_at=at, applicant_user_id=actor.user_id or None, context_id=ctx.id,
                    client_key=client_key, content="", location="", jsa=[], fields={}, grade_reasons=[])
    _assign(permit, v, c)
    session.add(permit)
    session.flush()
    _set_people(session, permit, c)
    _set_links(session, permit, c)
    for m in c.ptype.measures:
        session.add(PermitMeasure(enterprise_id=actor.enterprise_id, permit_id=permit.id, code=m.code, text=m.text))
    session.flush()
    found = find_conflicts(session, permit)
    lifecycle.record(session, permit, "applied", at=at, who=who(actor), note=permit.content[:500],
                     detail={"conflicts": found, "grade_reasons": permit.grade_reasons})
    return permit


def _current(session: Session, permit: Permit) -> dict[str, Any]:
    v: dict[str, Any] = {k: getattr(permit, k) for k in SCALARS}
    v.update(type_code=permit.type_code, grade=permit.requested_grade or None, fields=dict(permit.fields or {}),
             planned_start=permit.planned_start, planned_end=permit.planned_end,
             workers=[{"person_id": w.person_id, "role": w.role} for w in workers(session, permit)],
             links=list(session.scalars(select(PermitLink.linked_id).where(PermitLink.permit_id == permit.id))))
    return v


def update(session: Session, actor: Actor, permit_id: int, values: dict[str, Any], *,
           now: datetime | None = None) -> Permit:
    """Change a draft; once submitted a permit is never altered (4.18: a change needs a new one)."""
    actor.require(Perm.APPLY_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    lifecycle.check(permit, "edit")
    if "type_code" in values and values["type_code"] != permit.type_code:
        raise ValidationFailed([FieldError("type_code", N_("The type cannot be changed: apply for a new permit"))])
    v = _current(session, permit)
    changed = sorted(k for k in PERMIT_KEYS if k in values and k != "type_code" and values[k] != v.get(k))
    v.update({k: values[k] for k in PERMIT_KEYS if k in values and k != "type_code"})
    c = evaluate(session, actor.enterprise_id, v, self_id=permit.id)
    _assign(permit, v, c)
    if "workers" in values:
        _set_people(session, permit, c)
    if "links" in values:
        _set_links(session, permit, c)
    session.flush()
    found = find_conflicts(session, permit)
    lifecycle.move(session, permit, "edit", now or utcnow(), who(actor),
                   detail={"changed": changed, "conflicts": found, "grade_reasons": permit.grade_reasons})
    return permit


def submit(session: Session, actor: Actor, permit_id: int, *, note: str = "", client_key: str | None = None,
           now: datetime | None = None) -> Permit:
    """Send for approval: every rule again (people, certificates, the guardian's other jobs may
    have changed since the draft), the linked permits now live, then the approval workflow."""
    actor.require(Perm.APPLY_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    lifecycle.check(permit, "submit")
    v = _current(session, permit)
    evaluate(session, actor.enterprise_id, v, self_id=permit.id, linkable=LIVE_STATUSES)
    at = now or utcnow()
    found = find_conflicts(session, permit)
    detail: dict[str, Any] = {"conflicts": found}
    if client_key:
        detail["client_key"] = client_key
    try:
        from plantguard.permits import approvals
    except ImportError:  # the approval workflow is not installed: the permit waits in pending_approval
        log.warning("permits.approvals missing: permit %s waits for approval without a workflow", permit.number)
    else:
        approvals.start(session, permit, at=at)  # may refuse (no process to sign): before the move
    lifecycle.move(session, permit, "submit", at, who(actor), note, detail=detail, conflicts=found)
    return permit


def cancel(session: Session, actor: Actor, permit_id: int, reason: str, *, client_key: str | None = None,
           now: datetime | None = None) -> Permit:
    """作废/收回: the applicant before approval; the guardian during work (4.10); permits.manage
    at any time. A reason is required."""
    if not (actor.can(Perm.APPLY_PERMITS) or actor.can(Perm.WORK_PERMITS)):
        actor.require(Perm.MANAGE_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    if not reason.strip():
        raise ValidationFailed([FieldError("reason", rules.REQUIRED)])
    lifecycle.check(permit, "cancel")
    if not actor.can(Perm.MANAGE_PERMITS):
        from plantguard.permits import steps

        applicant = permit.applicant_user_id == actor.user_id and permit.status in (S.DRAFT, S.PENDING)
        guardian = (permit.status in (S.APPROVED, S.ACTIVE, S.SUSPENDED) and permit.guardian_id is not None
                    and steps.person_of(session, actor) == permit.guardian_id)
        if not (applicant or guardian):
            raise Conflict(N_("Only the applicant before approval, the guardian during the work (%(clause)s) or a "
                              "permit manager may cancel this permit"), clause=rules.cite("4.10"))
    permit.cancel_reason = reason.strip()[:500]
    detail: dict[str, Any] = {"reason": permit.cancel_reason}
    if client_key:
        detail["client_key"] = client_key
    lifecycle.move(session, permit, "cancel", now or utcnow(), who(actor), permit.cancel_reason, detail=detail,
                   reason=permit.cancel_reason)
    return permit


def expire_due(session: Session, now: datetime | None = None) -> list[int]:
    """System: permits whose validity ended before completion become expired (4.16)."""
    at = now or utcnow()
    due = list(session.scalars(select(Permit).where(
        Permit.status.in_([S.APPROVED, S.ACTIVE, S.SUSPENDED]), Permit.planned_end <= at).order_by(Permit.id)))
    for permit in due:
        lifecycle.move(session, permit, "expire", at, SYSTEM, detail={"planned_end": permit.planned_end.isoformat()})
    return [p.id for p in due]


def is_terminal(permit: Permit) -> bool:
    return permit.status in TERMINAL_STATUSES


from plantguard.permits.steps import (  # noqa: E402  (re-exported; steps imports query, not this module)
    close,
    complete,
    confirm_measure,
    record_gas,
    resume,
    sign,
    start,
    suspend,
)

__all__ = ["PERMIT", "analyses", "apply", "aware", "by_client_key", "cancel", "close", "complete",
           "confirm_measure", "conflicts_of", "evaluate", "expire_due", "get", "history", "linked", "list_permits",
           "measures", "record_gas", "replayed", "resume", "sign", "signatures", "start", "submit", "suspend",
           "update", "who", "workers"]
