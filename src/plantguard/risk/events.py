"""Typed events of the risk register: an assessment made, a point's level moved.

The map and the dashboards may react to ``risk.level_changed`` (an area's colour can move);
the payloads carry the ids and the levels so a consumer needs no query to decide.
"""

from __future__ import annotations

from plantguard.events.envelope import Event, event_type


@event_type("risk.assessed")
class RiskAssessed(Event):
    risk_point_id: int
    hazard_source_id: int | None = None
    assessment_id: int
    method: str
    method_version: int
    score: float
    level: str


@event_type("risk.level_changed")
class RiskLevelChanged(Event):
    risk_point_id: int
    area_id: int
    code: str
    level_from: str | None = None
    level_to: str | None = None
