"""Who signs a permit's approval, and the signing itself (GB 30871-2022 Table B.1, 4.11 a).

The process (``permits/workflow.py``) says which role signs next; this module says which
people hold that role and records their decision. A role is held through
:class:`PermitApprover` rows — for the permit's area when any exist for that area, else
enterprise-wide — and the ``permits.approve`` permission. Separation of duties: the applicant
never gives the *final* approval of their own permit (an earlier step, e.g. the operating unit,
they may sign if assigned; the last signature must be someone else's).

Every decision is a :class:`PermitSignature` (``approve:<role>``, or ``countersign:<role>`` for
the countersigning departments), with the comment, where it was signed (the phone's position:
the approver signs on site, 4.11 a) and an optional drawn signature, and a history line +
outbox event through ``permits/lifecycle.py``. The last approval moves the permit to approved
and fixes its content hash (4.18: an approved permit is never altered); any refusal moves it to
rejected with the reason (a new application is a new permit). Everything is checked before
anything is written, so a refusal leaves the permit, its workflow and its history unchanged.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.permits import lifecycle, types, workflow
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.lifecycle import SYSTEM, Who
from plantguard.permits.models import Permit, PermitApprover, PermitEvent, PermitSignature
from plantguard.tenancy.models import Area, User
from plantguard.workorders import uploads

PERMIT = N_("Permit")
APPROVER = N_("Approver assignment")
# The English names of types.yaml ``approver_roles``, marked for the catalogue so a refusal can
# name the role in the reader's language (tests/permits/test_approvals.py keeps them in step).
ROLE_NAMES: tuple[str, ...] = (
    N_("Operating unit"), N_("Safety department"), N_("Specialist department"),
    N_("Plant leader (deputy director or chief engineer)"), N_("Power supply unit"),
    N_("Countersign: water"), N_("Countersign: power"), N_("Countersign: steam"), N_("Countersign: process"),
    N_("Countersign: equipment"), N_("Countersign: fire brigade"), N_("Countersign: safety department"),
)


class NotAllowed(PlantGuardError):
    status_code = 403
    code = "forbidden"


def who(actor: Actor) -> Who:
    return Who(user_id=actor.user_id or None, name=actor.display_name or actor.username)


def role_label(role: str) -> str:
    """The role's English name: a catalogue message id, translated where it is shown."""
    return str(types.approver_roles().get(role, {}).get("name_en", role))


def is_countersign(role: str) -> bool:
    return types.approver_roles().get(role, {}).get("kind") == "countersign"


def step_name(role: str) -> str:
    """The PermitSignature step of a role's decision."""
    return f"countersign:{role}" if is_countersign(role) else f"approve:{role}"


def get(session: Session, actor: Actor, permit_id: int, *, for_update: bool = False) -> Permit:
    actor.require(Perm.READ)
    q = select(Permit).where(Permit.id == permit_id, Permit.enterprise_id == actor.enterprise_id)
    permit = session.scalars(q.with_for_update() if for_update else q).first()
    if permit is None:
        raise NotFound(PERMIT, permit_id)
    return permit


# -- who holds a role -------------------------------------------------------------------------


def _assignments(session: Session, enterprise_id: int, roles: set[str]) -> list[PermitApprover]:
    if not roles:
        return []
    return list(session.scalars(select(PermitApprover).join(User, User.id == PermitApprover.user_id).where(
        PermitApprover.enterprise_id == enterprise_id, PermitApprover.role.in_(sorted(roles)),
        User.active.is_(True)).order_by(PermitApprover.id)))


def _holders(rows: list[PermitApprover], role: str, area_id: int) -> list[int]:
    """User ids holding ``role`` for a permit in ``area_id``: that area's rows when there are
    any, else the enterprise-wide rows."""
    local = [r.user_id for r in rows if r.role == role and r.area_id == area_id]
    if local:
        return local
    return [r.user_id for r in rows if r.role == role and r.area_id is None]


def candidates(session: Session, permit: Permit, role: str) -> list[int]:
    return _holders(_assignments(session, permit.enterprise_id, {role}), role, permit.area_id)


