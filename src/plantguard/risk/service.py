"""The risk register: points, hazard sources, control measures and assessments.

Every function takes the caller, checks the role (``risk.manage`` to write, ``read`` to read)
and scopes every query to the caller's enterprise: another tenant's point is "not found".

Levels: a hazard source's current level is the level of its latest assessment. A point's
current level is the highest current level of its *active* hazard sources; a point whose
sources have no assessment (or that has no sources) takes the level of its own latest
point-level assessment (``hazard_source_id`` NULL); otherwise it has no level yet. Levels are
recomputed in the same transaction as every change that can move them (an assessment, a
source deactivated or reactivated), and a change of a point's level leaves as a
``risk.level_changed`` event through the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.crud import Page, like_pattern
from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.events.envelope import Context
from plantguard.events.outbox import enqueue
from plantguard.risk import config, methods
from plantguard.risk.contract import RiskLevel, highest
from plantguard.risk.events import RiskAssessed, RiskLevelChanged
from plantguard.risk.models import (
    MEASURE_KINDS,
    POINT_KINDS,
    RESPONSIBLE_LEVELS,
    ControlMeasure,
    HazardSource,
    RiskAssessment,
    RiskPoint,
)
from plantguard.tenancy.models import Area, Person, Team

POINT = N_("Risk point")
SOURCE = N_("Hazard source")
MEASURE = N_("Control measure")


def _one_of(errors: list[FieldError], values: dict[str, Any], field: str, allowed: dict[str, str]) -> None:
    if field in values and values[field] not in allowed:
        errors.append(FieldError(field, N_("Must be one of: %(expected)s"), {"expected": ", ".join(allowed)}))


def _refs(session: Session, actor: Actor, values: dict[str, Any], errors: list[FieldError]) -> None:
    for model, field, label in ((Area, "area_id", N_("Area")), (Equipment, "equipment_id", N_("Equipment")),
                                (Team, "responsible_team_id", N_("Team")),
                                (Person, "responsible_person_id", N_("Person"))):
        ident = values.get(field)
        if ident is None:
            continue
        found = session.scalar(select(model.id).where(model.id == ident, model.enterprise_id == actor.enterprise_id))
        if found is None:
            errors.append(FieldError(field, N_("%(entity)s not found"), {"entity": label}))


def _consequences(values: dict[str, Any], errors: list[FieldError]) -> None:
    codes = {row["code"] for row in methods.accident_types()}
    for i, code in enumerate(values.get("consequences") or []):
        if code not in codes:
            errors.append(FieldError(f"consequences.{i}", N_("Must be one of: %(expected)s"),
                                     {"expected": ", ".join(sorted(codes))}))
            break


def _context(session: Session, actor: Actor) -> Context:
    ctx = session.info.get("context")
    return ctx if isinstance(ctx, Context) else Context(user_id=actor.user_id or None)


# --- points -------------------------------------------------------------------------------

def get_point(session: Session, actor: Actor, point_id: int, *, for_update: bool = False) -> RiskPoint:
    actor.require(Perm.READ)
    q = select(RiskPoint).where(RiskPoint.id == point_id, RiskPoint.enterprise_id == actor.enterprise_id)
    point = session.scalars(q.with_for_update() if for_update else q).first()
    if point is None:
        raise NotFound(POINT, point_id)
    return point


def list_points(session: Session, actor: Actor, *, area_id: int | None = None, level: str | None = None,
                q: str | None = None, active: bool | None = True, limit: int = 50,
                offset: int = 0) -> Page[RiskPoint]:
    """Points ordered worst level first, then by code. ``level`` may be a comma list or
    ``none`` (not yet assessed)."""
    actor.require(Perm.READ)
    conds: list[ColumnElement[bool]] = [RiskPoint.enterprise_id == actor.enterprise_id]
    if level:
        wanted = [s for s in level.split(",") if s]
        allowed = [lv.value for lv in RiskLevel] + ["none"]
        if any(w not in allowed for w in wanted):
            raise ValidationFailed([FieldError("level", N_("Must be one of: %(expected)s"),
                                               {"expected": ", ".join(allowed)})])
        named = [w for w in wanted if w != "none"]
        parts: list[ColumnElement[bool]] = []
        if named:
            parts.append(RiskPoint.current_level.in_(named))
        if "none" in wanted:
            parts.append(RiskPoint.current_level.is_(None))
        conds.append(or_(*parts))
    if area_id is not None:
        conds.append(RiskPoint.area_id == area_id)
    if active is not None:
        conds.append(RiskPoint.active.is_(active))
    if q:
        pattern = like_pattern(q.strip())
        conds.append(or_(RiskPoint.code.ilike(pattern, escape="\\"), RiskPoint.name.ilike(pattern, escape="\\"),
                         RiskPoint.job.ilike(pattern, escape="\\")))
    total = int(session.scalar(select(func.count()).select_from(RiskPoint).where(*conds)) or 0)
    rank = case({"major": 0, "significant": 1, "general": 2, "low": 3}, value=RiskPoint.current_level, else_=4)
    items = session.scalars(select(RiskPoint).where(*conds).order_by(rank, RiskPoint.code)
                            .limit(limit).offset(offset)).all()
    return Page(items, total)


POINT_FIELDS = ("code", "name", "kind", "description", "area_id", "equipment_id", "job", "responsible_level",
                "responsible_team_id", "responsible_person_id", "active")


def _check_point(session: Session, actor: Actor, values: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    _one_of(errors, values, "kind", POINT_KINDS)
    _one_of(errors, values, "responsible_level", RESPONSIBLE_LEVELS)
    _refs(session, actor, values, errors)
    if values.get("equipment_id") is not None and not errors and values.get("area_id") is not None:
        eq_area = session.scalar(select(Equipment.area_id).where(Equipment.id == values["equipment_id"]))
        if eq_area is not None and eq_area != values["area_id"]:
            errors.append(FieldError("equipment_id", N_("The equipment is not in the chosen area")))
    if errors:
        raise ValidationFailed(errors)


def _code_taken(session: Session, actor: Actor, code: str, exclude: int | None = None) -> None:
    q = select(RiskPoint.id).where(RiskPoint.enterprise_id == actor.enterprise_id, RiskPoint.code == code)
    if exclude is not None:
        q = q.where(RiskPoint.id != exclude)
    if session.scalar(q) is not None:
        raise ValidationFailed([FieldError("code", N_("This code is already in use"))])


def create_point(session: Session, actor: Actor, values: dict[str, Any]) -> RiskPoint:
    actor.require(Perm.MANAGE_RISK)
    values = {k: v for k, v in values.items() if k in POINT_FIELDS}
    _check_point(session, actor, values)
    _code_taken(session, actor, values["code"])
    point = RiskPoint(enterprise_id=actor.enterprise_id, **values)
    try:
        with session.begin_nested():
            session.add(point)
            session.flush()
    except IntegrityError:
        raise ValidationFailed([FieldError("code", N_("This code is already in use"))]) from None
    return point


def update_point(session: Session, actor: Actor, point_id: int, values: dict[str, Any]) -> RiskPoint:
    """Partial update; ``active: false`` deactivates (the point leaves the map and lists)."""
    actor.require(Perm.MANAGE_RISK)
    point = get_point(session, actor, point_id, for_update=True)
    values = {k: v for k, v in values.items() if k in POINT_FIELDS}
    merged = {"area_id": point.area_id, "equipment_id": point.equipment_id, **values}
    _check_point(session, actor, {**values, "area_id": merged["area_id"], "equipment_id": merged["equipment_id"]})
    if "code" in values:
        _code_taken(session, actor, values["code"], exclude=point.id)
    for k, v in values.items():
        setattr(point, k, v)
    session.flush()
    return point


# --- hazard sources and measures ----------------------------------------------------------

SOURCE_FIELDS = ("name", "description", "consequences", "active")
MEASURE_FIELDS = ("kind", "description", "active")


def get_source(session: Session, actor: Actor, source_id: int) -> HazardSource:
    actor.require(Perm.READ)
    src = session.scalar(select(HazardSource).where(HazardSource.id == source_id,
                                                    HazardSource.enterprise_id == actor.enterprise_id))
    if src is None:
        raise NotFound(SOURCE, source_id)
    return src


def sources_of(session: Session, actor: Actor, point: RiskPoint) -> list[HazardSource]:
    actor.require(Perm.READ)
    return list(session.scalars(select(HazardSource).where(
        HazardSource.enterprise_id == actor.enterprise_id, HazardSource.risk_point_id == point.id)
        .order_by(HazardSource.active.desc(), HazardSource.id)))


def measures_of_sources(session: Session, actor: Actor, source_ids: list[int]) -> dict[int, list[ControlMeasure]]:
    actor.require(Perm.READ)
    out: dict[int, list[ControlMeasure]] = {i: [] for i in source_ids}
    if not source_ids:
        return out
    for m in session.scalars(select(ControlMeasure).where(
            ControlMeasure.enterprise_id == actor.enterprise_id, ControlMeasure.hazard_source_id.in_(source_ids))
            .order_by(ControlMeasure.id)):
        out[m.hazard_source_id].append(m)
    return out


def create_source(session: Session, actor: Actor, point_id: int, values: dict[str, Any]) -> HazardSource:
    actor.require(Perm.MANAGE_RISK)
    point = get_point(session, actor, point_id, for_update=True)
    values = {k: v for k, v in values.items() if k in SOURCE_FIELDS}
    errors: list[FieldError] = []
    _consequences(values, errors)
    if errors:
        raise ValidationFailed(errors)
    src = HazardSource(enterprise_id=actor.enterprise_id, risk_point_id=point.id, **values)
    session.add(src)
    session.flush()
    return src


def update_source(session: Session, actor: Actor, source_id: int, values: dict[str, Any]) -> HazardSource:
    actor.require(Perm.MANAGE_RISK)
    src = get_source(session, actor, source_id)
    values = {k: v for k, v in values.items() if k in SOURCE_FIELDS}
    errors: list[FieldError] = []
    _consequences(values, errors)
    if errors:
        raise ValidationFailed(errors)
    for k, v in values.items():
        setattr(src, k, v)
    session.flush()
    if "active" in values:
        refresh_point_level(session, actor, get_point(session, actor, src.risk_point_id, for_update=True))
    return src


def get_measure(session: Session, actor: Actor, measure_id: int) -> ControlMeasure:
    actor.require(Perm.READ)
    m = session.scalar(select(ControlMeasure).where(ControlMeasure.id == measure_id,
                                                    ControlMeasure.enterprise_id == actor.enterprise_id))
    if m is None:
        raise NotFound(MEASURE, measure_id)
    return m


def create_measure(session: Session, actor: Actor, source_id: int, values: dict[str, Any]) -> ControlMeasure:
    actor.require(Perm.MANAGE_RISK)
    src = get_source(session, actor, source_id)
    values = {k: v for k, v in values.items() if k in MEASURE_FIELDS}
    errors: list[FieldError] = []
    _one_of(errors, values, "kind", MEASURE_KINDS)
    if errors:
        raise ValidationFailed(errors)
    m = ControlMeasure(enterprise_id=actor.enterprise_id, hazard_source_id=src.id, **values)
    session.add(m)
    session.flush()
    return m


def update_measure(session: Session, actor: Actor, measure_id: int, values: dict[str, Any]) -> ControlMeasure:
    actor.require(Perm.MANAGE_RISK)
    m = get_measure(session, actor, measure_id)
    values = {k: v for k, v in values.items() if k in MEASURE_FIELDS}
    errors: list[FieldError] = []
    _one_of(errors, values, "kind", MEASURE_KINDS)
    if errors:
        raise ValidationFailed(errors)
    for k, v in values.items():
        setattr(m, k, v)
    session.flush()
    return m


# --- assessments --------------------------------------------------------------------------

def history(session: Session, actor: Actor, point: RiskPoint, limit: int = 200) -> list[RiskAssessment]:
    """The point's assessments (its own and its sources'), newest first."""
    actor.require(Perm.READ)
    return list(session.scalars(select(RiskAssessment).where(
        RiskAssessment.enterprise_id == actor.enterprise_id, RiskAssessment.risk_point_id == point.id)
        .order_by(RiskAssessment.assessed_at.desc(), RiskAssessment.id.desc()).limit(limit)))


def _latest_level(session: Session, enterprise_id: int, point_id: int, source_id: int | None) -> str | None:
    cond = (RiskAssessment.hazard_source_id == source_id) if source_id is not None else \
        RiskAssessment.hazard_source_id.is_(None)
    return session.scalar(select(RiskAssessment.level).where(
        RiskAssessment.enterprise_id == enterprise_id, RiskAssessment.risk_point_id == point_id, cond)
        .order_by(RiskAssessment.assessed_at.desc(), RiskAssessment.id.desc()).limit(1))


def refresh_point_level(session: Session, actor: Actor | None, point: RiskPoint) -> RiskLevel | None:
    """Recompute the point's level (see the module docstring); emit an event when it moves."""
    session.flush()
    levels = list(session.scalars(select(HazardSource.current_level).where(
        HazardSource.enterprise_id == point.enterprise_id, HazardSource.risk_point_id == point.id,
        HazardSource.active.is_(True))))
    level = highest(levels)
    if level is None:
        own = _latest_level(session, point.enterprise_id, point.id, None)
        level = RiskLevel(own) if own else None
    before = point.current_level
    new = level.value if level else None
    if new != before:
        point.current_level = new
        session.flush()
        ctx = session.info.get("context")
        context = ctx.child() if isinstance(ctx, Context) else Context(
            user_id=(actor.user_id or None) if actor else None)
        enqueue(session, RiskLevelChanged(risk_point_id=point.id, area_id=point.area_id, code=point.code,
                                          level_from=before, level_to=new),
                context=context, enterprise_id=point.enterprise_id)
    return level


