"""Tables of the permits domain (migration 0014).

Records are kept at least one year and cannot be altered (GB 30871-2022 B.3, 4.18): the permit,
its workers, links, checklist confirmations, sign-offs and gas analyses are ``Audited`` (every
write is an entry of the hash-chained ledger); the history, sign-offs and gas analyses are
insert-only, and the database refuses UPDATE and DELETE on them (migration 0014's triggers, as
for the ledger itself). No API deletes a permit.

People on a permit are ``person`` rows (employees and contractors' workers alike), because
certificates and inductions belong to people, not to user accounts; sign-offs record both the
signing user and the person they stand for.

``content_sha256`` is the hash of the permit's content when it was approved: an approved
permit cannot be edited (4.18), and the PDF prints the hash so a paper copy can be checked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin
from plantguard.core.i18n import N_
from plantguard.permits.contract import PermitStatus as S
from plantguard.tenancy.models import TenantMixin

STATUS_LABELS: dict[str, str] = {
    S.DRAFT: N_("Draft"),
    S.PENDING: N_("Awaiting approval"),
    S.APPROVED: N_("Approved"),
    S.ACTIVE: N_("Work in progress"),
    S.SUSPENDED: N_("Suspended"),
    S.COMPLETED: N_("Completed, awaiting acceptance"),
    S.CLOSED: N_("Closed"),
    S.REJECTED: N_("Approval refused"),
    S.CANCELLED: N_("Cancelled"),
    S.EXPIRED: N_("Expired"),
}


class Permit(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "permit"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "number"),
        UniqueConstraint("enterprise_id", "client_key"),
        Index("ix_permit_ent_status", "enterprise_id", "status"),
        Index("ix_permit_ent_window", "enterprise_id", "planned_start", "planned_end"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    number: Mapped[str] = mapped_column(String(40))
    type_code: Mapped[str] = mapped_column(String(30))
    # The grade applied (after any raise for holidays/night, height factors ...) and the grade
    # asked for; ``grade_reasons`` says why they differ (clause-citing message ids + params).
    grade: Mapped[str] = mapped_column(String(20))
    requested_grade: Mapped[str] = mapped_column(String(20), default="")
    grade_reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(24), default=S.DRAFT.value)
    content: Mapped[str] = mapped_column(Text)  # 作业内容
    location: Mapped[str] = mapped_column(String(300), default="")  # 作业地点
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="SET NULL"), default=None)
    # Position on the site plan (plan units, like area polygons); None = the area's centre.
    plan_x: Mapped[float | None] = mapped_column(Float, default=None)
    plan_y: Mapped[float | None] = mapped_column(Float, default=None)
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    applicant_unit: Mapped[str] = mapped_column(String(200), default="")  # 申请单位
    work_unit: Mapped[str] = mapped_column(String(200), default="")  # 作业单位
    contractor_company_id: Mapped[int | None] = mapped_column(
        ForeignKey("contractor_company.id", ondelete="RESTRICT"), default=None, index=True)
    applied_at: Mapped[datetime]
    work_leader_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), default=None)
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), default=None,
                                                    index=True)
    planned_start: Mapped[datetime]
    planned_end: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Type-specific fields (Appendix A), validated against types.yaml ``fields``.
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # 风险辨识结果 and the job safety analysis: [{step, hazards, controls}].
    risk_identification: Mapped[str] = mapped_column(Text, default="")
    jsa: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    other_measures: Mapped[str] = mapped_column(Text, default="")
    other_measures_by: Mapped[str] = mapped_column(String(100), default="")
    # The gas of concern for the combustible limit (gases.yaml code).
    gas_code: Mapped[str | None] = mapped_column(String(40), default=None)
    # Continuous monitoring (special-grade hot work 5.3.1 d, confined spaces 6.5): the bound
    # sensing points, while the permit is watched, stand for the periodic analysis.
    continuous_monitoring: Mapped[bool] = mapped_column(default=False)
    suspended_at: Mapped[datetime | None] = mapped_column(default=None)
    suspend_reason: Mapped[str | None] = mapped_column(String(20), default=None)
    suspend_note: Mapped[str] = mapped_column(String(500), default="")
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    # Which BPMN process approves it (the enterprise's own or the shipped default).
    process_id: Mapped[str] = mapped_column(String(80), default="")
    context_id: Mapped[str] = mapped_column(String(32), default="")
    client_key: Mapped[str | None] = mapped_column(String(64), default=None)


class PermitWorker(Audited, TenantMixin, Base):
    """A person working under the permit, with the certificate checked when it was applied for."""

    __tablename__ = "permit_worker"
    __table_args__ = (UniqueConstraint("permit_id", "person_id", "role"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="worker")
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id", ondelete="SET NULL"),
                                                       default=None)
    certificate_no: Mapped[str] = mapped_column(String(100), default="")


class PermitLink(Audited, TenantMixin, Base):
    """关联的其他特殊作业: hot work inside a confined space needs both permits."""

    __tablename__ = "permit_link"
    __table_args__ = (UniqueConstraint("permit_id", "linked_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"), index=True)
    linked_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"), index=True)


class PermitMeasure(Audited, TenantMixin, Base):
    """One line of the safety-measures checklist: applicable or not, and who confirmed it."""

    __tablename__ = "permit_measure"
    __table_args__ = (UniqueConstraint("permit_id", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    applicable: Mapped[bool | None] = mapped_column(default=None)  # None = not yet decided
    confirmed_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"),
                                                               default=None)
    confirmed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"),
                                                             default=None)
    confirmed_by_name: Mapped[str] = mapped_column(String(100), default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)


class PermitSignature(Audited, TenantMixin, Base):
    """A timed sign-off (Appendix A): applicant, guardian, briefing, approvals, acceptance.
    Insert-only; the hand-written signature image, when given, is stored like evidence photos."""

    __tablename__ = "permit_signature"
    __table_args__ = (Index("ix_permit_signature_permit", "permit_id", "id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(60))
    decision: Mapped[str] = mapped_column(String(12), default="signed")  # signed | approved | rejected
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), default=None)
    name: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text, default="")
    image_stored_name: Mapped[str] = mapped_column(String(80), default="")
    image_sha256: Mapped[str] = mapped_column(String(64), default="")
    # Where it was signed (4.11 a: the approver signs on site): from the phone, when given.
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)


class GasAnalysis(Audited, TenantMixin, Base):
    """One gas sample (气体分析): manual (portable detector, lab) or from a bound live point.
    ``vol_pct`` is the absolute concentration for combustibles (the 5.3.2 limit is on it)."""

    __tablename__ = "permit_gas_analysis"
    __table_args__ = (Index("ix_permit_gas_permit_time", "permit_id", "sampled_at"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"))
    sampled_at: Mapped[datetime]
    sample_point: Mapped[str] = mapped_column(String(200), default="")  # 取样点 (5.3.1 a/b)
    kind: Mapped[str] = mapped_column(String(12))  # combustible | oxygen | toxic
    gas_code: Mapped[str] = mapped_column(String(40), default="")
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(12))  # "%vol" | "%LEL" | "mg/m3" | "ppm"
    vol_pct: Mapped[float | None] = mapped_column(Float, default=None)
    limit_text: Mapped[str] = mapped_column(String(100), default="")
    passed: Mapped[bool]
    analyst_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), default=None)
    analyst_name: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(10), default="manual")  # manual | live
    point_id: Mapped[int | None] = mapped_column(ForeignKey("measurement_point.id", ondelete="SET NULL"), default=None)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    recorded_at: Mapped[datetime]


class PermitPoint(TenantMixin, Base):
    """A sensing point bound to the permit's location (gas, oxygen, toxic)."""

    __tablename__ = "permit_point"
    __table_args__ = (UniqueConstraint("permit_id", "point_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"), index=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("measurement_point.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # combustible | oxygen | toxic
    gas_code: Mapped[str] = mapped_column(String(40), default="")
    last_value: Mapped[float | None] = mapped_column(Float, default=None)
    last_ts: Mapped[datetime | None] = mapped_column(default=None)


class PermitEvent(TenantMixin, Base):
    """One line of a permit's history; rows are only ever inserted."""

    __tablename__ = "permit_event"
    __table_args__ = (Index("ix_permit_event_permit", "permit_id", "id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    actor_name: Mapped[str] = mapped_column(String(200), default="")  # "" = the system
    note: Mapped[str] = mapped_column(Text, default="")
    status_from: Mapped[str | None] = mapped_column(String(24), default=None)
    status_to: Mapped[str | None] = mapped_column(String(24), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PermitWorkflow(TenantMixin, Base):
    """The approval workflow's state: SpiffWorkflow's serialised JSON, saved after every step,
    so an approval resumes where it stopped after a restart."""

    __tablename__ = "permit_workflow"
    __table_args__ = (UniqueConstraint("permit_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permit.id", ondelete="CASCADE"))
    process_id: Mapped[str] = mapped_column(String(80))
    definition_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    completed: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime]


class PermitProcess(Audited, TenantMixin, TimestampMixin, Base):
    """An enterprise's own BPMN 2.0 approval process, replacing a shipped default without code."""

    __tablename__ = "permit_process"
    __table_args__ = (UniqueConstraint("enterprise_id", "process_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200), default="")
    bpmn_xml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)


class PermitApprover(Audited, TenantMixin, TimestampMixin, Base):
    """Who signs for an approver role (types.yaml ``approver_roles``: unit, safety_dept, ...),
    optionally per area (the operating unit differs by area)."""

    __tablename__ = "permit_approver"
    __table_args__ = (UniqueConstraint("enterprise_id", "role", "user_id", "area_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    role: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), default=None)


class PermitConfig(Audited, TenantMixin, TimestampMixin, Base):
    """Per-enterprise settings that GB 30871-2022 leaves to the plant (⚠ in regulations.md):
    the night window and holiday calendar for the hot-work grade raise, validity limits where
    the standard sets none, certificate kind codes per work type."""

    __tablename__ = "permit_config"
    __table_args__ = (UniqueConstraint("enterprise_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    night_start: Mapped[str] = mapped_column(String(5), default="20:00")
    night_end: Mapped[str] = mapped_column(String(5), default="06:00")
    # Extra days off / extra working days on top of the statutory calendar (ISO dates).
    holidays: Mapped[list[str]] = mapped_column(JSONType, default=list)
    workdays: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # {type_code: {validity_max_h, certificates: {workers: [...], guardian: [...]}}}
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


