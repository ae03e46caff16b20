"""Idempotent phone steps (check-in, photo, results): the same ``Idempotency-Key`` again gets
the first answer back instead of a second check-in or a 409 "already done".

The mechanism is the work orders' (``workorders/idempotency.py``: why and how, racing sends
included), on its own table ``inspection_client_action`` keyed by task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, PlantGuardError, ValidationFailed
from plantguard.core.permissions import Actor
from plantguard.inspections.models import InspectionClientAction
from plantguard.workorders.idempotency import HEADER, OTHER_STEP, Answer, key_of

__all__ = ["Answer", "key_of", "run"]


def find(session: Session, actor: Actor, key: str) -> InspectionClientAction | None:
    return session.scalars(select(InspectionClientAction).where(
        InspectionClientAction.enterprise_id == actor.enterprise_id, InspectionClientAction.key == key)).first()


def _replay(row: InspectionClientAction, actor: Actor, action: str, task_id: int) -> Answer:
    if (row.user_id or 0) != (actor.user_id or 0) or row.action != action or row.task_id != task_id:
        raise ValidationFailed([FieldError(HEADER, OTHER_STEP)])
    return Answer(row.status_code, dict(row.response), replayed=True)


def run(session: Session, actor: Actor, key: str | None, action: str, task_id: int,
        work: Callable[[], tuple[int, dict[str, Any]]]) -> Answer:
    if key is None:
        status, body = work()
        session.commit()
        return Answer(status, body)
    row = find(session, actor, key)
    if row is not None:
        return _replay(row, actor, action, task_id)
    try:
        status, body = work()
        session.add(InspectionClientAction(enterprise_id=actor.enterprise_id, key=key, user_id=actor.user_id or None,
                                           action=action, task_id=task_id, status_code=status, response=body,
                                           at=utcnow()))
        session.commit()
    except (PlantGuardError, IntegrityError):
        session.rollback()
        row = find(session, actor, key)
        if row is None:
            raise
        return _replay(row, actor, action, task_id)
    return Answer(status, body)
