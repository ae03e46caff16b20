"""Roles and what each may do. The service layer checks; routes only pre-check.

One table, read by the services (authoritative), by the API's early 403 check (so that a
forbidden write is refused before its body is even parsed), by the web console (to hide
buttons) and by the role-matrix test, which walks every write endpoint against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from plantguard.core.errors import PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    SAFETY_MANAGER = "safety_manager"
    TEAM_LEADER = "team_leader"
    WORKER = "worker"
    CONTRACTOR = "contractor"
    AUDITOR = "auditor"


class Perm(StrEnum):
    READ = "read"
    READ_AUDIT = "audit.read"
    WRITE_EQUIPMENT = "equipment.write"
    WRITE_POINTS = "points.write"
    WRITE_PEOPLE = "people.write"
    WRITE_TEAMS = "teams.write"
    WRITE_SITES = "sites.write"
    # Devices and their point maps, connectors, the simulator's faults.
    WRITE_DEVICES = "devices.write"
    # Detection rules: which detectors watch which points and equipment, thresholds, durations.
    WRITE_DETECTION = "detection.write"
    # Alarm handling: acknowledge, clear, comment, silence; alarm policies (escalation, throttling).
    HANDLE_ALARMS = "alarms.handle"
    MANAGE_ALARM_POLICY = "alarms.policy"
    # Work orders: create, dispatch, reassign, cancel (撤销).
    MANAGE_WORKORDERS = "workorders.manage"
    # Work orders: accept a task, record progress and evidence, hand over for acceptance.
    HANDLE_WORKORDERS = "workorders.handle"
    # Work orders: acceptance (验收) or rejection (驳回) of someone else's work, with a signature.
    ACCEPT_WORKORDERS = "workorders.accept"
    # Routing rules (which team gets which alarm) and notification channels.
    MANAGE_ROUTING = "routing.manage"
    MANAGE_NOTIFICATIONS = "notifications.manage"
    MANAGE_USERS = "users.manage"
    # Dual prevention (双重预防). The risk register, assessment methods, site plan and map.
    MANAGE_RISK = "risk.manage"
    # Inspection checklists and plans (who checks what, how often); QR labels.
    MANAGE_INSPECTIONS = "inspections.manage"
    # Carrying out an inspection: scan check-in, results per item, photos.
    PERFORM_INSPECTIONS = "inspections.perform"
    # Reporting a hazard (隐患) from the floor: anyone on site but an auditor.
    REPORT_HAZARDS = "hazards.report"
    # Registering, grading, assigning and escalating hazards; 销号.
    MANAGE_HAZARDS = "hazards.manage"
    # Rectifying (治理) a hazard assigned to oneself or one's team; handing it over for acceptance.
    RECTIFY_HAZARDS = "hazards.rectify"
    # Accepting (验收) someone else's rectification.
    ACCEPT_HAZARDS = "hazards.accept"
    # Special work permits (特殊作业票, GB 30871-2022). Applying: fill in and submit a permit.
    APPLY_PERMITS = "permits.apply"
    # Signing an approval step — only for the approver roles one is assigned to (PermitApprover).
    APPROVE_PERMITS = "permits.approve"
    # Working under a permit: gas analyses, briefing, guardian/work-leader sign-offs, start,
    # suspend, resume, complete.
    WORK_PERMITS = "permits.work"
    # Completion acceptance (完工验收) of someone else's work.
    ACCEPT_PERMITS = "permits.accept"
    # Permit settings: approver assignments, BPMN processes, night window and holidays; cancel any.
    MANAGE_PERMITS = "permits.manage"
    # Contractors (相关方): companies, qualifications, inductions, their workers' admission.
    MANAGE_CONTRACTORS = "contractors.manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.SAFETY_MANAGER: frozenset(
        {
            Perm.READ,
            Perm.READ_AUDIT,
            Perm.WRITE_EQUIPMENT,
            Perm.WRITE_POINTS,
            Perm.WRITE_PEOPLE,
            Perm.WRITE_TEAMS,
            Perm.WRITE_SITES,
            Perm.WRITE_DEVICES,
            Perm.WRITE_DETECTION,
            Perm.HANDLE_ALARMS,
            Perm.MANAGE_ALARM_POLICY,
            Perm.MANAGE_WORKORDERS,
            Perm.HANDLE_WORKORDERS,
            Perm.ACCEPT_WORKORDERS,
            Perm.MANAGE_ROUTING,
            Perm.MANAGE_NOTIFICATIONS,
            Perm.MANAGE_RISK,
            Perm.MANAGE_INSPECTIONS,
            Perm.PERFORM_INSPECTIONS,
            Perm.REPORT_HAZARDS,
            Perm.MANAGE_HAZARDS,
            Perm.RECTIFY_HAZARDS,
            Perm.ACCEPT_HAZARDS,
            Perm.APPLY_PERMITS,
            Perm.APPROVE_PERMITS,
            Perm.WORK_PERMITS,
            Perm.ACCEPT_PERMITS,
            Perm.MANAGE_PERMITS,
            Perm.MANAGE_CONTRACTORS,
        }
    ),
    # A team leader keeps the equipment ledger of the line current (status, points) and
    # the roster of teams, but does not hire people or create sites.
    Role.TEAM_LEADER: frozenset(
        {Perm.READ, Perm.READ_AUDIT, Perm.WRITE_EQUIPMENT, Perm.WRITE_POINTS, Perm.WRITE_TEAMS,
         Perm.HANDLE_ALARMS, Perm.MANAGE_WORKORDERS, Perm.HANDLE_WORKORDERS, Perm.ACCEPT_WORKORDERS,
         Perm.MANAGE_INSPECTIONS, Perm.PERFORM_INSPECTIONS, Perm.REPORT_HAZARDS, Perm.MANAGE_HAZARDS,
         Perm.RECTIFY_HAZARDS, Perm.ACCEPT_HAZARDS, Perm.APPLY_PERMITS, Perm.APPROVE_PERMITS, Perm.WORK_PERMITS,
         Perm.ACCEPT_PERMITS}
    ),
    # A worker on the line acknowledges the alarm in front of them and works the tasks given to them.
    Role.WORKER: frozenset({Perm.READ, Perm.HANDLE_ALARMS, Perm.HANDLE_WORKORDERS, Perm.PERFORM_INSPECTIONS,
                            Perm.REPORT_HAZARDS, Perm.RECTIFY_HAZARDS, Perm.WORK_PERMITS}),
    # A contractor's worker handles the tasks assigned to them, nothing else.
    # A contractor's work leader applies for and works under permits for their own jobs.
    Role.CONTRACTOR: frozenset({Perm.READ, Perm.HANDLE_WORKORDERS, Perm.REPORT_HAZARDS, Perm.RECTIFY_HAZARDS,
                                Perm.APPLY_PERMITS, Perm.WORK_PERMITS}),
    Role.AUDITOR: frozenset({Perm.READ, Perm.READ_AUDIT}),
}


@dataclass(frozen=True)
class Actor:
    """Who is calling: every service call takes one and scopes its queries to its tenant."""

    user_id: int
    enterprise_id: int
    role: Role
    username: str
    display_name: str = ""

    def can(self, perm: Perm) -> bool:
        return perm in ROLE_PERMISSIONS[self.role]

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise PermissionDenied(perm.value)


def role_may(role: Role, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS[role]
