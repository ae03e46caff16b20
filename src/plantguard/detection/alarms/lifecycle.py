"""State changes of one alarm, each with its history line and its outbox event.

One function per transition, used alike by the intake (signals), the tick (timers, watchdog)
and the service (people), so that a change can never be made without being recorded and
announced: history row and event are written in the caller's transaction, and leave only if
it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from plantguard.detection.alarms import events as ev
from plantguard.detection.alarms.models import Alarm, AlarmEvent, AlarmSilence
from plantguard.detection.signals import Severity
from plantguard.events.envelope import Context
from plantguard.events.outbox import enqueue


@dataclass(frozen=True)
class Who:
    """Who made a change: a user, or the system (``user_id`` None, empty name)."""

    user_id: int | None = None
    name: str = ""


SYSTEM = Who()


def payload(alarm: Alarm, *, notify: bool = True, note: str = "") -> dict[str, Any]:
    return {"alarm_id": alarm.id, "source": alarm.source, "kind": alarm.kind, "severity": alarm.severity,
            "status": alarm.status, "title": alarm.title, "equipment_id": alarm.equipment_id,
            "point_id": alarm.point_id, "device_id": alarm.device_id, "rule_id": alarm.rule_id,
            "silenced": alarm.silenced, "notify": notify and not alarm.silenced, "note": note}


def record(session: Session, alarm: Alarm, kind: str, event: ev.AlarmEventBase | None, *, at: datetime,
           who: Who = SYSTEM, note: str = "", severity_from: str | None = None, severity_to: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    """One history line and (unless ``event`` is None) one outbox event for a change already
    applied to ``alarm``."""
    session.add(AlarmEvent(enterprise_id=alarm.enterprise_id, alarm_id=alarm.id, kind=kind, at=at,
                           user_id=who.user_id, actor_name=who.name, note=note, severity_from=severity_from,
                           severity_to=severity_to, detail=detail or {}))
    if event is None:
        return
    if kind == "raised":
        context = Context(id=alarm.context_id, user_id=who.user_id)
    else:
        context = Context(parent_id=alarm.context_id or None, user_id=who.user_id)
    enqueue(session, event, context=context, enterprise_id=alarm.enterprise_id)


def raised(session: Session, alarm: Alarm, at: datetime) -> None:
    session.flush()  # the id, for the history line and the event
    record(session, alarm, "raised", ev.AlarmRaised(**payload(alarm)), at=at, severity_to=alarm.severity)
    if alarm.silenced:
        # The raise event says so itself (silenced, notify false); this is the history's note.
        record(session, alarm, "silenced", None, at=at)
    alarm.last_notified_at = at


def repeated(session: Session, alarm: Alarm, at: datetime, *, notify: bool, reopened: bool = False,
             note: str = "") -> None:
    record(session, alarm, "repeated",
           ev.AlarmRepeated(**payload(alarm, notify=notify, note=note), occurrences=alarm.occurrences,
                            reopened=reopened),
           at=at, note=note, detail={"occurrences": alarm.occurrences, "reopened": reopened})
    if notify:
        alarm.last_notified_at = at


def condition_ended(session: Session, alarm: Alarm, at: datetime) -> None:
    alarm.condition_ended_at = at
    record(session, alarm, "condition_ended", ev.AlarmConditionEnded(**payload(alarm, notify=False)), at=at)


def acknowledge(session: Session, alarm: Alarm, at: datetime, who: Who, note: str = "") -> None:
    alarm.acknowledged = True
    alarm.acked_at = at
    alarm.acked_by = who.user_id
    record(session, alarm, "acked", ev.AlarmAcknowledged(**payload(alarm, note=note), by_user_id=who.user_id),
           at=at, who=who, note=note)


def clear(session: Session, alarm: Alarm, at: datetime, who: Who, reason: str, note: str = "") -> None:
    alarm.active = False
    alarm.open_key = None
    alarm.cleared_at = at
    alarm.cleared_by = who.user_id
    alarm.clear_reason = reason
    if alarm.condition_ended_at is None and reason == "auto":
        alarm.condition_ended_at = at
    session.flush()  # free the source's open slot before anything reopens it
    record(session, alarm, "cleared",
           ev.AlarmCleared(**payload(alarm, note=note), reason=reason, by_user_id=who.user_id),
           at=at, who=who, note=note, detail={"reason": reason})


def change_severity(session: Session, alarm: Alarm, new: Severity, at: datetime, reason: str) -> None:
    old = alarm.severity
    if new.value == old:
        return
    up = new.rank < Severity(old).rank
    alarm.severity = new.value
    alarm.severity_changed_at = at
    record(session, alarm, "severity_up" if up else "severity_down",
           ev.AlarmSeverityChanged(**payload(alarm, notify=up), previous=old, direction="up" if up else "down",
                                   reason=reason),
           at=at, severity_from=old, severity_to=new.value, detail={"reason": reason})


def escalate(session: Session, alarm: Alarm, at: datetime, steps: int, stamp: datetime) -> None:
    alarm.escalation_level += steps
    alarm.unack_escalated_at = stamp
    record(session, alarm, "escalated", ev.AlarmEscalated(**payload(alarm), level=alarm.escalation_level),
           at=at, detail={"level": alarm.escalation_level})
    alarm.last_notified_at = at


def comment(session: Session, alarm: Alarm, at: datetime, who: Who, note: str) -> None:
    record(session, alarm, "commented", ev.AlarmCommented(**payload(alarm, notify=False, note=note),
                                                          by_user_id=who.user_id),
           at=at, who=who, note=note)


def in_silence(session: Session, enterprise_id: int, at: datetime, *, area_id: int | None,
               equipment_id: int | None, point_id: int | None, rule_id: int | None) -> bool:
    """Whether a silence in force at ``at`` covers an alarm with these references."""
    S = AlarmSilence
    scopes = [S.scope == "enterprise"]
    for scope, target in (("area", area_id), ("equipment", equipment_id), ("point", point_id), ("rule", rule_id)):
        if target is not None:
            scopes.append(and_(S.scope == scope, S.target_id == target))
    hit = session.scalar(
        select(S.id).where(S.enterprise_id == enterprise_id, S.cancelled_at.is_(None), S.starts_at <= at,
                           S.ends_at > at, or_(*scopes)).limit(1))
    return hit is not None
