"""The ``detection_rule`` table: which detectors watch which point or equipment.

The condition and per-point overrides are JSON validated on save against the detectors' own
parameter models (``detection/rules/spec.py``); the rule is audited like any record, so a
changed threshold shows in the change ledger. A rule belongs to one point or one equipment;
deleting that point or equipment deletes its rules (a rule about nothing cannot run).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin
from plantguard.tenancy.models import TenantMixin


class DetectionRule(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "detection_rule"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "name"),
        CheckConstraint("(point_id IS NULL) <> (equipment_id IS NULL)", name="one_scope"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    point_id: Mapped[int | None] = mapped_column(
        ForeignKey("measurement_point.id", ondelete="CASCADE"), index=True, default=None)
    equipment_id: Mapped[int | None] = mapped_column(
        ForeignKey("equipment.id", ondelete="CASCADE"), index=True, default=None)
    condition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
