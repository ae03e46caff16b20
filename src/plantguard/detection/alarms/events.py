"""Typed events of the alarm lifecycle, written to the outbox with the change they report.

Every payload carries the alarm's identity and state, so a consumer (the work-order opener,
notifications) needs no query to act. ``notify`` is the lifecycle's decision whether people
should be told: false for an alarm raised during a silence, for a recurrence within the
throttle window and for quiet bookkeeping (the condition ended). Consumers that only record
(analytics, the work-order history) may ignore it.

The events of one alarm form one chain: the raise has a fresh context, every later event's
context has the raise's context id as its parent (``alarm.context_id``), so a work order opened
from ``alarm.raised`` and the later acknowledgement read as one story.
"""

from __future__ import annotations

from plantguard.events.envelope import Event, event_type


class AlarmEventBase(Event):
    alarm_id: int
    source: str
    kind: str
    severity: str
    status: str
    title: str = ""
    equipment_id: int | None = None
    point_id: int | None = None
    device_id: int | None = None
    rule_id: int | None = None
    silenced: bool = False
    notify: bool = True
    note: str = ""


@event_type("alarm.raised")
class AlarmRaised(AlarmEventBase):
    pass


@event_type("alarm.repeated")
class AlarmRepeated(AlarmEventBase):
    """The condition came back on an open alarm, a cleared alarm was reopened within the
    throttle window, or a no-data/offline alarm is still going (``notify`` true: a reminder)."""

    occurrences: int = 1
    reopened: bool = False


@event_type("alarm.condition_ended")
class AlarmConditionEnded(AlarmEventBase):
    pass


@event_type("alarm.acknowledged")
class AlarmAcknowledged(AlarmEventBase):
    by_user_id: int | None = None


@event_type("alarm.cleared")
class AlarmCleared(AlarmEventBase):
    reason: str = "manual"  # manual | auto
    by_user_id: int | None = None


@event_type("alarm.escalated")
class AlarmEscalated(AlarmEventBase):
    """Nobody acknowledged within the policy's time: ``level`` counts the escalations."""

    level: int = 1


@event_type("alarm.severity_changed")
class AlarmSeverityChanged(AlarmEventBase):
    previous: str = ""
    direction: str = "up"  # up | down
    reason: str = ""  # signal | escalation | downgrade


@event_type("alarm.commented")
class AlarmCommented(AlarmEventBase):
    by_user_id: int | None = None
