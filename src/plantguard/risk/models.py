"""Tables of the risk domain (migration 0010).

- ``risk_method_version``: one immutable row per saved version of an enterprise's assessment
  method (LEC or risk matrix): its value tables and colour bands. The newest version of a
  method is in force; every assessment records the version it used, so an old assessment is
  still explained by the tables it was made with after the tables change (provinces differ,
  and enterprises switch variants).
- ``risk_point``: 风险点/风险单元 — an area, a piece of equipment or a job, always located in an
  area (the four-colour map colours areas). ``current_level`` is derived (see service.py):
  the highest current level of its active hazard sources, or the point's own latest
  assessment when none of its sources has been assessed.
- ``risk_hazard_source``: 危险源 of a point, with its possible consequences (accident types of
  GB 6441) and its current level (from its latest assessment).
- ``risk_control_measure``: 管控措施 of a hazard source, by kind.
- ``risk_assessment``: the append-only assessment history (an ORM guard refuses updates).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin, utcnow
from plantguard.core.i18n import N_
from plantguard.tenancy.models import TenantMixin

POINT_KINDS: dict[str, str] = {
    "area": N_("Place / area"),
    "equipment": N_("Equipment / facility"),
    "job": N_("Job / work activity"),
}
RESPONSIBLE_LEVELS: dict[str, str] = {
    "company": N_("Company"),  # 公司
    "workshop": N_("Workshop"),  # 车间
    "team": N_("Team"),  # 班组
    "post": N_("Post"),  # 岗位
}
MEASURE_KINDS: dict[str, str] = {
    "engineering": N_("Engineering"),
    "management": N_("Management"),
    "training": N_("Training"),
    "ppe": N_("Personal protective equipment"),
    "emergency": N_("Emergency"),
}
METHODS: dict[str, str] = {"lec": N_("LEC (D = L × E × C)"), "ls": N_("Risk matrix (R = L × S)")}


class RiskMethodVersion(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "risk_method_version"
    __table_args__ = (UniqueConstraint("enterprise_id", "method", "version"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    method: Mapped[str] = mapped_column(String(8))  # lec | ls
    version: Mapped[int] = mapped_column(Integer)
    variant: Mapped[str] = mapped_column(String(40), default="")  # e.g. "A", "V1", "custom"
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # tables + bands
    comment: Mapped[str] = mapped_column(String(300), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    author: Mapped[str] = mapped_column(String(80), default="")


class RiskPoint(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "risk_point"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "code"),
        Index("ix_risk_point_ent_level", "enterprise_id", "current_level"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="area")
    description: Mapped[str] = mapped_column(Text, default="")
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), index=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="SET NULL"), index=True,
                                                     default=None)
    job: Mapped[str] = mapped_column(String(200), default="")
    responsible_level: Mapped[str] = mapped_column(String(16), default="workshop")
    responsible_team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"),
                                                            default=None)
    responsible_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"),
                                                              default=None)
    current_level: Mapped[str | None] = mapped_column(String(16), default=None)
    active: Mapped[bool] = mapped_column(default=True)


class HazardSource(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "risk_hazard_source"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    risk_point_id: Mapped[int] = mapped_column(ForeignKey("risk_point.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Accident types (GB 6441 codes, see risk/data/accident_types.yaml).
    consequences: Mapped[list[str]] = mapped_column(JSONType, default=list)
    current_level: Mapped[str | None] = mapped_column(String(16), default=None)
    active: Mapped[bool] = mapped_column(default=True)


class ControlMeasure(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "risk_control_measure"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    hazard_source_id: Mapped[int] = mapped_column(ForeignKey("risk_hazard_source.id", ondelete="CASCADE"),
                                                  index=True)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)


class RiskAssessment(Audited, TenantMixin, Base):
    """One assessment, never changed: re-assessing appends a row."""

    __tablename__ = "risk_assessment"
    __table_args__ = (Index("ix_risk_assessment_point_at", "risk_point_id", "assessed_at"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    risk_point_id: Mapped[int] = mapped_column(ForeignKey("risk_point.id", ondelete="CASCADE"))
    # NULL: an assessment of the point as a whole.
    hazard_source_id: Mapped[int | None] = mapped_column(ForeignKey("risk_hazard_source.id", ondelete="CASCADE"),
                                                         index=True, default=None)
    method: Mapped[str] = mapped_column(String(8))
    method_version_id: Mapped[int] = mapped_column(ForeignKey("risk_method_version.id", ondelete="RESTRICT"),
                                                   index=True)
    method_version: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {"L": 6, "E": 3, "C": 7}
    score: Mapped[float] = mapped_column()
    level: Mapped[str] = mapped_column(String(16))
    band: Mapped[str] = mapped_column(String(40), default="")  # LEC danger band (5 bands) or ""
    note: Mapped[str] = mapped_column(Text, default="")
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    assessor: Mapped[str] = mapped_column(String(80), default="")
    assessed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImmutableRow(RuntimeError):
    pass


@event.listens_for(RiskMethodVersion, "before_update")
def _refuse_method_update(mapper: Any, connection: Any, target: RiskMethodVersion) -> None:
    """A saved method version never changes: edit by saving a new one."""
    raise ImmutableRow(f"risk_method_version {target.id} is immutable")


@event.listens_for(RiskAssessment, "before_update")
def _refuse_assessment_update(mapper: Any, connection: Any, target: RiskAssessment) -> None:
    """The assessment history is append-only."""
    raise ImmutableRow(f"risk_assessment {target.id} is immutable")
