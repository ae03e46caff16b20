"""Request and answer shapes of the hazard API (the console's forms go through them too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from plantguard.core.schemas import Id, Input, Storable

Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Storable]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), Storable]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable]
Long = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), Storable]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Storable]
CodeIn = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Storable]
GradeIn = Literal["general", "major"]


class HazardReport(Input):
    title: Title = ""
    description: Description
    area_id: Id | None = None
    equipment_id: Id | None = None
    risk_point_id: Id | None = None
    location: Short = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    category: CodeIn | None = None
    grade: GradeIn | None = None


class SuggestIn(Input):
    text: Annotated[str, StringConstraints(max_length=5000), Storable]


class SuggestedCategory(BaseModel):
    category: str
    p: float


class SuggestOut(BaseModel):
    available: bool
    category: str | None = None
    grade: str | None = None
    confidence: float | None = None  # probability of the category
    grade_confidence: float | None = None
    confident: bool = False  # below the bar the page asks the reporter to choose instead
    top: list[SuggestedCategory] = []


class NoteIn(Input):
    note: Note = ""


class ProgressIn(Input):
    note: Required


class ReasonIn(Input):
    reason: Required


class RegisterIn(Input):
    title: Title = ""
    category: CodeIn | None = None
    note: Note = ""


class AssessIn(Input):
    grade: GradeIn
    basis: list[CodeIn] = Field(default_factory=list, max_length=30)
    basis_text: Long = ""
    treatment: Literal["immediate", "deadline"] = "deadline"
    category: CodeIn | None = None
    deadline_at: datetime | None = None
    note: Note = ""


class PlanIn(Input):
    """The five items of a 重大隐患 (五落实); fields left out are unchanged."""

    responsible_id: Id | None = None
    measures: Long | None = None
    funds: Short | None = None
    plan_deadline_at: datetime | None = None
    emergency_plan: Long | None = None
    note: Note = ""


class DeadlinesIO(Input):
    immediate_hours: int = Field(ge=1, le=24 * 30)
    general_days: int = Field(ge=1, le=365)
    major_days: int = Field(ge=1, le=3650)
    escalate_every_hours: int = Field(ge=1, le=24 * 90)


class HazardPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    title: str
    description: str
    area_id: int
    equipment_id: int | None
    risk_point_id: int | None
    location: str
    lat: float | None
    lon: float | None
    category: str | None
    grade: str | None
    grade_basis: list[str]
    grade_basis_text: str
    source: str
    source_ref: str
    reporter_id: int | None
    reported_at: datetime
    suggested_category: str | None
    suggested_grade: str | None
    suggestion_confidence: float | None
    status: str
    treatment: str
    deadline_at: datetime | None
    overdue: bool = False
    responsible_id: int | None
    measures: str
    funds: str
    plan_deadline_at: datetime | None
    emergency_plan: str
    rectified_by: list[int]
    treatment_started_at: datetime | None
    submitted_at: datetime | None
    accepted_by: int | None
    accepted_at: datetime | None
    closed_by: int | None
    closed_at: datetime | None
    reject_reason: str
    overdue_work_order_id: int | None
    escalation_level: int
    context_id: str
    created_at: datetime
    updated_at: datetime


class HazardEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    at: datetime
    user_id: int | None
    actor_name: str
    note: str
    status_from: str | None
    status_to: str | None
    detail: dict[str, Any]


class HazardAttachmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    original_sha256: str
    stamped: bool
    uploaded_by: int | None
    uploaded_at: datetime


class HazardDetail(HazardPublic):
    history: list[HazardEventPublic]
    attachments: list[HazardAttachmentPublic]
    missing_five_items: list[str]
