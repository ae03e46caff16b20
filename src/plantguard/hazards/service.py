"""What people do with hazards: every function takes the caller, checks the role and scopes
every query to the caller's enterprise (another tenant's hazard is "not found").

Roles (``core/permissions.py``): ``hazards.report`` reports and adds photos; ``hazards.manage``
registers, declines, grades, records the treatment plan and closes out (销号);
``hazards.rectify`` rectifies (starts, records progress, hands over); ``hazards.accept``
accepts or refuses — never someone who rectified.

Every step checks everything before it changes anything, so a refusal leaves the row and its
history exactly as they were; the caller's transaction carries the change, the history line
and the outbox event together.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.crud import Page
from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.events.envelope import Context
from plantguard.hazards import criteria, deadlines, lifecycle
from plantguard.hazards.categories import CATEGORIES
from plantguard.hazards.contract import HazardGrade
from plantguard.hazards.contract import HazardStatus as S
from plantguard.hazards.lifecycle import Who
from plantguard.hazards.models import ATTACHMENT_KINDS, STATUS_LABELS, Hazard, HazardAttachment, HazardEvent
from plantguard.tenancy.models import Area, User
from plantguard.workorders import uploads

log = logging.getLogger("plantguard.hazards")

HAZARD = N_("Hazard")
ATTACHMENT = N_("Attachment")
# The statuses a deadline runs in: rectification not yet handed over.
OVERDUE_STATUSES: frozenset[str] = frozenset({S.ASSESSED, S.IN_TREATMENT})
# 重大隐患 "五落实" (regulations.md §3.4): field → label shown in a refusal.
FIVE_ITEMS: tuple[tuple[str, str], ...] = (
    ("responsible_id", N_("responsibility (responsible person)")),
    ("measures", N_("measures")),
    ("funds", N_("funds")),
    ("plan_deadline_at", N_("time limit")),
    ("emergency_plan", N_("emergency plan")),
)


class NotAllowed(PlantGuardError):
    status_code = 403
    code = "forbidden"


def who(actor: Actor) -> Who:
    return Who(user_id=actor.user_id or None, name=actor.display_name or actor.username)


def suggest(text: str) -> dict[str, Any] | None:
    """The classifier's suggestion for ``text`` (``Suggestion.to_dict``), or None when the text
    gives it nothing to go on."""
    from plantguard.hazards import classifier

    if not text.strip():
        return None
    try:
        s = classifier.suggest(text)
    except Exception:  # advice only: a broken model must not stop a report
        log.exception("hazard classifier failed")
        return None
    return s.to_dict() if s is not None else None


def _ref(session: Session, actor: Actor, model: Any, ident: int | None, field: str, label: str) -> None:
    if ident is None:
        return
    found = session.scalar(select(model.id).where(model.id == ident, model.enterprise_id == actor.enterprise_id))
    if found is None:
        raise ValidationFailed([FieldError(field, N_("%(entity)s not found"), {"entity": label})])


def _risk_point_ok(session: Session, actor: Actor, ident: int | None) -> None:
    if ident is None:
        return
    from plantguard.risk.models import RiskPoint

    _ref(session, actor, RiskPoint, ident, "risk_point_id", N_("Risk point"))


def _choice(value: str | None, allowed: tuple[str, ...] | list[str], field: str) -> list[FieldError]:
    if value is not None and value not in allowed:
        return [FieldError(field, N_("Must be one of: %(expected)s"), {"expected": ", ".join(allowed)})]
    return []


def report(session: Session, actor: Actor, values: dict[str, Any], *, source: str = "report",
           source_ref: str = "", photo_ids: list[int] | None = None, client_key: str | None = None,
           now: datetime | None = None) -> Hazard:
    """A new hazard (排查/上报). ``values``: description, area_id (or equipment_id), equipment_id,
    risk_point_id, title, location, lat, lon, category, grade. The classifier's suggestion is
    stored beside what the reporter chose, never in its place. A ``client_key`` (the phone's
    Idempotency-Key) already used returns the hazard it created instead of a second one."""
    actor.require(Perm.REPORT_HAZARDS)
    earlier = by_client_key(session, actor, client_key) if client_key else None
    if earlier is not None:
        return earlier
    description = str(values.get("description") or "").strip()
    errors: list[FieldError] = []
    if not description:
        errors.append(FieldError("description", N_("This field is required")))
    errors += _choice(values.get("category"), CATEGORIES, "category")
    errors += _choice(values.get("grade"), [g.value for g in HazardGrade], "grade")
    if errors:
        raise ValidationFailed(errors)
    _ref(session, actor, Equipment, values.get("equipment_id"), "equipment_id", N_("Equipment"))
    _ref(session, actor, Area, values.get("area_id"), "area_id", N_("Area"))
    _risk_point_ok(session, actor, values.get("risk_point_id"))
    area_id = values.get("area_id")
    if area_id is None and values.get("equipment_id") is not None:
        area_id = session.scalar(select(Equipment.area_id).where(Equipment.id == values["equipment_id"]))
    if area_id is None:
        raise ValidationFailed([FieldError("area_id", N_("This field is required"))])
    at = now or utcnow()
    title = str(values.get("title") or "").strip() or description.splitlines()[0][:60]
    hint = suggest(f"{title}\n{description}" if values.get("title") else description)
    ctx = session.info.get("context") or Context(user_id=actor.user_id or None)
    session.info["context"] = ctx
    hazard = Hazard(enterprise_id=actor.enterprise_id, number=lifecycle.next_number(session, actor.enterprise_id, at),
                    title=title[:200], description=description, area_id=area_id,
                    equipment_id=values.get("equipment_id"), risk_point_id=values.get("risk_point_id"),
                    location=str(values.get("location") or "")[:300], lat=values.get("lat"), lon=values.get("lon"),
                    category=values.get("category"), grade=values.get("grade"), grade_basis=[],
                    source=source, source_ref=source_ref[:200], reporter_id=actor.user_id or None, reported_at=at,
                    suggested_category=hint["category"] if hint else None,
                    suggested_grade=hint["grade"] if hint else None,
                    suggestion_confidence=hint["confidence"] if hint else None,
                    status=S.REPORTED, rectified_by=[], context_id=ctx.id, client_key=client_key)
    session.add(hazard)
    session.flush()
    detail: dict[str, Any] = {"source": source, "source_ref": source_ref}
    if photo_ids:
        detail["photo_ids"] = [int(i) for i in photo_ids]
    if hint:
        detail["suggestion"] = hint
    lifecycle.record(session, hazard, "reported", at=at, who=who(actor), note=description[:500],
                     detail=detail, source_ref=source_ref)
    return hazard


def by_client_key(session: Session, actor: Actor, key: str) -> Hazard | None:
    return session.scalars(select(Hazard).where(Hazard.enterprise_id == actor.enterprise_id,
                                                Hazard.client_key == key)).first()


def get(session: Session, actor: Actor, hazard_id: int, *, for_update: bool = False) -> Hazard:
    actor.require(Perm.READ)
    q = select(Hazard).where(Hazard.id == hazard_id, Hazard.enterprise_id == actor.enterprise_id)
    hazard = session.scalars(q.with_for_update() if for_update else q).first()
    if hazard is None:
        raise NotFound(HAZARD, hazard_id)
    return hazard


def list_hazards(session: Session, actor: Actor, *, status: str | None = None, grade: str | None = None,
                 category: str | None = None, area_id: int | None = None, overdue: bool | None = None,
                 limit: int = 50, offset: int = 0, now: datetime | None = None) -> Page[Hazard]:
    actor.require(Perm.READ)
    statuses = [s for s in (status or "").split(",") if s]
    errors: list[FieldError] = []
    if status == "open":
        statuses = sorted(set(STATUS_LABELS) - {S.CLOSED, S.REJECTED})
    for s in statuses:
        if s not in STATUS_LABELS:
            errors.append(FieldError("status", N_("Must be one of: %(expected)s"),
                                     {"expected": ", ".join([*STATUS_LABELS, "open"])}))
            break
    errors += _choice(grade, [g.value for g in HazardGrade], "grade")
    errors += _choice(category, CATEGORIES, "category")
    if errors:
        raise ValidationFailed(errors)
    conds: list[ColumnElement[bool]] = [Hazard.enterprise_id == actor.enterprise_id]
    if statuses:
        conds.append(Hazard.status.in_(statuses))
    if grade:
        conds.append(Hazard.grade == grade)
    if category:
        conds.append(Hazard.category == category)
    if area_id is not None:
        conds.append(Hazard.area_id == area_id)
    if overdue:
        conds += [Hazard.status.in_(sorted(OVERDUE_STATUSES)), Hazard.deadline_at < (now or utcnow())]
    total = int(session.scalar(select(func.count()).select_from(Hazard).where(*conds)) or 0)
    items = session.scalars(select(Hazard).where(*conds).order_by(Hazard.id.desc()).limit(limit).offset(offset)).all()
    return Page(items, total)


def history(session: Session, actor: Actor, hazard: Hazard) -> list[HazardEvent]:
    return list(session.scalars(select(HazardEvent).where(
        HazardEvent.hazard_id == hazard.id, HazardEvent.enterprise_id == actor.enterprise_id)
        .order_by(HazardEvent.id)))


def attachments(session: Session, actor: Actor, hazard: Hazard) -> list[HazardAttachment]:
    return list(session.scalars(select(HazardAttachment).where(
        HazardAttachment.hazard_id == hazard.id, HazardAttachment.enterprise_id == actor.enterprise_id)
        .order_by(HazardAttachment.id)))


def get_attachment(session: Session, actor: Actor, hazard_id: int, attachment_id: int) -> HazardAttachment:
    get(session, actor, hazard_id)
    att = session.scalars(select(HazardAttachment).where(
        HazardAttachment.id == attachment_id, HazardAttachment.hazard_id == hazard_id,
        HazardAttachment.enterprise_id == actor.enterprise_id)).first()
    if att is None:
        raise NotFound(ATTACHMENT, attachment_id)
    return att


def is_overdue(hazard: Hazard, now: datetime | None = None) -> bool:
    return (hazard.status in OVERDUE_STATUSES and hazard.deadline_at is not None
            and hazard.deadline_at < (now or utcnow()))


def missing_five_items(hazard: Hazard) -> list[str]:
    """The labels (message ids) of the 五落实 items a 重大隐患 still lacks."""
    out = []
    for field, label in FIVE_ITEMS:
        value = getattr(hazard, field)
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append(label)
    return out


# -- steps -----------------------------------------------------------------------------------


def register(session: Session, actor: Actor, hazard_id: int, *, title: str | None = None,
             category: str | None = None, note: str = "", now: datetime | None = None) -> Hazard:
    """登记: the safety department confirms the report is a hazard and files it."""
    actor.require(Perm.MANAGE_HAZARDS)
    if errors := _choice(category, CATEGORIES, "category"):
        raise ValidationFailed(errors)
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "register")
    if title and title.strip():
        hazard.title = title.strip()[:200]
    if category:
        hazard.category = category
    lifecycle.move(session, hazard, "register", now or utcnow(), who(actor), note,
                   detail={"category": hazard.category})
    session.flush()
    return hazard


def reject(session: Session, actor: Actor, hazard_id: int, reason: str, now: datetime | None = None) -> Hazard:
    """Not a hazard (or a duplicate): closed without entering the loop, with the reason."""
    actor.require(Perm.MANAGE_HAZARDS)
    if not reason.strip():
        raise ValidationFailed([FieldError("reason", N_("This field is required"))])
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "reject")
    hazard.reject_reason = reason.strip()[:500]
    lifecycle.move(session, hazard, "reject", now or utcnow(), who(actor), reason.strip(), reason=reason.strip())
    session.flush()
    return hazard


def assess(session: Session, actor: Actor, hazard_id: int, *, grade: str, basis: list[str] | None = None,
           basis_text: str = "", treatment: str = "deadline", category: str | None = None,
           deadline_at: datetime | None = None, note: str = "", now: datetime | None = None) -> Hazard:
    """评估: grade 一般/重大 and set the deadline. A 重大 grade names its basis: criterion codes
    from the criteria lists and/or a free-text basis."""
    actor.require(Perm.MANAGE_HAZARDS)
    at = now or utcnow()
    codes = [c.strip() for c in basis or [] if c.strip()]
    errors = _choice(grade, [g.value for g in HazardGrade], "grade")
    errors += _choice(treatment, ["immediate", "deadline"], "treatment")
    errors += _choice(category, CATEGORIES, "category")
    known = criteria.by_code()
    unknown = [c for c in codes if c not in known]
    if unknown:
        errors.append(FieldError("basis", N_("Unknown criterion: %(codes)s"), {"codes": ", ".join(unknown)}))
    if grade == HazardGrade.MAJOR and not codes and not basis_text.strip():
        errors.append(FieldError("basis", N_("A major hazard needs its basis: name a criterion item or describe "
                                             "the basis")))
    if grade == HazardGrade.MAJOR and treatment == "immediate":
        errors.append(FieldError("treatment", N_("A major hazard is rectified by a plan with a time limit, "
                                                 "not immediately")))
    if deadline_at is not None and deadline_at <= at:
        errors.append(FieldError("deadline_at", N_("Must be in the future")))
    if errors:
        raise ValidationFailed(errors)
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "assess")
    hazard.grade, hazard.treatment = grade, treatment
    hazard.grade_basis, hazard.grade_basis_text = codes, basis_text.strip()
    if category:
        hazard.category = category
    hazard.deadline_at = deadline_at or deadlines.deadline_for(
        deadlines.of(session, actor.enterprise_id), grade, treatment, at, hazard.plan_deadline_at)
    lifecycle.move(session, hazard, "assess", at, who(actor), note,
                   detail={"grade": grade, "basis": codes, "basis_text": hazard.grade_basis_text,
                           "treatment": treatment, "deadline_at": hazard.deadline_at.isoformat()},
                   basis=codes, treatment=treatment)
    session.flush()
    return hazard


def plan(session: Session, actor: Actor, hazard_id: int, values: dict[str, Any],
         now: datetime | None = None) -> Hazard:
    """Record the treatment plan's five items (五落实): responsible_id, measures, funds,
    plan_deadline_at, emergency_plan. For a 重大隐患 the plan's date becomes the deadline."""
    actor.require(Perm.MANAGE_HAZARDS)
    at = now or utcnow()
    _ref(session, actor, User, values.get("responsible_id"), "responsible_id", N_("User"))
    plan_at = values.get("plan_deadline_at")
    if plan_at is not None and plan_at <= at:
        raise ValidationFailed([FieldError("plan_deadline_at", N_("Must be in the future"))])
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "plan")
    for field in ("responsible_id", "measures", "funds", "plan_deadline_at", "emergency_plan"):
        if field in values:
            value = values[field]
            setattr(hazard, field, value.strip() if isinstance(value, str) else value)
    if hazard.grade == HazardGrade.MAJOR and hazard.plan_deadline_at is not None:
        hazard.deadline_at = hazard.plan_deadline_at
    lifecycle.move(session, hazard, "plan", at, who(actor), str(values.get("note") or ""),
                   detail={"responsible_id": hazard.responsible_id, "funds": hazard.funds,
                           "plan_deadline_at": hazard.plan_deadline_at.isoformat()
                           if hazard.plan_deadline_at else None,
                           "missing": missing_five_items(hazard)})
    session.flush()
    return hazard


