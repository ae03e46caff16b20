"""The contracts between work orders, routing and notifications (issue 5).

Why a separate module: the three are built side by side and meet only here. Routing decides
who gets a piece of work from facts about it; work orders own the lifecycle and emit events;
notifications turn events into messages. None imports another's internals.

Facts are flat ``name → value`` pairs (strings, numbers, booleans, string lists), so a routing
rule can be written, validated and tested without a database: the field catalogue
:data:`FACT_FIELDS` is what rules may refer to, and a rule naming any other field is refused
when saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Priority(StrEnum):
    """P1 most urgent. SLA timers per priority live in configuration, not here."""

    P1 = "p1"
    P2 = "p2"
    P3 = "p3"
    P4 = "p4"


class WorkOrderStatus(StrEnum):
    PENDING = "pending"  # 待派发
    DISPATCHED = "dispatched"  # 已派发
    IN_PROGRESS = "in_progress"  # 处理中
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # 待验收
    CLOSED = "closed"  # 已关闭
    CANCELLED = "cancelled"  # 已撤销


# The facts a routing rule may test, with their kind: "str", "num", "bool", "list" (of str),
# "time" (minutes after local midnight, 0..1439) and "enum:<a>|<b>|..." for closed sets.
FACT_FIELDS: dict[str, str] = {
    "source": "enum:alarm|hazard|inspection|manual",
    "severity": "enum:critical|major|minor|warning",
    "kind": "str",  # alarm kind: detector name, no_data, offline
    "detector": "str",
    "equipment_code": "str",
    "equipment_type": "str",
    "equipment_criticality": "enum:A|B|C",
    "area_code": "str",
    "site_code": "str",
    "point_code": "str",
    "quantity": "str",  # the point's measured quantity, e.g. pressure, gas_lel
    "shift": "enum:day|middle|night",
    "time_of_day": "time",
    "weekday": "num",  # 1 = Monday .. 7 = Sunday
    "skills": "list",  # skill tags the work needs, when the source names them
    "score": "num",
}


@dataclass(frozen=True)
class RoutingDecision:
    """What routing says about one piece of work; ``rule`` names the rule that matched (or
    ``"default"``) and ``trace`` says why, for the "what would happen" tester."""

    team_code: str | None
    priority: Priority
    skills: Sequence[str] = ()
    assignee_username: str | None = None
    rule: str = "default"
    rule_set_version: int | None = None
    trace: Sequence[str] = field(default_factory=tuple)


class Router(Protocol):
    """Routing as work orders see it: facts in, a decision out, for one enterprise."""

    def route(self, enterprise_id: int, facts: Mapping[str, Any]) -> RoutingDecision: ...


# Events work orders write to the outbox (payload fields in brackets). Notifications subscribe
# to these and to ``alarm.raised`` (whose payload carries ``notify``).
WORKORDER_EVENTS: tuple[str, ...] = (
    "workorder.created",  # [id, number, title, priority, status, source, alarm_id, equipment_id, team_id, due_at]
    "workorder.dispatched",  # [..., team_id, assignee_user_id]
    "workorder.accepted",  # the assignee took it on (处理中)
    "workorder.updated",  # progress, comment or evidence added [note]
    "workorder.submitted",  # handed over for acceptance (待验收)
    "workorder.rejected",  # 驳回: back to in progress [reason]
    "workorder.closed",  # accepted and closed [accepted_by]
    "workorder.cancelled",  # 撤销 [reason]
    "workorder.escalated",  # not acknowledged / overdue [level, reason: unacknowledged|overdue]
    "workorder.alarm_attached",  # a repeated alarm on the same equipment joined the open order [alarm_id]
)
