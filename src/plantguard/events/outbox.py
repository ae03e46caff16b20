"""Writing events into the outbox, inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.events.envelope import Context, Envelope, Event
from plantguard.events.models import OutboxMessage
from plantguard.events.wake import Wakeup, wake_after_commit

# Set after every commit that wrote outbox rows through ``enqueue``: the relay of this process
# starts its next pass at once instead of at its next poll (events/wake.py).
OUTBOX_COMMITTED = Wakeup("outbox")
wake_after_commit(OUTBOX_COMMITTED, lambda obj: isinstance(obj, OutboxMessage))


def _row(env: Envelope) -> dict[str, object]:
    return {
        "event_id": env.id,
        "event_type": env.type,
        "enterprise_id": env.enterprise_id,
        "envelope": env.model_dump(mode="json"),
        "created_at": utcnow(),
        "attempts": 0,
        "last_error": "",
    }


def enqueue(session: Session, event: Event, *, context: Context, enterprise_id: int | None) -> Envelope:
    """Add ``event`` to the outbox; it leaves only if the session's transaction commits."""
    env = Envelope.wrap(event, context=context, enterprise_id=enterprise_id)
    session.add(OutboxMessage(**_row(env)))
    return env


def enqueue_on(conn: Connection, env: Envelope) -> None:
    """Same, on a raw connection (used from inside a flush, where ``session.add`` is unsafe)."""
    conn.execute(insert(OutboxMessage), [_row(env)])