def _rectified(hazard: Hazard, actor: Actor) -> None:
    if actor.user_id not in hazard.rectified_by:
        hazard.rectified_by = [*hazard.rectified_by, actor.user_id]


def start(session: Session, actor: Actor, hazard_id: int, note: str = "", now: datetime | None = None) -> Hazard:
    """治理 begins. A 重大隐患 needs all five items first; the refusal names each missing one."""
    actor.require(Perm.RECTIFY_HAZARDS)
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "start")
    if hazard.grade == HazardGrade.MAJOR:
        missing = missing_five_items(hazard)
        if missing:
            raise Conflict(N_("Rectification of a major hazard cannot start before its treatment plan names "
                              "responsibility, measures, funds, time limit and emergency plan. Missing: "
                              "%(missing)s"), missing=tuple(missing))
    at = now or utcnow()
    hazard.treatment_started_at = at
    _rectified(hazard, actor)
    lifecycle.move(session, hazard, "start", at, who(actor), note)
    session.flush()
    return hazard


def progress(session: Session, actor: Actor, hazard_id: int, note: str, now: datetime | None = None) -> Hazard:
    actor.require(Perm.RECTIFY_HAZARDS)
    if not note.strip():
        raise ValidationFailed([FieldError("note", N_("This field is required"))])
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "progress")
    _rectified(hazard, actor)
    lifecycle.move(session, hazard, "progress", now or utcnow(), who(actor), note.strip())
    session.flush()
    return hazard