def _users(session: Session, enterprise_id: int, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.enterprise_id == enterprise_id,
                                                                User.id.in_(sorted(ids))))}


# -- the workflow's side ----------------------------------------------------------------------


def start(session: Session, permit: Permit, *, at: datetime) -> None:
    """Start the approval of a permit being submitted (called by ``service.submit`` in its
    transaction, before the submit is recorded)."""
    workflow.start(session, permit, at=at)


def pending(session: Session, actor: Actor, permit: Permit) -> list[dict[str, Any]]:
    """The steps waiting for a signature, each with its role and the people who may sign it."""
    actor.require(Perm.READ)
    if permit.enterprise_id != actor.enterprise_id:
        raise NotFound(PERMIT, permit.id)
    row = workflow.row_of(session, permit)
    if row is None or permit.status != S.PENDING:
        return []
    steps = workflow.waiting(row)
    roles_yaml = types.approver_roles()
    rows = _assignments(session, permit.enterprise_id, {s["role"] for s in steps})
    holders = {s["role"]: _holders(rows, s["role"], permit.area_id) for s in steps}
    users = _users(session, permit.enterprise_id, {u for ids in holders.values() for u in ids})
    out = []
    for s in steps:
        spec = roles_yaml.get(s["role"], {})
        ids = holders[s["role"]]
        out.append({
            "task": s["task"], "role": s["role"], "step": step_name(s["role"]),
            "kind": "countersign" if is_countersign(s["role"]) else "approval",
            "role_name": spec.get("name", s["role"]), "role_name_en": spec.get("name_en", s["role"]),
            "clause": spec.get("clause", ""),
            "candidates": [{"user_id": u, "name": users[u].display_name or users[u].username}
                           for u in ids if u in users],
            "can_sign": actor.can(Perm.APPROVE_PERMITS) and actor.user_id in ids,
        })
    return out


def my_pending(session: Session, actor: Actor) -> list[Permit]:
    """Permits waiting for the caller's signature (the phone's inbox), oldest submitted first."""
    actor.require(Perm.READ)
    if not actor.can(Perm.APPROVE_PERMITS):
        return []
    mine = list(session.scalars(select(PermitApprover).where(
        PermitApprover.enterprise_id == actor.enterprise_id, PermitApprover.user_id == actor.user_id)))
    if not mine:
        return []
    rows = _assignments(session, actor.enterprise_id, {r.role for r in mine})
    from plantguard.permits.models import PermitWorkflow

    found = session.execute(select(Permit, PermitWorkflow).join(
        PermitWorkflow, PermitWorkflow.permit_id == Permit.id).where(
        Permit.enterprise_id == actor.enterprise_id, Permit.status == S.PENDING,
        PermitWorkflow.completed.is_(False)).order_by(Permit.applied_at, Permit.id)).all()
    out = []
    for permit, wf_row in found:
        if any(actor.user_id in _holders(rows, s["role"], permit.area_id) for s in workflow.waiting(wf_row)):
            out.append(permit)
    return out


def signatures(session: Session, actor: Actor, permit: Permit) -> list[PermitSignature]:
    """The permit's approval and countersign decisions, in order."""
    actor.require(Perm.READ)
    return list(session.scalars(select(PermitSignature).where(
        PermitSignature.permit_id == permit.id, PermitSignature.enterprise_id == actor.enterprise_id,
        PermitSignature.step.like("approve:%") | PermitSignature.step.like("countersign:%"))
        .order_by(PermitSignature.id)))


