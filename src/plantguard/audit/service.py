"""Reading the ledger: tenant-scoped, for people whose role may read it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.audit.models import AuditEntry
from plantguard.core.permissions import Actor, Perm


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEntry]
    total: int


def list_entries(
    session: Session,
    actor: Actor,
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    actor_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    actor.require(Perm.READ_AUDIT)
    conds = [AuditEntry.enterprise_id == actor.enterprise_id]
    if entity_type:
        conds.append(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        conds.append(AuditEntry.entity_id == entity_id)
    if actor_id is not None:
        conds.append(AuditEntry.actor_id == actor_id)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conds)) or 0
    items = session.scalars(
        select(AuditEntry).where(*conds).order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
    ).all()
    return AuditPage(list(items), int(total))


def changed_fields(entry: AuditEntry) -> list[tuple[str, object, object]]:
    """(field, before, after) for the fields that differ; all fields for create/delete."""
    before = entry.before or {}
    after = entry.after or {}
    keys = sorted(set(before) | set(after))
    rows = [(k, before.get(k), after.get(k)) for k in keys]
    if entry.action == "update":
        rows = [r for r in rows if r[1] != r[2]]
    return [r for r in rows if r[0] not in ("id", "enterprise_id")]