def submit(session: Session, actor: Actor, hazard_id: int, note: str = "", now: datetime | None = None) -> Hazard:
    actor.require(Perm.RECTIFY_HAZARDS)
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "submit")
    at = now or utcnow()
    hazard.submitted_at = at
    _rectified(hazard, actor)
    lifecycle.move(session, hazard, "submit", at, who(actor), note)
    session.flush()
    return hazard


def _require_acceptor(actor: Actor, hazard: Hazard) -> None:
    actor.require(Perm.ACCEPT_HAZARDS)
    if actor.user_id in hazard.rectified_by:
        raise NotAllowed(N_("Acceptance must be done by someone other than the person who rectified the hazard"))


def accept(session: Session, actor: Actor, hazard_id: int, note: str = "", now: datetime | None = None) -> Hazard:
    """验收: by someone other than the rectifier, with before and after photos on file."""
    hazard = get(session, actor, hazard_id, for_update=True)
    _require_acceptor(actor, hazard)
    lifecycle.check(hazard, "accept")
    kinds = set(session.scalars(select(HazardAttachment.kind).where(
        HazardAttachment.hazard_id == hazard.id, HazardAttachment.enterprise_id == actor.enterprise_id)))
    missing = [ATTACHMENT_KINDS[k] for k in ("before", "after") if k not in kinds]
    if missing:
        raise Conflict(N_("Acceptance needs photos before and after rectification. Missing: %(missing)s"),
                       missing=tuple(missing))
    at = now or utcnow()
    hazard.accepted_by, hazard.accepted_at = actor.user_id, at
    lifecycle.move(session, hazard, "accept", at, who(actor), note, accepted_by=actor.user_id)
    session.flush()
    return hazard


