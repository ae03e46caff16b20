"""Request and answer shapes of the work-order API (the console's forms go through them too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from plantguard.core.schemas import Id, Input, Storable

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable]
Description = Annotated[str, StringConstraints(max_length=5000), Storable]
SkillCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Storable]
PriorityIn = Literal["p1", "p2", "p3", "p4"]
# 4 MB of base64 is ~3 MB of PNG: far more than a drawn signature needs.
SignatureIn = Annotated[str, StringConstraints(min_length=1, max_length=4_000_000), Storable]


class WorkOrderCreate(Input):
    title: Title
    description: Description = ""
    source: Literal["manual", "hazard", "inspection"] = "manual"
    priority: PriorityIn = "p3"
    equipment_id: Id | None = None
    area_id: Id | None = None
    team_id: Id | None = None
    assignee_id: Id | None = None
    skills: list[SkillCode] = Field(default_factory=list, max_length=20)


class DispatchIn(Input):
    team_id: Id | None = None
    assignee_id: Id | None = None
    note: Note = ""


class NoteIn(Input):
    note: Note = ""


class ProgressIn(Input):
    note: Required


class ReasonIn(Input):
    reason: Required


class CloseIn(Input):
    signature: SignatureIn
    note: Note = ""


class SlaRow(Input):
    priority: PriorityIn
    ack_minutes: int = Field(ge=1, le=100_000)
    resolve_minutes: int = Field(ge=1, le=1_000_000)


class SlaIn(Input):
    items: list[SlaRow] = Field(min_length=1, max_length=4)


class SlaOut(BaseModel):
    items: list[dict[str, Any]]


class WorkOrderPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    title: str
    description: str
    source: str
    alarm_id: int | None
    equipment_id: int | None
    area_id: int | None
    priority: str
    status: str
    team_id: int | None
    assignee_id: int | None
    skills: list[str]
    routed_rule: str
    routed_version: int | None
    context_id: str
    ack_due_at: datetime | None
    due_at: datetime | None
    escalation_level: int
    dispatched_at: datetime | None
    started_at: datetime | None
    submitted_at: datetime | None
    accepted_by: int | None
    accepted_at: datetime | None
    signature_sha256: str
    closed_at: datetime | None
    cancel_reason: str
    created_at: datetime
    updated_at: datetime


class WorkOrderEventPublic(BaseModel):
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


class AttachmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: int | None
    uploaded_at: datetime


class WorkOrderDetail(WorkOrderPublic):
    history: list[WorkOrderEventPublic]
    alarm_ids: list[int]
    attachments: list[AttachmentPublic]
