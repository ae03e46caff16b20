"""The work under a permit: safety measures, gas analyses, sign-offs, start, suspend, resume,
complete and completion acceptance (验收关闭).

Why sign-offs are personal: a signature stands for a person (Appendix A); the caller's account
must be linked to that person, and only the guardian's own account signs as the guardian.
Every step accepts the phone's ``client_key`` (Idempotency-Key): the history line of the first
send carries it, and a replay changes nothing and returns the permit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.permits import calendar, gas, lifecycle, readiness, rules
from plantguard.permits.contract import GasKind, SignStep, SuspendReason
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import GasAnalysis, Permit, PermitMeasure, PermitSignature
from plantguard.permits.query import analyses, get, measures, replayed, signatures, who, workers
from plantguard.permits.types import PermitType, get_type
from plantguard.tenancy.models import Person, User
from plantguard.workorders import uploads

log = logging.getLogger("plantguard.permits")

PERSON_STEPS = (SignStep.WORK_LEADER, SignStep.GUARDIAN, SignStep.BRIEFER, SignStep.BRIEFEE, SignStep.SHIFT_LEADER)
PEOPLE_REASONS = (SuspendReason.BREAK, SuspendReason.GUARDIAN, SuspendReason.OTHER)
NOT_LINKED = N_("Your account is not linked to a person, so it cannot sign or act for one")
# A sample may be entered a little after it was taken, never "in the future".
CLOCK_SKEW = timedelta(minutes=5)


def person_of(session: Session, actor: Actor) -> int | None:
    return session.scalar(select(User.person_id).where(User.id == actor.user_id,
                                                       User.enterprise_id == actor.enterprise_id))


def _ptype(permit: Permit) -> PermitType:
    ptype = get_type(permit.type_code)
    assert ptype is not None, permit.type_code
    return ptype


def _detail(client_key: str | None, **kw: Any) -> dict[str, Any]:
    return {**kw, "client_key": client_key} if client_key else kw


def _on_site(session: Session, actor: Actor, permit: Permit) -> None:
    """Suspend/resume/complete: the guardian or the work leader, or a permit manager."""
    if actor.can(Perm.MANAGE_PERMITS):
        return
    me = person_of(session, actor)
    if me is None or me not in (permit.guardian_id, permit.work_leader_id):
        raise Conflict(N_("Only the permit's guardian or work leader may do this (%(clause)s)"),
                       clause=rules.cite("4.10"))


def confirm_measure(session: Session, actor: Actor, permit_id: int, code: str, *, applicable: bool,
                    note: str = "", client_key: str | None = None, now: datetime | None = None) -> Permit:
    """One checklist line: applicable or not, confirmed by the caller's person (Appendix A)."""
    actor.require(Perm.WORK_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    lifecycle.check(permit, "confirm_measure")
    m = session.scalars(select(PermitMeasure).where(PermitMeasure.permit_id == permit.id,
                                                    PermitMeasure.enterprise_id == actor.enterprise_id,
                                                    PermitMeasure.code == code)).first()
    if m is None:
        raise ValidationFailed([FieldError("code", N_("%(entity)s not found"), {"entity": N_("Safety measure")})])
    at = now or utcnow()
    m.applicable = applicable
    m.confirmed_by_user_id = actor.user_id or None
    m.confirmed_by_person_id = person_of(session, actor)
    m.confirmed_by_name = (actor.display_name or actor.username)[:100]
    m.confirmed_at = at
    lifecycle.move(session, permit, "confirm_measure", at, who(actor), note,
                   detail=_detail(client_key, code=code, applicable=applicable))
    return permit


def record_gas(session: Session, actor: Actor, permit_id: int, *, kind: str, value: float, unit: str,
               gas_code: str | None = None, sampled_at: datetime | None = None, sample_point: str = "",
               analyst_person_id: int | None = None, analyst_name: str = "", client_key: str | None = None,
               now: datetime | None = None) -> GasAnalysis:
    """A gas sample, judged against its limit; a failed one on active work suspends it (6.5)."""
    actor.require(Perm.WORK_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if client_key and replayed(session, permit, client_key):
        earlier = session.scalars(select(GasAnalysis).where(GasAnalysis.permit_id == permit.id)
                                  .order_by(GasAnalysis.id.desc())).first()
        if earlier is not None:
            return earlier
    lifecycle.check(permit, "gas")
    at = now or utcnow()
    sampled = sampled_at or at
    sampled = calendar.aware(sampled)
    if sampled > at + CLOCK_SKEW:
        raise ValidationFailed([FieldError("sampled_at", N_("The sample cannot be taken in the future"))])
    if analyst_person_id is not None and session.scalar(select(Person.id).where(
            Person.id == analyst_person_id, Person.enterprise_id == actor.enterprise_id)) is None:
        raise ValidationFailed([FieldError("analyst_person_id", N_("%(entity)s not found"), {"entity": N_("Person")})])
    ptype = _ptype(permit)
    passed, vol, limit = gas.evaluate(ptype, permit, kind, gas_code, value, unit)
    code = gas_code or (permit.gas_code if kind == GasKind.COMBUSTIBLE else None) or ""
    row = GasAnalysis(enterprise_id=actor.enterprise_id, permit_id=permit.id, sampled_at=sampled,
                      sample_point=sample_point[:200], kind=kind, gas_code=code, value=value, unit=unit, vol_pct=vol,
                      limit_text=limit[:100], passed=passed, analyst_person_id=analyst_person_id,
                      analyst_name=analyst_name[:100], source="manual", recorded_by=actor.user_id or None,
                      recorded_at=at)
    session.add(row)
    session.flush()
    lifecycle.move(session, permit, "gas", at, who(actor),
                   detail=_detail(client_key, analysis_id=row.id, kind=kind, value=value, unit=unit, passed=passed,
                                  limit=limit),
                   analysis_id=row.id, passed=passed)
    if not passed and permit.status == S.ACTIVE:
        permit.suspended_at, permit.suspend_reason = at, SuspendReason.GAS_ALARM.value
        permit.suspend_note = f"{value:g} {unit} / {limit}"[:500]
        lifecycle.move(session, permit, "suspend", at, who(actor), permit.suspend_note,
                       detail={"reason": SuspendReason.GAS_ALARM.value, "analysis_id": row.id, "clause": "6.5"},
                       reason=SuspendReason.GAS_ALARM.value, value=value, limit=limit)
    return row


def sign(session: Session, actor: Actor, permit_id: int, step: str, *, comment: str = "", lat: float | None = None,
         lon: float | None = None, signature_png: bytes | None = None, var_dir: Path | None = None,
         client_key: str | None = None, now: datetime | None = None) -> PermitSignature:
    """A timed sign-off by the caller's own person: work leader and guardian only as themselves;
    a briefee is someone named on the permit."""
    actor.require(Perm.WORK_PERMITS)
    if step not in PERSON_STEPS:
        raise ValidationFailed([FieldError("step", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(PERSON_STEPS)})])
    permit = get(session, actor, permit_id, for_update=True)
    if client_key and replayed(session, permit, client_key):
        earlier = session.scalars(select(PermitSignature).where(PermitSignature.permit_id == permit.id)
                                  .order_by(PermitSignature.id.desc())).first()
        if earlier is not None:
            return earlier
    lifecycle.check(permit, "sign")
    me = person_of(session, actor)
    if me is None:
        raise Conflict(NOT_LINKED)
    if step == SignStep.WORK_LEADER and me != permit.work_leader_id:
        raise Conflict(N_("Only the work leader named on the permit may sign as work leader"))
    if step == SignStep.GUARDIAN and me != permit.guardian_id:
        raise Conflict(N_("Only the guardian named on the permit may sign as guardian (%(clause)s)"),
                       clause=rules.cite("4.10"))
    if step == SignStep.BRIEFEE and me not in {w.person_id for w in workers(session, permit)} | {
            permit.guardian_id, permit.work_leader_id}:
        raise Conflict(N_("Only people named on the permit receive its safety briefing (%(clause)s)"),
                       clause=rules.cite("Appendix A"))
    done = session.scalar(select(PermitSignature.id).where(
        PermitSignature.permit_id == permit.id, PermitSignature.step == step, PermitSignature.person_id == me))
    if done is not None:
        raise Conflict(N_("You have already signed this step"))
    stored, digest = "", ""
    if signature_png is not None:
        checked = uploads.check(signature_png, "signature_png", only=("image/png",))
        if var_dir is None:
            raise ValueError("var_dir is needed to store a signature image")
        stored, digest = uploads.store(var_dir, actor.enterprise_id, checked), checked.sha256
    name = session.scalar(select(Person.name).where(Person.id == me)) or actor.display_name
    at = now or utcnow()
    sig = PermitSignature(enterprise_id=actor.enterprise_id, permit_id=permit.id, step=step, decision="signed",
                          user_id=actor.user_id or None, person_id=me, name=name[:100], at=at, comment=comment,
                          image_stored_name=stored, image_sha256=digest, lat=lat, lon=lon)
    session.add(sig)
    session.flush()
    lifecycle.move(session, permit, "sign", at, who(actor), comment[:500],
                   detail=_detail(client_key, step=step, signature_id=sig.id, person_id=me))
    return sig


def _people_now(session: Session, permit: Permit, ptype: PermitType, now: datetime) -> list[FieldError]:
    """Certificates still valid for the rest of the window (Appendix A, 4.10 a)."""
    cfg = calendar.load(session, permit.enterprise_id)
    crew = [session.get(Person, w.person_id) for w in workers(session, permit)]
    leader = session.get(Person, permit.work_leader_id) if permit.work_leader_id else None
    guardian = session.get(Person, permit.guardian_id) if permit.guardian_id else None
    return rules.people_refusals(ptype, cfg, leader=leader, guardian=guardian, workers=[p for p in crew if p],
                                 until=calendar.plant_date(permit.planned_end))


def _place_free(session: Session, permit: Permit) -> None:
    """Blind-plate work: no other job under way on the same line (§7; ``permits/conflicts.py``)."""
    try:
        from plantguard.permits import conflicts
    except ImportError:
        return
    conflicts.refuse_start(session, permit)


def _continuous_ok(session: Session, permit: Permit, ptype: PermitType, now: datetime) -> bool:
    if not readiness.uses_continuous(ptype, permit):
        return False
    try:
        from plantguard.permits import monitor
    except ImportError:  # helper D's live link not there yet: manual analyses only
        log.warning("permits.monitor missing: continuous monitoring not consulted")
        return False
    return bool(monitor.live_analysis_ok(session, permit, now))


def start(session: Session, actor: Actor, permit_id: int, *, client_key: str | None = None,
          now: datetime | None = None) -> Permit:
    """Work starts: every condition of :func:`readiness.start_refusals`, all reported at once."""
    actor.require(Perm.WORK_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    lifecycle.check(permit, "start")
    _place_free(session, permit)
    at = now or utcnow()
    ptype = _ptype(permit)
    elsewhere = list(session.scalars(select(Permit).where(
        Permit.enterprise_id == permit.enterprise_id, Permit.guardian_id == permit.guardian_id,
        Permit.status == S.ACTIVE, Permit.id != permit.id))) if permit.guardian_id else []
    errors = readiness.start_refusals(
        ptype, permit, at, analyses=analyses(session, permit), signatures=signatures(session, permit),
        measures=measures(session, permit), continuous_ok=_continuous_ok(session, permit, ptype, at),
        guardian_elsewhere=elsewhere, people=_people_now(session, permit, ptype, at))
    if errors:
        raise ValidationFailed(errors)
    permit.started_at = at
    lifecycle.move(session, permit, "start", at, who(actor), detail=_detail(client_key))
    return permit


def suspend(session: Session, actor: Actor, permit_id: int, reason: str, note: str = "", *,
            client_key: str | None = None, now: datetime | None = None) -> Permit:
    """暂停: a break, the guardian stopping the work (4.10), or another reason."""
    actor.require(Perm.WORK_PERMITS)
    if reason not in PEOPLE_REASONS:
        raise ValidationFailed([FieldError("reason", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(PEOPLE_REASONS)})])
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    lifecycle.check(permit, "suspend")
    _on_site(session, actor, permit)
    at = now or utcnow()
    permit.suspended_at, permit.suspend_reason, permit.suspend_note = at, reason, note[:500]
    lifecycle.move(session, permit, "suspend", at, who(actor), note[:500], detail=_detail(client_key, reason=reason),
                   reason=reason)
    return permit


def resume(session: Session, actor: Actor, permit_id: int, note: str = "", *, client_key: str | None = None,
           now: datetime | None = None) -> Permit:
    """Work goes on, after a new analysis where the break or a gas alarm requires one."""
    actor.require(Perm.WORK_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    lifecycle.check(permit, "resume")
    _on_site(session, actor, permit)
    _place_free(session, permit)
    at = now or utcnow()
    ptype = _ptype(permit)
    errors = readiness.resume_refusals(ptype, permit, at, analyses=analyses(session, permit))
    if errors:
        raise ValidationFailed(errors)
    detail = _detail(client_key, suspended_at=permit.suspended_at.isoformat() if permit.suspended_at else None,
                     reason=permit.suspend_reason)
    permit.suspended_at, permit.suspend_reason, permit.suspend_note = None, None, ""
    lifecycle.move(session, permit, "resume", at, who(actor), note[:500], detail=detail)
    return permit


def complete(session: Session, actor: Actor, permit_id: int, note: str = "", *, client_key: str | None = None,
             now: datetime | None = None) -> Permit:
    """完工: the work leader or guardian reports the work finished; acceptance follows."""
    actor.require(Perm.WORK_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    lifecycle.check(permit, "complete")
    _on_site(session, actor, permit)
    at = now or utcnow()
    permit.completed_at = at
    lifecycle.move(session, permit, "complete", at, who(actor), note[:500], detail=_detail(client_key))
    return permit


def close(session: Session, actor: Actor, permit_id: int, comment: str = "", *, lat: float | None = None,
          lon: float | None = None, signature_png: bytes | None = None, var_dir: Path | None = None,
          client_key: str | None = None, now: datetime | None = None) -> Permit:
    """完工验收: by someone with permits.accept who neither led nor did the work."""
    actor.require(Perm.ACCEPT_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if replayed(session, permit, client_key):
        return permit
    lifecycle.check(permit, "close")
    me = person_of(session, actor)
    if me is not None and me in {w.person_id for w in workers(session, permit)} | {permit.work_leader_id}:
        raise Conflict(N_("The work leader and the workers may not accept their own work (%(clause)s)"),
                       clause=rules.cite("Appendix A"))
    stored, digest = "", ""
    if signature_png is not None:
        checked = uploads.check(signature_png, "signature_png", only=("image/png",))
        if var_dir is None:
            raise ValueError("var_dir is needed to store a signature image")
        stored, digest = uploads.store(var_dir, actor.enterprise_id, checked), checked.sha256
    at = now or utcnow()
    name = (session.scalar(select(Person.name).where(Person.id == me)) if me else None) or actor.display_name
    sig = PermitSignature(enterprise_id=actor.enterprise_id, permit_id=permit.id, step=SignStep.ACCEPTANCE.value,
                          decision="signed", user_id=actor.user_id or None, person_id=me, name=(name or "")[:100],
                          at=at, comment=comment, image_stored_name=stored, image_sha256=digest, lat=lat, lon=lon)
    session.add(sig)
    permit.closed_at = at
    session.flush()
    lifecycle.move(session, permit, "close", at, who(actor), comment[:500],
                   detail=_detail(client_key, signature_id=sig.id))
    return permit
