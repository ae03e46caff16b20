"""What other domains may use from permits (issue 7): statuses, type codes, signature steps,
event names.

Why a separate module: the rules, the approval workflow (BPMN), the live gas link, the PDF,
the console and phone pages are built side by side and meet here; none imports the others'
internals. The permit types themselves are data (``permits/data/types.yaml``, read by
``permits/types.py``), each rule citing its clause of GB 30871-2022.
"""

from __future__ import annotations

from enum import StrEnum


class PermitStatus(StrEnum):
    """申请 → 审批 → 批准 → 作业 (⇄ 暂停) → 完工 → 验收关闭; 驳回, 作废, 过期 end it."""

    DRAFT = "draft"  # 申请中: being filled in by the applicant; the only editable state
    PENDING = "pending_approval"  # 审批中: in the approval workflow (BPMN)
    APPROVED = "approved"  # 已批准: approved, work not yet started (gas analysis, briefing)
    ACTIVE = "active"  # 作业中
    SUSPENDED = "suspended"  # 暂停: a break, a gas alarm, the guardian stopped it
    COMPLETED = "completed"  # 完工: work finished, awaiting completion acceptance
    CLOSED = "closed"  # 验收关闭: completion accepted (terminal)
    REJECTED = "rejected"  # 审批未通过 (terminal; a new application is a new permit)
    CANCELLED = "cancelled"  # 作废/收回: withdrawn before or during work (terminal)
    EXPIRED = "expired"  # 过期: the validity ended before completion (terminal)


# Not yet finished: counted for guardian and conflict checks.
LIVE_STATUSES: frozenset[str] = frozenset({
    PermitStatus.PENDING, PermitStatus.APPROVED, PermitStatus.ACTIVE, PermitStatus.SUSPENDED})
# Work may be under way or about to be: the sensor link watches these.
WATCHED_STATUSES: frozenset[str] = frozenset({PermitStatus.APPROVED, PermitStatus.ACTIVE})
TERMINAL_STATUSES: frozenset[str] = frozenset({
    PermitStatus.CLOSED, PermitStatus.REJECTED, PermitStatus.CANCELLED, PermitStatus.EXPIRED})

PERMIT_TYPES: tuple[str, ...] = ("hot_work", "confined_space", "blind_plate", "work_at_height", "lifting",
                                 "temp_electricity", "excavation", "road_breaking")


class SignStep(StrEnum):
    """Timed sign-offs (Appendix A). Approval steps are ``approve:<role>`` (roles in types.yaml
    ``approver_roles``) and countersigns ``countersign:<department>``."""

    APPLICANT = "applicant"  # 申请人
    WORK_LEADER = "work_leader"  # 作业负责人
    GUARDIAN = "guardian"  # 监护人
    BRIEFER = "briefer"  # 安全交底人
    BRIEFEE = "briefee"  # 接受交底人
    SHIFT_LEADER = "shift_leader"  # 岗位当班班长验票
    ACCEPTANCE = "acceptance"  # 完工验收


class WorkerRole(StrEnum):
    WORKER = "worker"  # 作业人 (动火人, 进入受限空间的人, 高处作业人 ...)
    ELECTRICIAN = "electrician"  # 电工 (临时用电)
    RIGGER = "rigger"  # 司索人
    SIGNALLER = "signaller"  # 指挥人员
    CRANE_OPERATOR = "crane_operator"  # 起重机司机


class GasKind(StrEnum):
    COMBUSTIBLE = "combustible"
    OXYGEN = "oxygen"
    TOXIC = "toxic"


class SuspendReason(StrEnum):
    BREAK = "break"  # 作业中断 (lunch, shift change): re-analysis after the break limit
    GAS_ALARM = "gas_alarm"  # a live reading breached the permit's limits (6.5)
    GUARDIAN = "guardian"  # the guardian stopped the work (4.10)
    OTHER = "other"


# Events permits write to the outbox (payload: id, number, type_code, grade, status, area_id,
# work_leader_id, guardian_id, applicant_user_id, planned_start, planned_end, by_user_id, note,
# plus the step's own fields).
PERMIT_EVENTS: tuple[str, ...] = (
    "permit.applied",  # a draft created
    "permit.submitted",  # sent for approval (the workflow started) [conflicts]
    "permit.approval_step",  # one approver signed [role, decision]
    "permit.approved",  # the last approver signed
    "permit.rejected",  # an approver refused [role, reason]
    "permit.gas_recorded",  # a gas analysis recorded [analysis_id, passed]
    "permit.started",  # work started
    "permit.suspended",  # stopped [reason, point_id, value, limit] — alerts guardian and work leader
    "permit.resumed",  # work resumed after a new analysis
    "permit.completed",  # work finished
    "permit.closed",  # completion accepted
    "permit.cancelled",  # withdrawn [reason]
    "permit.expired",  # validity ended before completion
)