def refuse(session: Session, actor: Actor, hazard_id: int, reason: str, now: datetime | None = None) -> Hazard:
    """验收不通过: back to rectification, with the reason."""
    if not reason.strip():
        raise ValidationFailed([FieldError("reason", N_("This field is required"))])
    hazard = get(session, actor, hazard_id, for_update=True)
    _require_acceptor(actor, hazard)
    lifecycle.move(session, hazard, "refuse", now or utcnow(), who(actor), reason.strip(), reason=reason.strip())
    session.flush()
    return hazard


def close(session: Session, actor: Actor, hazard_id: int, note: str = "", now: datetime | None = None) -> Hazard:
    """销号: only after acceptance."""
    actor.require(Perm.MANAGE_HAZARDS)
    hazard = get(session, actor, hazard_id, for_update=True)
    lifecycle.check(hazard, "close")
    at = now or utcnow()
    hazard.closed_by, hazard.closed_at = actor.user_id, at
    lifecycle.move(session, hazard, "close", at, who(actor), note)
    session.flush()
    return hazard


def _stamp(data: bytes, hazard: Hazard, at: datetime, area_name: str) -> bytes | None:
    """Time and place stamped into the image (``hazards.stamp``); None keeps the original."""
    from plantguard.hazards.stamp import stamp_photo

    place = " · ".join(p for p in (area_name, hazard.location) if p)
    try:
        out = stamp_photo(data, at=at, place=place, lat=hazard.lat, lon=hazard.lon, number=hazard.number)
    except Exception:  # the original is kept rather than losing the evidence
        log.exception("hazard photo stamping failed")
        return None
    return bytes(out) if isinstance(out, bytes | bytearray) else None


