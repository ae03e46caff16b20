"""Schemas for people, teams, sites, areas, skills and accounts."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import EmailStr, Field, field_validator

from plantguard.core.schemas import Code, Id, Input, LongText, Name, Output, ShortText

Shift = Literal["day", "A", "B", "C", "D"]


class CertificateIn(Input):
    kind: Name = Field(max_length=100)
    number: ShortText = Field(default="", max_length=100)
    issued_by: ShortText = ""
    issued_on: date | None = None
    expires_on: date | None = None


class CertificatePublic(Output):
    id: int
    kind: str
    number: str
    issued_by: str
    issued_on: date | None
    expires_on: date | None


class SkillPublic(Output):
    id: int
    code: str
    name: str


class SkillCreate(Input):
    code: Code
    name: Name = Field(max_length=100)


class SkillUpdate(Input):
    code: Code | None = None
    name: Name | None = Field(default=None, max_length=100)


class PersonCreate(Input):
    employee_no: Code
    name: Name = Field(max_length=100)
    phone: ShortText = Field(default="", max_length=40)
    email: EmailStr | Literal[""] = ""
    job_title: ShortText = Field(default="", max_length=100)
    team_id: Id | None = None
    active: bool = True
    skills: list[Code] = Field(default_factory=list, max_length=50)
    certificates: list[CertificateIn] = Field(default_factory=list, max_length=50)


class PersonUpdate(Input):
    employee_no: Code | None = None
    name: Name | None = Field(default=None, max_length=100)
    phone: ShortText | None = Field(default=None, max_length=40)
    email: EmailStr | Literal[""] | None = None
    job_title: ShortText | None = Field(default=None, max_length=100)
    team_id: Id | None = None
    active: bool | None = None
    skills: list[Code] | None = Field(default=None, max_length=50)
    certificates: list[CertificateIn] | None = Field(default=None, max_length=50)


class TeamRef(Output):
    id: int
    code: str
    name: str


class PersonPublic(Output):
    id: int
    employee_no: str
    name: str
    phone: str
    email: str
    job_title: str
    team_id: int | None
    active: bool
    skills: list[SkillPublic]
    certificates: list[CertificatePublic]


class TeamCreate(Input):
    code: Code
    name: Name = Field(max_length=100)
    area_id: Id | None = None
    shift: Shift = "day"
    leader_id: Id | None = None
    description: LongText = ""


class TeamUpdate(Input):
    code: Code | None = None
    name: Name | None = Field(default=None, max_length=100)
    area_id: Id | None = None
    shift: Shift | None = None
    leader_id: Id | None = None
    description: LongText | None = None


class TeamPublic(Output):
    id: int
    code: str
    name: str
    area_id: int | None
    shift: str
    leader_id: int | None
    description: str
    member_count: int = 0


class SitePublic(Output):
    id: int
    code: str
    name: str
    address: str
    plan_width: float
    plan_height: float


class AreaPublic(Output):
    id: int
    site_id: int
    code: str
    name: str
    kind: str
    polygon: list[Any]
    description: str


class UserPublic(Output):
    id: int
    username: str
    display_name: str
    role: str
    person_id: int | None
    active: bool
    locale: str
    enterprise_id: int


class TokenOut(Output):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserCreate(Input):
    username: Code = Field(max_length=80)
    password: str = Field(min_length=10, max_length=200)
    role: Literal["admin", "safety_manager", "team_leader", "worker", "contractor", "auditor"]
    display_name: ShortText = Field(default="", max_length=100)
    person_id: Id | None = None

    @field_validator("password")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("blank password")
        return v
