"""Per-enterprise method versions: which LEC / matrix tables are in force, and saving new ones.

Like routing rule sets, a version never changes: selecting another shipped variant or editing
the tables saves the next version, and the newest is in force. An enterprise that never chose
gets the shipped default written as version 1 the first time it assesses (reads show the default
without writing it), so every assessment points at a stored version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.risk import methods
from plantguard.risk.models import RiskMethodVersion

ENTITY = N_("Assessment method version")


def _latest(session: Session, enterprise_id: int, method: str) -> RiskMethodVersion | None:
    return session.scalars(select(RiskMethodVersion).where(
        RiskMethodVersion.enterprise_id == enterprise_id, RiskMethodVersion.method == method)
        .order_by(RiskMethodVersion.version.desc()).limit(1)).first()


def _add(session: Session, enterprise_id: int, method: str, spec: dict[str, Any], comment: str,
         actor: Actor | None) -> RiskMethodVersion:
    last = session.scalar(select(func.max(RiskMethodVersion.version)).where(
        RiskMethodVersion.enterprise_id == enterprise_id, RiskMethodVersion.method == method)) or 0
    row = RiskMethodVersion(enterprise_id=enterprise_id, method=method, version=last + 1,
                            variant=str(spec.get("variant", ""))[:40], spec=spec, comment=comment[:300],
                            author_id=(actor.user_id or None) if actor else None,
                            author=actor.username if actor else "")
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(N_("Someone saved another version at the same time; reload and try again")) from None
    return row


def in_force(session: Session, enterprise_id: int, method: str) -> RiskMethodVersion:
    """The version in force, writing the shipped default as version 1 when there is none."""
    if method not in methods.METHOD_FACTORS:
        raise ValidationFailed([FieldError("method", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(methods.METHOD_FACTORS)})])
    row = _latest(session, enterprise_id, method)
    if row is None:
        row = _add(session, enterprise_id, method, methods.shipped_spec(method),
                   "shipped default", None)
    return row


def peek(session: Session, enterprise_id: int, method: str) -> RiskMethodVersion:
    """The version in force without writing anything (reads run in read-only sessions): the
    shipped default as an unsaved row (id 0, version 0) when the enterprise has none yet."""
    row = _latest(session, enterprise_id, method)
    if row is not None:
        return row
    spec = methods.shipped_spec(method)
    return RiskMethodVersion(id=0, enterprise_id=enterprise_id, method=method, version=0, variant=spec["variant"],
                             spec=spec, comment="shipped default", author="", created_at=utcnow(),
                             updated_at=utcnow())


def current(session: Session, actor: Actor, method: str) -> RiskMethodVersion:
    actor.require(Perm.READ)
    if method not in methods.METHOD_FACTORS:
        raise NotFound(ENTITY, method)
    return peek(session, actor.enterprise_id, method)


def versions(session: Session, actor: Actor, method: str, limit: int = 50) -> list[RiskMethodVersion]:
    actor.require(Perm.READ)
    return list(session.scalars(select(RiskMethodVersion).where(
        RiskMethodVersion.enterprise_id == actor.enterprise_id, RiskMethodVersion.method == method)
        .order_by(RiskMethodVersion.version.desc()).limit(limit)))


def version(session: Session, actor: Actor, method: str, number: int) -> RiskMethodVersion:
    actor.require(Perm.READ)
    row = session.scalar(select(RiskMethodVersion).where(
        RiskMethodVersion.enterprise_id == actor.enterprise_id, RiskMethodVersion.method == method,
        RiskMethodVersion.version == number))
    if row is None:
        raise NotFound(ENTITY, number)
    return row


def save(session: Session, actor: Actor, method: str, *, variant: str | None, spec: dict[str, Any] | None,
         comment: str = "") -> RiskMethodVersion:
    """Select a shipped variant (``variant``) or save edited tables (``spec``, variant
    "custom"). Saves a new version unless it equals the one in force (then that one is
    returned). Refused specs are never stored. The caller commits."""
    actor.require(Perm.MANAGE_RISK)
    if method not in methods.METHOD_FACTORS:
        raise ValidationFailed([FieldError("method", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(methods.METHOD_FACTORS)})])
    if spec is None:
        if variant is None or variant == methods.CUSTOM:
            raise ValidationFailed([FieldError("variant", N_("Choose a shipped variant or give the tables"))])
        new = methods.shipped_spec(method, variant)
    else:
        new = {**spec, "method": method, "variant": methods.CUSTOM if variant is None else variant}
        if method != "lec":
            new.pop("bands", None)
        errors = methods.check_spec(new)
        if errors:
            raise ValidationFailed([FieldError(f"spec.{e.field}", e.message, e.params) for e in errors])
        new["variant"] = methods.CUSTOM
        new = methods.normalise(new)
    latest = _latest(session, actor.enterprise_id, method)
    if latest is not None and _same(latest.spec, new):
        return latest
    return _add(session, actor.enterprise_id, method, new, comment, actor)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("variant", "factors", "levels", "bands")
    return all(a.get(k) == b.get(k) for k in keys)
