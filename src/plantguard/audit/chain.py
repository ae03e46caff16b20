"""The hash of one ledger entry: SHA-256 over a canonical JSON of its fields and the
previous entry's hash. Canonical means sorted keys and no whitespace, so that a value that
round-trips through PostgreSQL's JSONB hashes the same."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(
    *,
    enterprise_id: int,
    seq: int,
    ts: datetime,
    actor_id: int | None,
    actor_name: str,
    request_id: str | None,
    context_id: str | None,
    entity_type: str,
    entity_id: int,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    prev_hash: str,
) -> str:
    body = {
        "enterprise_id": enterprise_id,
        "seq": seq,
        "ts": ts.isoformat(),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "request_id": request_id,
        "context_id": context_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "action": action,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(prev_hash.encode() + canonical(body)).hexdigest()