def _check_input(approve: bool, comment: str, lat: float | None, lon: float | None,
                 signature_png: bytes | None) -> uploads.Checked | None:
    errors: list[FieldError] = []
    if not approve and not comment.strip():
        errors.append(FieldError("comment", N_("A refusal needs its reason")))
    if len(comment) > 2000:
        errors.append(FieldError("comment", N_("Must be at most %(max_length)s characters"), {"max_length": 2000}))
    if (lat is None) != (lon is None):
        errors.append(FieldError("lat" if lat is None else "lon", N_("Give both latitude and longitude, or neither")))
    if lat is not None and not -90 <= lat <= 90:
        errors.append(FieldError("lat", N_("Must be between %(min)s and %(max)s"), {"min": -90, "max": 90}))
    if lon is not None and not -180 <= lon <= 180:
        errors.append(FieldError("lon", N_("Must be between %(min)s and %(max)s"), {"min": -180, "max": 180}))
    if errors:
        raise ValidationFailed(errors)
    if signature_png is None:
        return None
    return uploads.check(signature_png, "signature_png", only=("image/png",))


def _var_dir() -> Path:
    from plantguard.core.settings import Settings

    return Settings().var_dir


def by_client_key(session: Session, actor: Actor, permit_id: int, key: str) -> PermitEvent | None:
    """The decision this caller already made on this permit under ``key`` (a phone replaying)."""
    rows = session.scalars(select(PermitEvent).where(
        PermitEvent.enterprise_id == actor.enterprise_id, PermitEvent.permit_id == permit_id,
        PermitEvent.user_id == actor.user_id, PermitEvent.kind.in_(("approval_step", "rejected"))))
    return next((e for e in rows if (e.detail or {}).get("client_key") == key), None)


def decide(session: Session, actor: Actor, permit_id: int, *, approve: bool, comment: str = "",
           lat: float | None = None, lon: float | None = None, signature_png: bytes | None = None,
           role: str | None = None, client_key: str | None = None, var_dir: Path | None = None,
           now: datetime | None = None) -> Permit:
    """Sign the caller's waiting step of the permit: approve or refuse (with the reason).

    ``role`` picks the step when the caller holds several waiting ones (parallel countersigns);
    by default the first. 403 naming the role(s) needed when none is the caller's."""
    actor.require(Perm.APPROVE_PERMITS)
    comment = comment.strip()
    checked = _check_input(approve, comment, lat, lon, signature_png)
    if role is not None and role not in types.approver_roles():
        raise ValidationFailed([FieldError("role", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(types.approver_roles())})])
    permit = get(session, actor, permit_id, for_update=True)
    lifecycle.check(permit, "approve_step")
    loaded = workflow.restore(session, permit)
    if loaded is None:
        raise Conflict(N_("The approval of this permit has not started"))
    steps = workflow.ready_steps(loaded.wf)
    rows = _assignments(session, permit.enterprise_id, {s.role for s in steps})
    mine = [s for s in steps if actor.user_id in _holders(rows, s.role, permit.area_id)
            and (role is None or s.role == role)]
    if not mine:
        needed = [s for s in steps if role is None or s.role == role] or steps
        raise NotAllowed(N_("Only an approver assigned to %(roles)s may sign this step"),
                         roles=tuple(dict.fromkeys(role_label(s.role) for s in needed)))
    step = mine[0]
    at = now or utcnow()
    outcome = workflow.advance(loaded, step, approved=approve,
                               data={"role": step.role, "user_id": actor.user_id})
    if outcome.approved and permit.applicant_user_id is not None and permit.applicant_user_id == actor.user_id:
        raise NotAllowed(N_("The applicant cannot give the final approval of their own permit: another approver "
                            "assigned to %(roles)s must sign"), roles=(role_label(step.role),))
    image_name = ""
    if checked is not None:
        image_name = uploads.store(var_dir or _var_dir(), actor.enterprise_id, checked)
    person_id = session.scalar(select(User.person_id).where(User.id == actor.user_id))
    decision = "approved" if approve else "rejected"
    session.add(PermitSignature(
        enterprise_id=permit.enterprise_id, permit_id=permit.id, step=step_name(step.role), decision=decision,
        user_id=actor.user_id or None, person_id=person_id, name=(actor.display_name or actor.username)[:100],
        at=at, comment=comment, image_stored_name=image_name, image_sha256=checked.sha256 if checked else "",
        lat=lat, lon=lon))
    workflow.save(loaded, at)
    detail: dict[str, Any] = {"role": step.role, "task": step.bpmn_id, "decision": decision,
                              "next": [s.role for s in outcome.ready]}
    if client_key:
        detail["client_key"] = client_key
    if not approve:
        lifecycle.move(session, permit, "reject", at, who(actor), comment, detail=detail, role=step.role,
                       reason=comment)
        return permit
    lifecycle.move(session, permit, "approve_step", at, who(actor), comment, detail=detail, role=step.role,
                   decision=decision)
    if outcome.completed and not outcome.approved:
        # The enterprise's process routed this approval to a refusal end (a condition on the
        # signer or the data): the process refused the permit.
        lifecycle.move(session, permit, "reject", at, SYSTEM, N_("The approval process ended without approval"),
                       detail={"role": step.role, "task": step.bpmn_id, "process_id": permit.process_id},
                       role=step.role, reason="process")
    elif outcome.approved:
        from plantguard.permits.snapshot import content_sha256

        permit.approved_at = at
        permit.content_sha256 = content_sha256(session, permit)
        lifecycle.move(session, permit, "approve", at, who(actor), comment,
                       detail={"content_sha256": permit.content_sha256, "process_id": permit.process_id,
                               "definition_sha256": loaded.row.definition_sha256})
    session.flush()
    return permit


