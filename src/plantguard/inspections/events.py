"""Outbox events of inspections.

``inspection.missed`` carries who should hear about it without a query: ``team_id`` (the
notification audience terms ``team_leader``/``team_members`` use it), ``assignee_role`` and
``target_user_ids`` (the assignees and the team leader's account, resolved when the task was
found missed; the audience term ``escalation_targets`` reads it).
"""

from __future__ import annotations

from datetime import datetime

from plantguard.events.envelope import Event, event_type


class InspectionTaskEvent(Event):
    id: int
    plan_id: int
    plan_name: str
    risk_point_id: int
    risk_point_code: str = ""
    risk_point_name: str = ""
    area_id: int | None = None
    period: str
    window_start: datetime
    window_end: datetime
    status: str
    team_id: int | None = None
    assignee_role: str | None = None
    by_user_id: int | None = None


@event_type("inspection.missed")
class InspectionMissed(InspectionTaskEvent):
    title: str = ""
    target_user_ids: list[int] = []


@event_type("inspection.done")
class InspectionDone(InspectionTaskEvent):
    failed_items: int = 0
    hazard_ids: list[int] = []
