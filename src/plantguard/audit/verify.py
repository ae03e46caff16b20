"""Verifying the ledger: recompute every hash, in order, per enterprise.

Detects an edited entry (its hash no longer matches its fields), a deleted or inserted one
(a gap or a duplicate in the sequence, or a broken ``prev_hash`` link), a reordering (the
links no longer follow), and a deleted tail (the head no longer matches the last entry).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.audit.chain import GENESIS, entry_hash
from plantguard.audit.models import AuditEntry, AuditHead


@dataclass(frozen=True)
class Problem:
    enterprise_id: int
    entry_id: int | None
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry id={self.entry_id} seq={self.seq}" if self.entry_id is not None else "ledger head"
        return f"enterprise {self.enterprise_id}: {where}: {self.reason}"


@dataclass(frozen=True)
class Report:
    checked: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(session: Session, enterprise_id: int | None = None) -> Report:
    """Walk each enterprise's chain; stop at the first bad entry."""
    heads = {h.enterprise_id: h for h in session.scalars(select(AuditHead))}
    ents_q = select(AuditEntry.enterprise_id).distinct()
    enterprises = set(session.scalars(ents_q)) | set(heads)
    if enterprise_id is not None:
        enterprises &= {enterprise_id}
    checked = 0
    for ent in sorted(enterprises):
        prev = GENESIS
        expected_seq = 1
        last_seq = 0
        # Ordered by the physical insert order (id), not by seq: a reordering shows as a break.
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.enterprise_id == ent).order_by(AuditEntry.id)
        ).yield_per(1000)
        for e in rows:
            checked += 1
            if e.seq != expected_seq:
                return Report(checked, Problem(ent, e.id, e.seq, f"sequence broken: expected {expected_seq}"))
            if e.prev_hash != prev:
                return Report(checked, Problem(ent, e.id, e.seq, "link to the previous entry broken"))
            digest = entry_hash(
                enterprise_id=e.enterprise_id, seq=e.seq, ts=e.ts, actor_id=e.actor_id,
                actor_name=e.actor_name, request_id=e.request_id, context_id=e.context_id,
                entity_type=e.entity_type, entity_id=e.entity_id, action=e.action,
                before=e.before, after=e.after, prev_hash=e.prev_hash,
            )
            if digest != e.hash:
                return Report(checked, Problem(ent, e.id, e.seq, "content does not match its hash"))
            prev = e.hash
            last_seq = e.seq
            expected_seq += 1
        head = heads.get(ent)
        if head is None:
            return Report(checked, Problem(ent, None, None, "entries without a ledger head"))
        if head.seq != last_seq or head.hash != prev:
            return Report(
                checked,
                Problem(ent, None, head.seq, f"head says seq {head.seq}, chain ends at seq {last_seq}"),
            )
    return Report(checked, None)