def assess(session: Session, actor: Actor, point_id: int, values: dict[str, Any],
           now: datetime | None = None) -> RiskAssessment:
    """Append an assessment with the method version in force; refused (nothing written)
    when a factor is not a value of its table."""
    actor.require(Perm.MANAGE_RISK)
    point = get_point(session, actor, point_id, for_update=True)
    source: HazardSource | None = None
    if values.get("hazard_source_id") is not None:
        source = session.scalar(select(HazardSource).where(
            HazardSource.id == values["hazard_source_id"], HazardSource.enterprise_id == actor.enterprise_id,
            HazardSource.risk_point_id == point.id))
        if source is None:
            raise ValidationFailed([FieldError("hazard_source_id", N_("%(entity)s not found"),
                                               {"entity": SOURCE})])
    method = values.get("method")
    if method not in methods.METHOD_FACTORS:
        raise ValidationFailed([FieldError("method", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(methods.METHOD_FACTORS)})])
    version = config.in_force(session, actor.enterprise_id, method)
    result = methods.compute(version.spec, values.get("values"))
    row = RiskAssessment(enterprise_id=actor.enterprise_id, risk_point_id=point.id,
                         hazard_source_id=source.id if source else None, method=method,
                         method_version_id=version.id, method_version=version.version, inputs=result.inputs,
                         score=result.score, level=result.level.value, band=result.band,
                         note=values.get("note") or "", assessor_id=actor.user_id or None,
                         assessor=(actor.display_name or actor.username)[:80], assessed_at=now or utcnow())
    session.add(row)
    session.flush()
    if source is not None:
        source.current_level = _latest_level(session, actor.enterprise_id, point.id, source.id)
    refresh_point_level(session, actor, point)
    enqueue(session, RiskAssessed(risk_point_id=point.id, hazard_source_id=row.hazard_source_id,
                                  assessment_id=row.id, method=method, method_version=version.version,
                                  score=row.score, level=row.level),
            context=_context(session, actor), enterprise_id=actor.enterprise_id)
    return row
