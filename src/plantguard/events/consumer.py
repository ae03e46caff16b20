"""Idempotent consumers: at-least-once delivery, exactly-once effects.

:func:`idempotent` turns a synchronous ``apply(session, envelope)`` into a bus handler that,
in **one** transaction, inserts ``ProcessedEvent(consumer, event_id)`` and runs ``apply``.
The dedup row and the effects commit together or not at all, so:

* a redelivered event (the relay re-sent it, an ack was lost, a handler was interrupted)
  finds its row and is skipped — and acknowledged;
* an ``apply`` that raises rolls back its row too, and the bus delivers the event again;
* two deliveries racing each other (two processes on one durable) meet on the primary key:
  the second insert waits for the first transaction and then fails, and is skipped.

Events emitted by ``apply`` (audited changes write ``entity.changed`` to the outbox in the
same transaction) carry ``envelope.context.child()``, so the chain cause → effect stays
readable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from plantguard.events.bus import Handler
from plantguard.events.envelope import Envelope
from plantguard.events.models import ProcessedEvent

log = logging.getLogger(__name__)

Apply = Callable[[Session, Envelope], None]


def apply_once(consumer: str, session_factory: sessionmaker[Session], apply: Apply, env: Envelope) -> bool:
    """Apply ``env`` for ``consumer`` unless already done; returns whether it was applied."""
    session = session_factory()
    try:
        session.add(ProcessedEvent(consumer=consumer, event_id=env.id))
        try:
            session.flush()
        except IntegrityError:
            # Only the dedup row has been written: a conflict here means "already processed".
            session.rollback()
            log.debug("consumer %s: event %s already processed, skipped", consumer, env.id)
            return False
        session.info["context"] = env.context.child()
        apply(session, env)
        session.commit()
        return True
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def idempotent(consumer: str, session_factory: sessionmaker[Session], apply: Apply) -> Handler:
    """A bus handler applying each event at most once for ``consumer`` (see module doc).

    ``consumer`` names the effect, not the process: keep it stable, and use the same string
    as the durable name unless several durables feed one effect.
    """
    if not consumer or len(consumer) > 100:
        raise ValueError("consumer name must be 1..100 characters")

    async def handle(env: Envelope) -> None:
        await asyncio.to_thread(apply_once, consumer, session_factory, apply, env)

    handle.__name__ = f"idempotent_{consumer}"
    return handle