def add_attachment(session: Session, actor: Actor, hazard_id: int, kind: str, filename: str, data: bytes,
                   var_dir: Path, note: str = "", now: datetime | None = None) -> HazardAttachment:
    """A before/after/other photo; JPEG/PNG/WebP checked by content and size (work-order uploads)."""
    if not (actor.can(Perm.REPORT_HAZARDS) or actor.can(Perm.RECTIFY_HAZARDS) or actor.can(Perm.MANAGE_HAZARDS)):
        actor.require(Perm.REPORT_HAZARDS)
    if kind not in ATTACHMENT_KINDS:
        raise ValidationFailed([FieldError("kind", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(ATTACHMENT_KINDS)})])
    checked = uploads.check(data, "file")
    hazard = get(session, actor, hazard_id, for_update=True)
    again = session.scalars(select(HazardAttachment).where(
        HazardAttachment.hazard_id == hazard.id, HazardAttachment.enterprise_id == actor.enterprise_id,
        HazardAttachment.kind == kind, HazardAttachment.original_sha256 == checked.sha256)).first()
    if again is not None:  # the same photo sent again (a phone replaying its queue): nothing new
        return again
    lifecycle.check(hazard, "attach")
    at = now or utcnow()
    area_name = session.scalar(select(Area.name).where(Area.id == hazard.area_id)) or ""
    stamped = _stamp(checked.data, hazard, at, area_name)
    stored = checked
    if stamped is not None:
        try:
            stored = uploads.check(bytes(stamped), "file")
        except ValidationFailed:  # stamping made it unacceptable: keep the original
            stored, stamped = checked, None
    name = uploads.store(var_dir, actor.enterprise_id, stored)
    att = HazardAttachment(enterprise_id=actor.enterprise_id, hazard_id=hazard.id, kind=kind,
                           filename=filename[:200], stored_name=name, content_type=stored.content_type,
                           size=len(stored.data), sha256=stored.sha256, original_sha256=checked.sha256,
                           stamped=stamped is not None, uploaded_by=actor.user_id or None, uploaded_at=at)
    session.add(att)
    session.flush()
    if kind == "after" and hazard.status == S.IN_TREATMENT:
        _rectified(hazard, actor)
    lifecycle.move(session, hazard, "attach", at, who(actor), note,
                   detail={"attachment_id": att.id, "kind": kind, "sha256": att.sha256,
                           "original_sha256": att.original_sha256}, attachment_id=att.id)
    session.flush()
    return att
