"""Schemas for people, teams, sites, areas, skills and accounts."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator
from pydantic.networks import validate_email

from plantguard.core.schemas import (
    Code,
    Code80,
    Id,
    Input,
    LongText,
    Name100,
    Output,
    ShortText,
    ShortText40,
    ShortText100,
    Storable,
)

Shift = Literal["day", "A", "B", "C", "D"]


def _email_or_blank(value: str) -> str:
    return validate_email(value)[1] if value else ""


# An e-mail address or "" (none). One type rather than ``EmailStr | Literal[""]``, so that a bad
# address is one error, not one per union branch. 200 characters is the column's length (the
# e-mail syntax alone allows 254).
EmailOrBlank = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200),
    Storable,
    AfterValidator(_email_or_blank),
    Field(description="An e-mail address, or empty for none"),
]


# A certificate kind code (TZ-WELD ...) or "": what the permit rules match. Part of the input so
# that writing a person's certificate list back (the console does) keeps the codes.
KindCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40,
                                            pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$"), Storable]


class CertificateIn(Input):
    kind: Name100
    kind_code: KindCode = ""
    number: ShortText100 = ""
    issued_by: ShortText = ""
    issued_on: date | None = None
    expires_on: date | None = None


class CertificatePublic(Output):
    id: int
    kind: str
    kind_code: str = ""
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
    name: Name100


class SkillUpdate(Input):
    code: Code | None = None
    name: Name100 | None = None


class PersonCreate(Input):
    employee_no: Code
    name: Name100
    phone: ShortText40 = ""
    email: EmailOrBlank = ""
    job_title: ShortText100 = ""
    team_id: Id | None = None
    active: bool = True
    skills: list[Code] = Field(default_factory=list, max_length=50)
    certificates: list[CertificateIn] = Field(default_factory=list, max_length=50)


class PersonUpdate(Input):
    employee_no: Code | None = None
    name: Name100 | None = None
    phone: ShortText40 | None = None
    email: EmailOrBlank | None = None
    job_title: ShortText100 | None = None
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
    name: Name100
    area_id: Id | None = None
    shift: Shift = "day"
    leader_id: Id | None = None
    description: LongText = ""


class TeamUpdate(Input):
    code: Code | None = None
    name: Name100 | None = None
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
    username: Code80
    password: str = Field(min_length=10, max_length=200)
    role: Literal["admin", "safety_manager", "team_leader", "worker", "contractor", "auditor"]
    display_name: ShortText100 = ""
    person_id: Id | None = None

    @field_validator("password")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("blank password")
        return v
