"""Equipment ledger and measurement points."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, TimestampMixin
from plantguard.tenancy.models import Area, TenantMixin

CRITICALITIES = ("A", "B", "C")
EQUIPMENT_STATUSES = ("in_service", "standby", "maintenance", "retired")


class Equipment(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "equipment"
    __table_args__ = (UniqueConstraint("enterprise_id", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(60))
    model: Mapped[str] = mapped_column(String(100), default="")
    maker: Mapped[str] = mapped_column(String(200), default="")
    install_date: Mapped[date | None] = mapped_column(default=None)
    # A: failure stops the line or endangers people; B: significant; C: minor.
    criticality: Mapped[str] = mapped_column(String(1), default="B")
    status: Mapped[str] = mapped_column(String(20), default="in_service")
    notes: Mapped[str] = mapped_column(Text, default="")

    # selectin: one extra query per page for the few distinct areas, instead of a join that
    # decodes every area's polygon once per equipment row.
    area: Mapped[Area] = relationship(lazy="selectin")


class MeasurementPoint(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "measurement_point"
    __table_args__ = (UniqueConstraint("enterprise_id", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[str] = mapped_column(String(40), default="")
    unit: Mapped[str] = mapped_column(String(20), default="")
    range_low: Mapped[float | None] = mapped_column(default=None)
    range_high: Mapped[float | None] = mapped_column(default=None)
    low_alarm: Mapped[float | None] = mapped_column(default=None)
    low_warning: Mapped[float | None] = mapped_column(default=None)
    high_warning: Mapped[float | None] = mapped_column(default=None)
    high_alarm: Mapped[float | None] = mapped_column(default=None)
    enabled: Mapped[bool] = mapped_column(default=True)

    equipment: Mapped[Equipment] = relationship(lazy="selectin")
