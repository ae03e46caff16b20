"""Request and answer shapes of the risk-register API (the console's forms go through them too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from plantguard.core.schemas import Code, Id, Input, LongText, Name, Output, ShortText, Storable

PointKind = Literal["area", "equipment", "job"]
ResponsibleLevel = Literal["company", "workshop", "team", "post"]
MeasureKind = Literal["engineering", "management", "training", "ppe", "emergency"]
Method = Literal["lec", "ls"]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), Storable]
AccidentCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Storable]
FactorName = Annotated[str, StringConstraints(min_length=1, max_length=8), Storable]
FactorValue = Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Storable]


class PointCreate(Input):
    code: Code
    name: Name
    kind: PointKind = "area"
    description: LongText = ""
    area_id: Id
    equipment_id: Id | None = None
    job: ShortText = ""
    responsible_level: ResponsibleLevel = "workshop"
    responsible_team_id: Id | None = None
    responsible_person_id: Id | None = None


class PointUpdate(Input):
    code: Code | None = None
    name: Name | None = None
    kind: PointKind | None = None
    description: LongText | None = None
    area_id: Id | None = None
    equipment_id: Id | None = None
    job: ShortText | None = None
    responsible_level: ResponsibleLevel | None = None
    responsible_team_id: Id | None = None
    responsible_person_id: Id | None = None
    active: bool | None = None


NULLABLE_POINT = frozenset({"equipment_id", "responsible_team_id", "responsible_person_id"})


class PointPublic(Output):
    id: int
    code: str
    name: str
    kind: str
    description: str
    area_id: int
    equipment_id: int | None
    job: str
    responsible_level: str
    responsible_team_id: int | None
    responsible_person_id: int | None
    current_level: str | None
    active: bool
    updated_at: datetime


class SourceCreate(Input):
    name: Name
    description: LongText = ""
    consequences: list[AccidentCode] = Field(default_factory=list, max_length=20)


class SourceUpdate(Input):
    name: Name | None = None
    description: LongText | None = None
    consequences: list[AccidentCode] | None = Field(default=None, max_length=20)
    active: bool | None = None


class MeasurePublic(Output):
    id: int
    hazard_source_id: int
    kind: str
    description: str
    active: bool


class SourcePublic(Output):
    id: int
    risk_point_id: int
    name: str
    description: str
    consequences: list[str]
    current_level: str | None
    active: bool


class SourceDetail(SourcePublic):
    measures: list[MeasurePublic] = Field(default_factory=list)


class MeasureCreate(Input):
    kind: MeasureKind
    description: Required


class MeasureUpdate(Input):
    kind: MeasureKind | None = None
    description: Required | None = None
    active: bool | None = None


class AssessmentIn(Input):
    method: Method
    hazard_source_id: Id | None = None
    values: dict[FactorName, FactorValue] = Field(max_length=5)
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable] = ""


class AssessmentPublic(Output):
    id: int
    risk_point_id: int
    hazard_source_id: int | None
    method: str
    method_version: int
    inputs: dict[str, float]
    score: float
    level: str
    band: str
    note: str
    assessor: str
    assessed_at: datetime


class PointDetail(PointPublic):
    hazard_sources: list[SourceDetail]
    assessments: list[AssessmentPublic]


class MethodIn(Input):
    variant: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
                       Storable] | None = None
    spec: dict[str, Any] | None = None
    comment: Comment = ""


class MethodPublic(Output):
    id: int
    method: str
    version: int
    variant: str
    spec: dict[str, Any]
    comment: str
    author: str
    created_at: datetime


class MethodsOut(Input):
    lec: MethodPublic
    ls: MethodPublic
    variants: dict[str, dict[str, str]]