# -- assignments (who holds which role) -------------------------------------------------------


def list_approvers(session: Session, actor: Actor, *, role: str | None = None,
                   area_id: int | None = None) -> list[PermitApprover]:
    actor.require(Perm.READ)
    q = select(PermitApprover).where(PermitApprover.enterprise_id == actor.enterprise_id)
    if role:
        q = q.where(PermitApprover.role == role)
    if area_id is not None:
        q = q.where(PermitApprover.area_id == area_id)
    return list(session.scalars(q.order_by(PermitApprover.role, PermitApprover.area_id, PermitApprover.id)))


def assign(session: Session, actor: Actor, *, role: str, user_id: int, area_id: int | None = None) -> PermitApprover:
    """Let ``user_id`` sign for ``role`` (in ``area_id`` only, or everywhere)."""
    actor.require(Perm.MANAGE_PERMITS)
    errors: list[FieldError] = []
    if role not in types.approver_roles():
        errors.append(FieldError("role", N_("Must be one of: %(expected)s"),
                                 {"expected": ", ".join(types.approver_roles())}))
    user = session.scalars(select(User).where(User.id == user_id, User.enterprise_id == actor.enterprise_id)).first()
    if user is None:
        errors.append(FieldError("user_id", N_("%(entity)s not found"), {"entity": N_("User")}))
    else:
        from plantguard.core.permissions import ROLE_PERMISSIONS, Role

        if Perm.APPROVE_PERMITS not in ROLE_PERMISSIONS[Role(user.role)]:
            errors.append(FieldError("user_id", N_("This user's role cannot approve permits")))
    if area_id is not None and session.scalar(select(Area.id).where(
            Area.id == area_id, Area.enterprise_id == actor.enterprise_id)) is None:
        errors.append(FieldError("area_id", N_("%(entity)s not found"), {"entity": N_("Area")}))
    if errors:
        raise ValidationFailed(errors)
    q = select(PermitApprover).where(PermitApprover.enterprise_id == actor.enterprise_id,
                                     PermitApprover.role == role, PermitApprover.user_id == user_id)
    q = q.where(PermitApprover.area_id.is_(None) if area_id is None else PermitApprover.area_id == area_id)
    if session.scalars(q).first() is not None:
        raise Conflict(N_("This user already signs for this role here"))
    row = PermitApprover(enterprise_id=actor.enterprise_id, role=role, user_id=user_id, area_id=area_id)
    session.add(row)
    session.flush()
    return row


def unassign(session: Session, actor: Actor, assignment_id: int) -> None:
    actor.require(Perm.MANAGE_PERMITS)
    row = session.scalars(select(PermitApprover).where(
        PermitApprover.id == assignment_id, PermitApprover.enterprise_id == actor.enterprise_id)).first()
    if row is None:
        raise NotFound(APPROVER, assignment_id)
    session.delete(row)
    session.flush()
