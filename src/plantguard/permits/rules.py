"""The rules of GB 30871-2022 a permit must pass, as functions that return refusals.

Why functions that return lists instead of raising: the service gathers every refusal of an
application (fields, grade, validity, links, people) and answers them together, each naming
its field and citing its clause, before anything is written. They take plain objects (a
transient :class:`Permit`, people with their certificates), so they are tested without a
database; the service loads what they need.

Gas analysis limits and start/resume readiness are in :mod:`plantguard.permits.gas` and
:mod:`plantguard.permits.readiness`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_
from plantguard.permits import calendar
from plantguard.permits.contract import LIVE_STATUSES
from plantguard.permits.models import Permit
from plantguard.permits.types import PermitType
from plantguard.tenancy.models import Certificate, Person

STD = "GB 30871-2022"
REQUIRED = N_("This field is required")


def cite(clause: str) -> str:
    """``GB 30871-2022 5.3.2``: how every refusal names its clause."""
    return f"{STD} {clause}"


def reason(msgid: str, **params: Any) -> dict[str, Any]:
    """One line of ``grade_reasons``: a message id and its parameters, translated when shown."""
    return {"msgid": msgid, "params": params}


# --- type-specific fields (Appendix A) ---------------------------------------------------------

def field_refusals(ptype: PermitType, fields: dict[str, Any]) -> list[FieldError]:
    """Required, type and choices of every field of the type; unknown names refused."""
    errors: list[FieldError] = []
    known = {f.name for f in ptype.fields}
    for name in sorted(set(fields) - known):
        errors.append(FieldError(f"fields.{name}", N_("Unknown field")))
    for spec in ptype.fields:
        key = f"fields.{spec.name}"
        value = fields.get(spec.name)
        if value is None or value == "" or value == []:
            if spec.required:
                errors.append(FieldError(key, REQUIRED))
            continue
        if spec.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(FieldError(key, N_("Must be a number")))
            elif value != value or value in (float("inf"), float("-inf")):
                errors.append(FieldError(key, N_("Must be a finite number")))
        elif spec.type == "bool":
            if not isinstance(value, bool):
                errors.append(FieldError(key, N_("Must be true or false")))
        elif spec.type == "text":
            if not isinstance(value, str):
                errors.append(FieldError(key, N_("Must be text")))
            elif len(value) > 2000:
                errors.append(FieldError(key, N_("Must be at most %(max_length)s characters"), {"max_length": 2000}))
        elif spec.type == "choice":
            if not isinstance(value, str) or value not in spec.choices:
                errors.append(FieldError(key, N_("Must be one of: %(expected)s"),
                                         {"expected": ", ".join(spec.choices)}))
        elif spec.type == "multi" and (not isinstance(value, list)
                                       or any(not isinstance(v, str) or v not in spec.choices for v in value)):
            errors.append(FieldError(key, N_("Must be one of: %(expected)s"), {"expected": ", ".join(spec.choices)}))
    return errors


# --- grade -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GradeDecision:
    grade: str
    reasons: list[dict[str, Any]]


HOT_WORK_RAISE = {
    calendar.NIGHT: N_("Hot work at night is managed one grade higher (GB 30871-2022 §5)"),
    calendar.REST_DAY: N_("Hot work on a rest day is managed one grade higher (GB 30871-2022 §5)"),
    calendar.HOLIDAY: N_("Hot work on a holiday is managed one grade higher (GB 30871-2022 §5)"),
}
ABOVE_REQUESTED = N_("Grade %(grade)s applies instead of the requested %(requested)s (%(clause)s)")


def _up(order: Sequence[str], grade: str) -> str:
    i = order.index(grade)
    return order[min(i + 1, len(order) - 1)]


def _height_grade(ptype: PermitType, h: float) -> str:
    for g in ptype.grades:  # ordered I..IV; each upper bound inclusive (2 ≤ h ≤ 5, 5 < h ≤ 15 ...)
        hi = g.bounds[1] if g.bounds else None
        if hi is None or h <= hi:
            return g.code
    return ptype.grades[-1].code


def _lifting_grade(m: float) -> str:
    # §9: 一级 > 100 t, 二级 40–100 t, 三级 < 40 t
    if m > 100:
        return "first"
    if m >= 40:
        return "second"
    return "third"


def decide_grade(ptype: PermitType, requested: str | None, fields: dict[str, Any], start: datetime,
                 end: datetime, cfg: calendar.CalendarConfig) -> tuple[GradeDecision | None, list[FieldError]]:
    """The grade that applies: from the height or mass, raised by the §8 B-method factors or by
    night/rest day/holiday for hot work, and never lower than the one asked for."""
    codes = [g.code for g in ptype.grades]
    if requested and requested not in codes:
        return None, [FieldError("grade", N_("Must be one of: %(expected)s"), {"expected": ", ".join(codes)})]
    reasons: list[dict[str, Any]] = []
    if ptype.code == "work_at_height":
        h = fields.get("height_m")
        if not isinstance(h, int | float) or isinstance(h, bool):
            return None, []  # field_refusals names it
        if h < float(ptype.raw.get("applies_from_height_m", 2)):
            return None, [FieldError("fields.height_m", N_(
                "Below %(min)s m this is not work at height and needs no height permit (%(clause)s)"),
                {"min": ptype.raw.get("applies_from_height_m", 2), "clause": cite("§8")})]
        grade = _height_grade(ptype, float(h))
        if fields.get("hazard_factors"):
            raised = _up(codes, grade)
            reasons.append(reason(N_("Objective hazard factors raise the height grade one level (%(clause)s)"),
                                  clause=cite("§8"), **{"from": grade, "to": raised}))
            grade = raised
    elif ptype.code == "lifting":
        m = fields.get("mass_t")
        if not isinstance(m, int | float) or isinstance(m, bool):
            return None, []
        if m <= 0:
            return None, [FieldError("fields.mass_t", N_("Must be greater than %(gt)s"), {"gt": 0})]
        grade = _lifting_grade(float(m))
        if m < float(ptype.raw.get("no_permit_below_t", 10)):
            reasons.append(reason(N_("Under 10 t the standard requires no permit, but a risk analysis (%(clause)s)"),
                                  clause=cite("§9")))
    elif ptype.graded:
        if not requested:
            return None, [FieldError("grade", REQUIRED)]
        grade = requested
    else:
        grade = codes[0]
    if requested and _rank(ptype, requested) > _rank(ptype, grade):
        grade = requested  # the applicant may manage it more strictly, never less
    elif requested and requested != grade:
        reasons.append(reason(ABOVE_REQUESTED, grade=grade, requested=requested, clause=cite(ptype.clause)))
    if ptype.code == "hot_work" and not fields.get("fixed_area"):
        order = list((ptype.raw.get("escalate_if") or {}).get("order") or ["second", "first", "special"])
        why = calendar.raise_reasons(start, end, cfg)
        if why:
            raised = _up(order, grade)
            for w in why:
                reasons.append(reason(HOT_WORK_RAISE[w], **{"from": grade, "to": raised}))
            grade = raised
    return GradeDecision(grade, reasons), []


def _rank(ptype: PermitType, grade: str) -> int:
    """Strictness of a grade: hot work and lifting list the strictest first, height the mildest."""
    codes = [g.code for g in ptype.grades]
    i = codes.index(grade)
    return i if ptype.code == "work_at_height" else len(codes) - 1 - i


def plan_refusals(ptype: PermitType, grade: str, fields: dict[str, Any]) -> list[FieldError]:
    """§9: a lifting plan for grade 1 and 2 lifts."""
    spec = ptype.raw.get("plan_required")
    if not spec or grade not in spec.get("grades", []):
        return []
    name = spec.get("field", "lifting_plan")
    if str(fields.get(name) or "").strip():
        return []
    return [FieldError(f"fields.{name}", N_("A lifting plan is required for this grade (%(clause)s)"),
                       {"clause": cite(spec.get("clause", "§9"))})]


# --- validity --------------------------------------------------------------------------------

def validity_max_h(ptype: PermitType, grade: str, fields: dict[str, Any],
                   cfg: calendar.CalendarConfig) -> tuple[float, bool]:
    """(hours, set by the standard?) — the standard's limit, else the plant's (⚠ overridable)."""
    g = ptype.grade(grade)
    if g is not None and g.validity_max_h is not None:
        hours = float(g.validity_max_h)
        special = ptype.raw.get("validity_special_max_h")
        if special and fields.get("special_case"):
            hours = float(special)
        return hours, True
    override = (cfg.overrides.get(ptype.code) or {}) if isinstance(cfg.overrides, dict) else {}
    if isinstance(override, dict) and isinstance(override.get("validity_max_h"), int | float):
        return float(override["validity_max_h"]), False
    return float(ptype.validity_default_max_h or 24), False


def validity_refusals(ptype: PermitType, grade: str, fields: dict[str, Any], start: datetime, end: datetime,
                      cfg: calendar.CalendarConfig, linked: Iterable[Permit] = ()) -> list[FieldError]:
    if end <= start:
        return [FieldError("planned_end", N_("The end must be after the start"))]
    hours, standard = validity_max_h(ptype, grade, fields, cfg)
    span = (end - start).total_seconds() / 3600
    errors: list[FieldError] = []
    if span > hours + 1e-9:
        if standard:
            errors.append(FieldError("planned_end", N_(
                "A permit of this type and grade is valid for at most %(hours)s h (%(clause)s)"),
                {"hours": f"{hours:g}", "clause": cite(ptype.clause)}))
        else:
            errors.append(FieldError("planned_end", N_(
                "GB 30871-2022 sets no validity for this type; the plant's limit is %(hours)s h"),
                {"hours": f"{hours:g}"}))
    follows = ptype.raw.get("validity_follows_linked") or {}
    for other in linked:
        if other.type_code in follows.get("types", []) and end > other.planned_end:
            errors.append(FieldError("planned_end", N_(
                "Temporary power for %(number)s may not outlast that permit (%(clause)s)"),
                {"number": other.number, "clause": cite(follows.get("clause", "§10"))}))
    return errors


# --- linked permits --------------------------------------------------------------------------

def link_refusals(ptype: PermitType, fields: dict[str, Any], linked: Sequence[Permit],
                  usable: frozenset[str] = LIVE_STATUSES) -> list[FieldError]:
    """Hot work inside a confined space needs both permits (§5, §6); a deep excavation where
    dangerous material may accumulate is managed as a confined space (§11)."""
    cs = [p for p in linked if p.type_code == "confined_space" and p.status in usable]
    errors: list[FieldError] = []
    if ptype.code == "hot_work" and fields.get("in_confined_space") and not cs:
        errors.append(FieldError("links", N_(
            "Hot work inside a confined space needs a valid confined-space permit linked to it (%(clause)s)"),
            {"clause": f"{cite('§5')}, {cite('§6')}"}))
    if ptype.code == "excavation":
        rule = ptype.raw.get("confined_space_if") or {}
        depth = fields.get("depth_m")
        deep = isinstance(depth, int | float) and float(depth) > float(rule.get("depth_over_m", 1.2))
        if deep and fields.get(rule.get("field", "may_accumulate")) and not cs:
            errors.append(FieldError("links", N_(
                "An excavation deeper than %(depth)s m where dangerous material may accumulate is managed as a "
                "confined space: link a confined-space permit (%(clause)s)"),
                {"depth": rule.get("depth_over_m", 1.2), "clause": cite(rule.get("clause", "§11"))}))
    for i, p in enumerate(linked):
        if p.status not in usable:
            errors.append(FieldError(f"links.{i}", N_("Permit %(number)s is not valid for linking: it is %(status)s"),
                                     {"number": p.number, "status": _status_label(p.status)}))
    return errors


def _status_label(status: str) -> str:
    from plantguard.permits.models import STATUS_LABELS

    return STATUS_LABELS.get(status, status)


# --- people ----------------------------------------------------------------------------------

def certificate_codes(ptype: PermitType, cfg: calendar.CalendarConfig, who: str) -> tuple[str, ...]:
    """Kind codes a worker / guardian must hold: the type's, or the enterprise's override (⚠)."""
    override = cfg.overrides.get(ptype.code) if isinstance(cfg.overrides, dict) else None
    if isinstance(override, dict) and isinstance(override.get("certificates"), dict):
        codes = override["certificates"].get(who)
        if isinstance(codes, list):
            return tuple(str(c) for c in codes)
    return ptype.worker_certificates if who == "workers" else ptype.guardian_certificates


def valid_certificate(person: Person, codes: Sequence[str], until: date) -> Certificate | None:
    """A certificate of one of ``codes`` that is still valid on ``until`` (no expiry = valid)."""
    valid = [c for c in person.certificates
             if c.kind_code in codes and (c.expires_on is None or c.expires_on >= until)]
    # the one valid longest (no expiry first): what the permit prints
    return max(valid, key=lambda c: (c.expires_on is None, c.expires_on or until), default=None)


def people_refusals(ptype: PermitType, cfg: calendar.CalendarConfig, *, leader: Person | None,
                    guardian: Person | None, workers: Sequence[Person], until: date,
                    guardian_busy: Sequence[Permit] = ()) -> list[FieldError]:
    """Work leader, guardian (4.10), workers and their certificates (Appendix A)."""
    errors: list[FieldError] = []
    if leader is None:
        errors.append(FieldError("work_leader_id", REQUIRED))
    if guardian is None and ptype.guardian_required:
        errors.append(FieldError("guardian_id", N_("This work needs a guardian (%(clause)s)"),
                                 {"clause": cite("4.10")}))
    if not workers:
        errors.append(FieldError("workers", N_("Name at least one worker")))
    codes = certificate_codes(ptype, cfg, "workers")
    if codes:
        for i, w in enumerate(workers):
            if valid_certificate(w, codes, until) is None:
                errors.append(FieldError(f"workers.{i}.person_id", N_(
                    "%(person)s holds no valid %(kind)s certificate for this work (%(clause)s)"),
                    {"person": w.name, "kind": " / ".join(codes), "clause": cite("Appendix A")}))
    gcodes = certificate_codes(ptype, cfg, "guardian")
    if guardian is not None and gcodes and valid_certificate(guardian, gcodes, until) is None:
        errors.append(FieldError("guardian_id", N_(
            "%(person)s holds no valid %(kind)s certificate for this work (%(clause)s)"),
            {"person": guardian.name, "kind": " / ".join(gcodes), "clause": cite("4.10 a")}))
    if guardian is not None and guardian_busy:
        errors.append(FieldError("guardian_id", N_(
            "%(person)s already guards %(number)s at the same time: one guardian, one job (%(clause)s)"),
            {"person": guardian.name, "number": guardian_busy[0].number, "clause": cite("4.10")}))
    return errors


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end

