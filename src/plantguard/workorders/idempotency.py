"""Idempotent work-order steps: a client that may send a step twice names it with an
``Idempotency-Key`` header, and the second send gets the first answer back.

Why: the phone app queues steps taken offline (accept, note, photo, hand over) and replays
them when the network returns. A reply lost on the way back makes it send the step again;
without a key that would record a second note, store a second photo or answer 409 ("it is
already in progress") for a step that in fact succeeded.

How: the step runs, then its answer is stored under (enterprise, key) in the same
transaction, so the key exists exactly when the step's effect does. Two sends racing each
other: the second waits on the order's row lock (PostgreSQL) or the write lock (SQLite), and
then either fails the transition (409) or the unique key (IntegrityError); either way it rolls
back, finds the first answer and returns that. A refused step stores nothing: it changed
nothing, so sending it again asks again (and the client shows the refusal).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor
from plantguard.workorders.models import WorkOrderClientAction

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
BAD_KEY = N_("Use 8 to 64 letters, digits, '-' or '_'")
OTHER_STEP = N_("This key was already used for another step")


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def key_of(request: Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise ValidationFailed([FieldError(HEADER, BAD_KEY)])
    return raw


def find(session: Session, actor: Actor, key: str) -> WorkOrderClientAction | None:
    return session.scalars(select(WorkOrderClientAction).where(
        WorkOrderClientAction.enterprise_id == actor.enterprise_id, WorkOrderClientAction.key == key)).first()


def _replay(row: WorkOrderClientAction, actor: Actor, action: str, order_id: int) -> Answer:
    if (row.user_id or 0) != (actor.user_id or 0) or row.action != action or row.work_order_id != order_id:
        raise ValidationFailed([FieldError(HEADER, OTHER_STEP)])
    return Answer(row.status_code, dict(row.response), replayed=True)


def run(session: Session, actor: Actor, key: str | None, action: str, order_id: int,
        work: Callable[[], tuple[int, dict[str, Any]]]) -> Answer:
    """Run ``work`` (which changes the order and returns its answer) at most once per key and
    commit; without a key, simply run and commit."""
    if key is None:
        status, body = work()
        session.commit()
        return Answer(status, body)
    row = find(session, actor, key)
    if row is not None:
        return _replay(row, actor, action, order_id)
    try:
        status, body = work()
        session.add(WorkOrderClientAction(enterprise_id=actor.enterprise_id, key=key, user_id=actor.user_id or None,
                                          action=action, work_order_id=order_id, status_code=status, response=body,
                                          at=utcnow()))
        session.commit()
    except (PlantGuardError, IntegrityError):
        session.rollback()  # a concurrent send of the same key may have won meanwhile
        row = find(session, actor, key)
        if row is None:
            raise
        return _replay(row, actor, action, order_id)
    return Answer(status, body)
