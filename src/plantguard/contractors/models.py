"""Tables of the contractors domain (migration 0014).

A contractor's worker is a ``person`` row with ``contractor_company_id`` set: certificates
(``certificate``) and inductions belong to the person, so the permit rules check employees and
contractors' workers the same way; the admission check adds what only contractors need.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, TimestampMixin
from plantguard.core.i18n import N_
from plantguard.tenancy.models import TenantMixin

COMPANY_STATUS_LABELS: dict[str, str] = {
    "pending": N_("Pending admission"),
    "admitted": N_("Admitted"),
    "suspended": N_("Suspended"),
    "blacklisted": N_("Blacklisted"),
}


class ContractorCompany(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "contractor_company"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), default="")  # 统一社会信用代码
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    scope: Mapped[str] = mapped_column(Text, default="")  # 承包范围
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # 安全生产管理协议 valid until: no admission without a current agreement.
    agreement_until: Mapped[date | None] = mapped_column(default=None)
    notes: Mapped[str] = mapped_column(Text, default="")


class ContractorQualification(Audited, TenantMixin, TimestampMixin, Base):
    """A company's qualification (资质证书, 安全生产许可证 ...) with its expiry."""

    __tablename__ = "contractor_qualification"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("contractor_company.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(100), default="")
    issued_by: Mapped[str] = mapped_column(String(200), default="")
    issued_on: Mapped[date | None] = mapped_column(default=None)
    expires_on: Mapped[date | None] = mapped_column(default=None)


class SafetyInduction(Audited, TenantMixin, TimestampMixin, Base):
    """A safety induction (入场安全教育) a person attended, and until when it counts."""

    __tablename__ = "safety_induction"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    held_on: Mapped[date]
    topic: Mapped[str] = mapped_column(String(200))
    trainer: Mapped[str] = mapped_column(String(100), default="")
    hours: Mapped[float] = mapped_column(default=0.0)
    score: Mapped[float | None] = mapped_column(default=None)
    passed: Mapped[bool] = mapped_column(default=True)
    valid_until: Mapped[date]
