"""May work start (or resume) now? Every missing condition as a refusal citing its clause.

Why pure: the conditions are the standard's (4.16 the validity; Appendix A the sign-offs and
briefing; 5.3.1 c / 6.3 a the analysis ≤ 30 min before; 5.3.1 d / 6.3 f the re-analysis after a
break; 6.5 a gas alarm; 4.10 the guardian), and each is tested with plain objects. The steps
module loads the analyses, signatures and measures and asks here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_
from plantguard.permits import calendar
from plantguard.permits.contract import GasKind, SignStep, SuspendReason
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.gas import required_kinds
from plantguard.permits.models import GasAnalysis, Permit, PermitMeasure, PermitSignature
from plantguard.permits.rules import cite
from plantguard.permits.types import PermitType

# The clause that requires the analysis before work, by type.
BEFORE_START_CLAUSE = {"hot_work": "5.3.1 c", "confined_space": "6.3 a", "temp_electricity": "10.1"}
BREAK_CLAUSE = {"hot_work": "5.3.1 d", "confined_space": "6.3 f"}
KIND_LABELS: dict[str, str] = {GasKind.COMBUSTIBLE: N_("combustible gas"), GasKind.OXYGEN: N_("oxygen"),
                               GasKind.TOXIC: N_("toxic gas")}


def latest(analyses: Sequence[GasAnalysis], kind: str) -> GasAnalysis | None:
    rows = [a for a in analyses if a.kind == kind]
    return max(rows, key=lambda a: (a.sampled_at, a.id or 0)) if rows else None


def _gas_refusals(ptype: PermitType, permit: Permit, now: datetime, analyses: Sequence[GasAnalysis], *,
                  since: datetime | None, clause: str, continuous_ok: bool) -> list[FieldError]:
    """For each required kind: the latest analysis passed, and one passed sampled ≤ 30 min
    before now (and after ``since``), unless continuous monitoring stands for it."""
    rules = ptype.gas
    errors: list[FieldError] = []
    window = timedelta(minutes=rules.before_start_min if rules else 30)
    for kind in required_kinds(ptype, permit.fields or {}):
        last = latest([a for a in analyses if a.sampled_at <= now], kind)
        if last is not None and not last.passed:
            errors.append(FieldError("gas_analyses", N_(
                "The latest %(kind)s analysis failed (%(value)s against %(limit)s): work may not go on"),
                {"kind": KIND_LABELS.get(kind, kind), "value": f"{last.value:g} {last.unit}",
                 "limit": last.limit_text}))
            continue
        if continuous_ok:
            continue
        fresh = [a for a in analyses if a.kind == kind and a.passed and now - window <= a.sampled_at <= now
                 and (since is None or a.sampled_at >= since)]
        if not fresh:
            errors.append(FieldError("gas_analyses", N_(
                "A passed %(kind)s analysis sampled at most %(minutes)s min before is required (%(clause)s)"),
                {"kind": KIND_LABELS.get(kind, kind), "minutes": int(window.total_seconds() // 60),
                 "clause": cite(clause)}))
    return errors


def uses_continuous(ptype: PermitType, permit: Permit) -> bool:
    """Special-grade hot work (5.3.1 d) or a permit bound to continuous monitoring."""
    return bool(permit.continuous_monitoring or (ptype.gas and permit.grade in ptype.gas.continuous_grades))


def start_refusals(ptype: PermitType, permit: Permit, now: datetime, *, analyses: Sequence[GasAnalysis],
                   signatures: Sequence[PermitSignature], measures: Sequence[PermitMeasure],
                   continuous_ok: bool = False, guardian_elsewhere: Sequence[Permit] = (),
                   people: Sequence[FieldError] = ()) -> list[FieldError]:
    errors: list[FieldError] = []
    if permit.status != S.APPROVED:
        errors.append(FieldError("status", N_("The permit must be approved before work starts")))
    if not permit.planned_start <= now < permit.planned_end:
        errors.append(FieldError("planned_start", N_(
            "Work may start only within the permit's validity, %(start)s – %(end)s (%(clause)s)"),
            {"start": _local(permit.planned_start), "end": _local(permit.planned_end), "clause": cite("4.16")}))
    steps = {s.step for s in signatures if s.decision == "signed"}
    if SignStep.WORK_LEADER not in steps:
        errors.append(FieldError("signatures", N_("The work leader has not signed (%(clause)s)"),
                                 {"clause": cite("Appendix A")}))
    if permit.guardian_id is not None and SignStep.GUARDIAN not in steps:
        errors.append(FieldError("signatures", N_("The guardian has not signed (%(clause)s)"),
                                 {"clause": cite("4.10")}))
    if SignStep.BRIEFER not in steps or SignStep.BRIEFEE not in steps:
        errors.append(FieldError("signatures", N_(
            "The safety briefing is not signed by the briefer and at least one briefee (%(clause)s)"),
            {"clause": cite("Appendix A")}))
    undecided = [m.code for m in measures if m.applicable is None]
    unconfirmed = [m.code for m in measures if m.applicable and not (m.confirmed_by_name or m.confirmed_by_person_id)]
    if undecided:
        errors.append(FieldError("measures", N_("Safety measures not yet decided: %(codes)s (%(clause)s)"),
                                 {"codes": ", ".join(undecided), "clause": cite("Appendix A")}))
    if unconfirmed:
        errors.append(FieldError("measures", N_("Safety measures not yet confirmed: %(codes)s (%(clause)s)"),
                                 {"codes": ", ".join(unconfirmed), "clause": cite("Appendix A")}))
    clause = BEFORE_START_CLAUSE.get(ptype.code, ptype.gas.clause if ptype.gas else "")
    errors += _gas_refusals(ptype, permit, now, analyses, since=None, clause=clause,
                            continuous_ok=continuous_ok and uses_continuous(ptype, permit))
    if guardian_elsewhere:
        errors.append(FieldError("guardian_id", N_(
            "The guardian is on another job in progress, %(number)s: one guardian, one job (%(clause)s)"),
            {"number": guardian_elsewhere[0].number, "clause": cite("4.10")}))
    errors += list(people)
    return errors


def resume_refusals(ptype: PermitType, permit: Permit, now: datetime, *,
                    analyses: Sequence[GasAnalysis]) -> list[FieldError]:
    """After a break longer than the grade's limit (5.3.1 d, 6.3 f) or any gas alarm (6.5): a new
    passed analysis; hot work also one of the current plant day (5.3.1 d)."""
    errors: list[FieldError] = []
    if not permit.planned_start <= now < permit.planned_end:
        errors.append(FieldError("planned_end", N_(
            "Work may go on only within the permit's validity, %(start)s – %(end)s (%(clause)s)"),
            {"start": _local(permit.planned_start), "end": _local(permit.planned_end), "clause": cite("4.16")}))
    since = permit.suspended_at or now
    minutes = (now - since).total_seconds() / 60
    rules = ptype.gas
    limit = rules.break_reanalysis_min.get(permit.grade) if rules else None
    alarm = permit.suspend_reason == SuspendReason.GAS_ALARM
    kinds = required_kinds(ptype, permit.fields or {})
    if alarm and not kinds:  # a live point of a type without its own rule: the alarmed kinds
        kinds = sorted({a.kind for a in analyses if not a.passed and a.sampled_at >= since}) or [GasKind.COMBUSTIBLE]
    if alarm or (limit is not None and minutes > limit):
        clause = "6.5" if alarm else BREAK_CLAUSE.get(ptype.code, rules.clause if rules else "")
        window = timedelta(minutes=rules.before_start_min if rules else 30)
        for kind in kinds:
            last = latest([a for a in analyses if a.sampled_at <= now], kind)
            ok = [a for a in analyses if a.kind == kind and a.passed and since <= a.sampled_at <= now
                  and now - window <= a.sampled_at]
            if (last is not None and not last.passed) or not ok:
                errors.append(FieldError("gas_analyses", N_(
                    "Work may resume only after a new passed %(kind)s analysis, sampled after the stop and at "
                    "most %(minutes)s min before (%(clause)s)"),
                    {"kind": KIND_LABELS.get(kind, kind), "minutes": int(window.total_seconds() // 60),
                     "clause": cite(clause)}))
    if rules is not None and rules.daily_reanalysis and kinds:
        today = calendar.plant_date(now)
        if not any(a.passed and calendar.plant_date(a.sampled_at) == today and a.sampled_at <= now for a in analyses):
            errors.append(FieldError("gas_analyses", N_("Hot work needs a passed gas analysis every day (%(clause)s)"),
                                     {"clause": cite("5.3.1 d")}))
    return errors


def _local(dt: datetime) -> str:
    from plantguard.timeseries.alignment.times import plant_tz

    return dt.astimezone(plant_tz()).strftime("%Y-%m-%d %H:%M")
