"""Who gets what: rules → recipients (users × personal channel kinds, and group channels).

An enterprise without rules of its own gets :data:`DEFAULT_RULES`; once it saves any rule,
its rules replace the defaults entirely (no hidden merging). Every lookup is scoped to the
event's enterprise: a rule, a user, a team or a channel of another enterprise is never
reached, even if a payload names its id.

Audience terms: ``roles`` (every active user with that role), ``team_leader`` (the leader of
the work order's or inspection's team, or for an alarm of the teams working the equipment's
area, for a hazard of the teams working its area),
``team_members``, ``assignee`` (the work order's ``assignee_user_id``), ``escalation_targets``
(a ``workorder.escalated`` event's ``target_user_ids``: the next level), ``user_ids`` and
``all_group_channels`` (every enabled robot of the enterprise); for permits ``permit_people``
(the accounts of the work leader and guardian, the event's ``notify_user_ids``) and
``applicant`` (``applicant_user_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.notifications.messages import SEVERITY_RANK, severity_of
from plantguard.notifications.models import GROUP_KINDS, NotificationChannel, NotificationPreference, NotificationRule
from plantguard.tenancy.models import Person, Team, User

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"name": "alarms to safety managers and the area's team leader", "event": "alarm.*", "min_severity": None,
     "audience": {"roles": ["safety_manager"], "team_leader": True}, "channels": ["inapp"]},
    {"name": "major alarms also by email and to the plant's groups", "event": "alarm.*", "min_severity": "major",
     "audience": {"roles": ["safety_manager"], "all_group_channels": True}, "channels": ["email"]},
    {"name": "new work order to the team leader", "event": "workorder.created", "min_severity": None,
     "audience": {"team_leader": True}, "channels": ["inapp"]},
    {"name": "dispatched to the assignee", "event": "workorder.dispatched", "min_severity": None,
     "audience": {"assignee": True}, "channels": ["inapp"]},
    {"name": "escalations to the team leader and safety managers", "event": "workorder.escalated",
     "min_severity": None, "audience": {"team_leader": True, "roles": ["safety_manager"], "escalation_targets": True},
     "channels": ["inapp"]},
    {"name": "acceptance due: team leader", "event": "workorder.submitted", "min_severity": None,
     "audience": {"team_leader": True}, "channels": ["inapp"]},
    {"name": "outcome to the assignee", "event": "workorder.rejected", "min_severity": None,
     "audience": {"assignee": True}, "channels": ["inapp"]},
    {"name": "closed: assignee and team leader", "event": "workorder.closed", "min_severity": None,
     "audience": {"assignee": True, "team_leader": True}, "channels": ["inapp"]},
    {"name": "cancelled: assignee", "event": "workorder.cancelled", "min_severity": None,
     "audience": {"assignee": True}, "channels": ["inapp"]},
    {"name": "repeated alarm: assignee", "event": "workorder.alarm_attached", "min_severity": None,
     "audience": {"assignee": True}, "channels": ["inapp"]},
    {"name": "missed inspection: team and assignees", "event": "inspection.missed", "min_severity": None,
     "audience": {"team_leader": True, "escalation_targets": True}, "channels": ["inapp"]},
    {"name": "new hazard: safety managers and the area's team leader", "event": "hazard.reported",
     "min_severity": None, "audience": {"roles": ["safety_manager"], "team_leader": True}, "channels": ["inapp"]},
    {"name": "hazard rectified, acceptance due: safety managers and team leader", "event": "hazard.submitted",
     "min_severity": None, "audience": {"roles": ["safety_manager"], "team_leader": True}, "channels": ["inapp"]},
    {"name": "overdue hazard: safety managers and team leader", "event": "hazard.overdue", "min_severity": None,
     "audience": {"roles": ["safety_manager"], "team_leader": True}, "channels": ["inapp"]},
    # Special work permits: a suspension (a gas alarm above all, GB 30871-2022 6.5) stops work at
    # once, so it reaches the work leader and guardian on site and the applicant. Approval and
    # refusal are the applicant's news (and the work leader's, who now prepares the start).
    # Submitted permits reach approvers through the approval workflow, not a rule.
    {"name": "permit suspended: work leader, guardian and applicant", "event": "permit.suspended",
     "min_severity": None, "audience": {"permit_people": True, "applicant": True}, "channels": ["inapp"]},
    {"name": "permit approved: applicant, work leader and guardian", "event": "permit.approved",
     "min_severity": None, "audience": {"permit_people": True, "applicant": True}, "channels": ["inapp"]},
    {"name": "permit refused: applicant", "event": "permit.rejected", "min_severity": None,
     "audience": {"applicant": True}, "channels": ["inapp"]},
)


@dataclass
class Recipients:
    users: dict[int, set[str]] = field(default_factory=dict)  # user id -> personal kinds
    groups: set[int] = field(default_factory=set)  # notification_channel ids


def matches(rule_event: str, event_type: str) -> bool:
    if rule_event.endswith(".*"):
        return event_type.startswith(rule_event[:-1])
    return rule_event in (event_type, "*")


def rules_for(session: Session, enterprise_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(NotificationRule).where(NotificationRule.enterprise_id == enterprise_id)).all()
    if not rows:
        return [dict(r) for r in DEFAULT_RULES]
    return [{"name": r.name, "event": r.event, "min_severity": r.min_severity, "audience": r.audience or {},
             "channels": list(r.channels or []), "group_channel_ids": list(r.group_channel_ids or [])}
            for r in rows if r.enabled]


def _team_ids(session: Session, ent: int, event_type: str, payload: Mapping[str, Any]) -> list[int]:
    if payload.get("team_id"):
        return [int(payload["team_id"])]
    eq_id = payload.get("equipment_id")
    area = None
    if event_type.startswith("alarm.") and eq_id:
        area = session.scalar(select(Equipment.area_id).where(Equipment.id == int(eq_id),
                                                              Equipment.enterprise_id == ent))
    elif event_type.startswith(("hazard.", "inspection.")) and payload.get("area_id"):
        area = int(payload["area_id"])  # the teams working where the hazard was found
    if area is not None:
        return list(session.scalars(select(Team.id).where(Team.enterprise_id == ent, Team.area_id == area)))
    return []


def _users_of_people(session: Session, ent: int, person_ids: Sequence[int]) -> list[int]:
    if not person_ids:
        return []
    return list(session.scalars(select(User.id).where(User.enterprise_id == ent, User.active.is_(True),
                                                      User.person_id.in_(person_ids))))


def audience_users(session: Session, ent: int, audience: Mapping[str, Any], event_type: str,
                   payload: Mapping[str, Any]) -> set[int]:
    out: set[int] = set()
    roles = [str(r) for r in audience.get("roles") or []]
    if roles:
        out.update(session.scalars(select(User.id).where(User.enterprise_id == ent, User.active.is_(True),
                                                         User.role.in_(roles))))
    if audience.get("team_leader") or audience.get("team_members"):
        teams = _team_ids(session, ent, event_type, payload)
        if teams and audience.get("team_leader"):
            leaders = [int(p) for p in session.scalars(select(Team.leader_id).where(
                Team.enterprise_id == ent, Team.id.in_(teams), Team.leader_id.is_not(None))) if p is not None]
            out.update(_users_of_people(session, ent, leaders))
        if teams and audience.get("team_members"):
            people = list(session.scalars(select(Person.id).where(Person.enterprise_id == ent,
                                                                  Person.team_id.in_(teams))))
            out.update(_users_of_people(session, ent, people))
    named: list[int] = [int(u) for u in audience.get("user_ids") or []]
    if audience.get("assignee") and payload.get("assignee_user_id"):
        named.append(int(payload["assignee_user_id"]))
    if audience.get("escalation_targets"):
        named.extend(int(u) for u in payload.get("target_user_ids") or [])
    if audience.get("permit_people"):
        named.extend(int(u) for u in payload.get("notify_user_ids") or [])
    if audience.get("applicant") and payload.get("applicant_user_id"):
        named.append(int(payload["applicant_user_id"]))
    if named:
        out.update(session.scalars(select(User.id).where(User.enterprise_id == ent, User.active.is_(True),
                                                         User.id.in_(named))))
    return out


def resolve(session: Session, ent: int, event_type: str, payload: Mapping[str, Any]) -> Recipients:
    """Recipients of one event after rules and each user's muted channels."""
    sev = severity_of(event_type, dict(payload))
    rank = SEVERITY_RANK.get(sev, 0)
    out = Recipients()
    want_groups: set[int] = set()
    all_groups = False
    for rule in rules_for(session, ent):
        if not matches(str(rule["event"]), event_type):
            continue
        if rule.get("min_severity") and rank < SEVERITY_RANK.get(str(rule["min_severity"]), 0):
            continue
        audience = rule.get("audience") or {}
        kinds = {str(k) for k in rule.get("channels") or []}
        if kinds:
            for uid in audience_users(session, ent, audience, event_type, payload):
                out.users.setdefault(uid, set()).update(kinds)
        want_groups.update(int(c) for c in rule.get("group_channel_ids") or [])
        all_groups = all_groups or bool(audience.get("all_group_channels"))
    if want_groups or all_groups:
        q = select(NotificationChannel.id).where(NotificationChannel.enterprise_id == ent,
                                                 NotificationChannel.enabled.is_(True),
                                                 NotificationChannel.kind.in_(GROUP_KINDS))
        if not all_groups:
            q = q.where(NotificationChannel.id.in_(want_groups))
        out.groups.update(session.scalars(q))
    if out.users:
        prefs = session.scalars(select(NotificationPreference).where(
            NotificationPreference.enterprise_id == ent, NotificationPreference.user_id.in_(list(out.users))))
        for pref in prefs:
            muted = set((pref.muted or {}).get(event_type, [])) | set((pref.muted or {}).get("*", []))
            out.users[pref.user_id] -= muted
        out.users = {u: k for u, k in out.users.items() if k}
    return out
