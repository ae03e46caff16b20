"""Tenancy models. Every table but ``enterprise`` carries ``enterprise_id``: the tenant key
that every service query filters on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin


class Enterprise(Audited, TimestampMixin, Base):
    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_demo: Mapped[bool] = mapped_column(default=False)

    def audit_enterprise_id(self) -> int | None:
        return self.id


class TenantMixin:
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"), index=True)


class Site(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("enterprise_id", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    # Size of the site plan in plan units (metres); area polygons use the same frame.
    plan_width: Mapped[float] = mapped_column(default=200.0)
    plan_height: Mapped[float] = mapped_column(default=120.0)


class Area(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "area"
    __table_args__ = (UniqueConstraint("enterprise_id", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40), default="production")
    # Polygon on the site plan: [[x, y], ...] in plan units.
    polygon: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(Text, default="")

    site: Mapped[Site] = relationship()


person_skill = Table(
    "person_skill",
    Base.metadata,
    Column("person_id", ForeignKey("person.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ForeignKey("skill_tag.id", ondelete="CASCADE"), primary_key=True),
)


class SkillTag(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "skill_tag"
    __table_args__ = (UniqueConstraint("enterprise_id", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))


class Team(Audited, TenantMixin, TimestampMixin, Base):
    """班组: the unit that work is routed to."""

    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("enterprise_id", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"))
    shift: Mapped[str] = mapped_column(String(20), default="day")
    leader_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL", use_alter=True, name="fk_team_leader_id_person")
    )
    description: Mapped[str] = mapped_column(Text, default="")


class Person(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("enterprise_id", "employee_no"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    job_title: Mapped[str] = mapped_column(String(100), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # A contractor's worker (相关方人员): the company they work for (contractors/models.py).
    contractor_company_id: Mapped[int | None] = mapped_column(
        ForeignKey("contractor_company.id", ondelete="SET NULL", use_alter=True,
                   name="fk_person_contractor_company_id_contractor_company"), default=None, index=True)

    skills: Mapped[list[SkillTag]] = relationship(secondary=person_skill, lazy="selectin")
    certificates: Mapped[list[Certificate]] = relationship(
        back_populates="person", lazy="selectin", cascade="all, delete-orphan"
    )

    def audit_snapshot(self) -> dict[str, Any]:
        snap = super().audit_snapshot()
        snap["skills"] = sorted(s.code for s in self.skills)
        return snap


class Certificate(Audited, TenantMixin, TimestampMixin, Base):
    """A qualification with an expiry (特种作业操作证, 安全管理人员证, ...)."""

    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(100))
    # The kind's code (TZ-WELD, CS-TRAIN, ...): what the permit rules match a work type against.
    kind_code: Mapped[str] = mapped_column(String(40), default="", index=True)
    number: Mapped[str] = mapped_column(String(100), default="")
    issued_by: Mapped[str] = mapped_column(String(200), default="")
    issued_on: Mapped[date | None] = mapped_column(default=None)
    expires_on: Mapped[date | None] = mapped_column(default=None)

    person: Mapped[Person] = relationship(back_populates="certificates")


class User(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "app_user"
    __audit_exclude__ = frozenset({"failed_logins", "locked_until", "last_login_at"})
    __audit_redact__ = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class AuthSession(TenantMixin, Base):
    """A browser session or an API bearer token; only the token's SHA-256 is stored."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "web" | "api"
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
