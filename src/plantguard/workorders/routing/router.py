"""The rule router: ``contract.Router`` backed by each enterprise's rule set in force.

Plug it in with :func:`install` (``routing_hook.set_router``). Per call it reads one small
row (the newest version's identity) so a saved version takes effect on the next alarm in every
process, without an invalidation message; the compiled rules are cached by it because a
version never changes. An enterprise without a rule set is routed by the work-order side's
:class:`~plantguard.workorders.routing_hook.DefaultRouter` (area → team), with a trace line
saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.workorders.contract import RoutingDecision
from plantguard.workorders.routing.models import RoutingRuleSet
from plantguard.workorders.routing.service import _CACHE, compiled


class RuleRouter:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory  # a read-only factory is enough (and safe under SQLite's write lock)

    def route(self, enterprise_id: int, facts: Mapping[str, Any]) -> RoutingDecision:
        with self.factory() as s:
            head = s.execute(select(RoutingRuleSet.id, RoutingRuleSet.enterprise_id, RoutingRuleSet.version,
                                    RoutingRuleSet.created_at)
                             .where(RoutingRuleSet.enterprise_id == enterprise_id)
                             .order_by(RoutingRuleSet.version.desc()).limit(1)).first()
            if head is None:
                from plantguard.workorders.routing_hook import DefaultRouter

                d = DefaultRouter(self.factory).route(enterprise_id, facts)
                return RoutingDecision(d.team_code, d.priority, d.skills, d.assignee_username, d.rule, None,
                                       ("no routing rule set: default router", *d.trace))
            crs = _CACHE.get(tuple(head))
            if crs is None:
                row = s.get(RoutingRuleSet, head[0])
                assert row is not None
                crs = compiled(row)
        return crs.route(facts)


def install(factory: sessionmaker[Session]) -> RuleRouter:
    """Make the rule router the one work orders use (``routing_hook.set_router``)."""
    from plantguard.workorders.routing_hook import set_router

    router = RuleRouter(factory)
    set_router(router)
    return router
