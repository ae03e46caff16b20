"""Where work orders ask routing: :func:`get_router` and the plug :func:`set_router`.

The rule-based router (``workorders/routing/``) calls ``set_router(router)`` when it is
ready; until then, and whenever it is unset again, :class:`DefaultRouter` decides: the
equipment's area → the team responsible for that area (the one on duty first), priority from
the alarm's severity. No team → the order waits for a manager (待派发).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.core.db import utcnow
from plantguard.tenancy.models import Area, Team
from plantguard.workorders.assignment import on_duty
from plantguard.workorders.contract import Priority, Router, RoutingDecision

SEVERITY_PRIORITY: dict[str, Priority] = {"critical": Priority.P1, "major": Priority.P2, "minor": Priority.P3,
                                          "warning": Priority.P4}


class DefaultRouter:
    def __init__(self, session_factory: sessionmaker[Session], clock: Any = utcnow) -> None:
        self.factory = session_factory
        self.clock = clock

    def route(self, enterprise_id: int, facts: Mapping[str, Any]) -> RoutingDecision:
        priority = SEVERITY_PRIORITY.get(str(facts.get("severity", "")), Priority.P3)
        skills = tuple(str(s) for s in facts.get("skills") or ())
        area_code = facts.get("area_code")
        if not area_code:
            return RoutingDecision(None, priority, skills, trace=("no area: left for a manager",))
        now: datetime = self.clock()
        with self.factory() as s:
            teams = list(s.scalars(select(Team).join(Area, Area.id == Team.area_id).where(
                Team.enterprise_id == enterprise_id, Area.enterprise_id == enterprise_id,
                Area.code == str(area_code)).order_by(Team.code)))
            if not teams:
                return RoutingDecision(None, priority, skills, trace=(f"no team for area {area_code}",))
            team = next((t for t in teams if on_duty(t, now)), teams[0])
            return RoutingDecision(team.code, priority, skills,
                                   trace=(f"area {area_code} → team {team.code}", f"severity → {priority.value}"))


_router: Router | None = None


def set_router(router: Router | None) -> None:
    """Plug in a router for every enterprise (None restores :class:`DefaultRouter`)."""
    global _router
    _router = router


def get_router(read_factory: sessionmaker[Session]) -> Router:
    """The plugged router, or else the enterprise's routing rules reading through
    ``read_factory`` (a read-only session factory: the caller may hold SQLite's write lock).
    The rule router falls back to :class:`DefaultRouter` for an enterprise without a rule set,
    and is built per call from the caller's factory, so no process-wide state ties it to one
    database."""
    if _router is not None:
        return _router
    from plantguard.workorders.routing.router import RuleRouter

    return RuleRouter(read_factory)
