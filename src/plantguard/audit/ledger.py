"""Recording changes: a flush hook turns every audited insert, update and delete into a
ledger entry and an ``entity.changed`` event, in the same transaction as the change.

Doing it at flush time (NetBox records from signals; we record from the unit of work) means
a service cannot forget to log a change: anything written through a session with the hook
installed is recorded. The actor and request come from ``session.info``, set by
:func:`bind_actor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session, UOWTransaction

from plantguard.audit.chain import GENESIS, entry_hash
from plantguard.audit.mixin import Audited
from plantguard.audit.models import AuditEntry, AuditHead
from plantguard.core.context import current_request_id
from plantguard.core.db import utcnow
from plantguard.core.permissions import Actor
from plantguard.events.envelope import Context, EntityChanged, Envelope
from plantguard.events.outbox import enqueue_on


@dataclass
class _Change:
    obj: Audited
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed: list[str]


def bind_actor(session: Session, actor: Actor | None, context: Context | None = None) -> Context:
    """Attach who is acting to a session; returns the Context that events will carry."""
    ctx = context or Context(user_id=actor.user_id if actor else None)
    session.info["actor"] = actor
    session.info["context"] = ctx
    return ctx


def _before_snapshot(obj: Audited) -> tuple[dict[str, Any], list[str]]:
    state = inspect(obj)
    before = obj.audit_snapshot()
    changed: list[str] = []
    for attr in state.mapper.column_attrs:
        hist = state.attrs[attr.key].history
        if hist.has_changes() and attr.key in before:
            old = hist.deleted[0] if hist.deleted else None
            before[attr.key] = obj._audit_value(attr.key, old)
            changed.append(attr.key)
    for rel in state.mapper.relationships:
        hist = state.attrs[rel.key].history
        if rel.key in before and hist.has_changes():
            old = list(hist.unchanged or ()) + list(hist.deleted or ())
            before[rel.key] = sorted(str(getattr(o, "code", getattr(o, "id", o))) for o in old)
            changed.append(rel.key)
    return before, changed


def _collect(session: Session) -> list[_Change]:
    changes: list[_Change] = []
    for obj in session.new:
        if isinstance(obj, Audited):
            changes.append(_Change(obj, "create", None, None, []))
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=True):
            before, changed = _before_snapshot(obj)
            changes.append(_Change(obj, "update", before, None, changed))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            changes.append(_Change(obj, "delete", obj.audit_snapshot(), None, []))
    return changes


def _on_before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    # Snapshots of the old values must be taken before the flush overwrites them.
    session.info["_pending_changes"] = _collect(session)


def _on_after_flush(session: Session, flush_context: UOWTransaction) -> None:
    changes: list[_Change] = session.info.pop("_pending_changes", [])
    if not changes:
        return
    actor: Actor | None = session.info.get("actor")
    ctx: Context = session.info.get("context") or Context(user_id=actor.user_id if actor else None)
    conn = session.connection()
    request_id = current_request_id()
    heads: dict[int, tuple[int, str]] = {}
    for ch in changes:
        if ch.action != "delete":
            ch.after = ch.obj.audit_snapshot()
            if ch.action == "update":
                ch.changed = sorted({k for k in ch.changed if ch.before and ch.before.get(k) != ch.after.get(k)})
                if not ch.changed:
                    continue
        ent = ch.obj.audit_enterprise_id()
        if ent is None:
            continue
        if ent not in heads:
            row = conn.execute(
                select(AuditHead.seq, AuditHead.hash).where(AuditHead.enterprise_id == ent).with_for_update()
            ).first()
            heads[ent] = (row[0], row[1]) if row else (0, GENESIS)
            if row is None:
                conn.execute(insert(AuditHead), [{"enterprise_id": ent, "seq": 0, "hash": GENESIS}])
        seq, prev = heads[ent]
        seq += 1
        identity = inspect(ch.obj).identity
        entity_id = int(identity[0]) if identity else int(getattr(ch.obj, "id"))  # noqa: B009
        fields: dict[str, Any] = {
            "enterprise_id": ent,
            "seq": seq,
            "ts": utcnow(),
            "actor_id": actor.user_id if actor else None,
            "actor_name": actor.username if actor else "system",
            "request_id": request_id,
            "context_id": ctx.id,
            "entity_type": ch.obj.audit_entity(),
            "entity_id": entity_id,
            "action": ch.action,
            "before": ch.before,
            "after": ch.after,
            "prev_hash": prev,
        }
        digest = entry_hash(**fields)
        conn.execute(insert(AuditEntry), [{**fields, "hash": digest}])
        heads[ent] = (seq, digest)
        changed = ch.changed if ch.action == "update" else []
        payload = EntityChanged(
            entity_type=ch.obj.audit_entity(), entity_id=entity_id, action=ch.action,
            changed=changed, audit_seq=seq,
        )
        enqueue_on(conn, Envelope.wrap(payload, context=ctx, enterprise_id=ent))
    for ent, (seq, digest) in heads.items():
        conn.execute(update(AuditHead).where(AuditHead.enterprise_id == ent).values(seq=seq, hash=digest))


def install(session_class: type[Session] = Session) -> None:
    """Install the hooks on every session of the process (idempotent)."""
    if not event.contains(session_class, "before_flush", _on_before_flush):
        event.listen(session_class, "before_flush", _on_before_flush)
        event.listen(session_class, "after_flush", _on_after_flush)
