"""Request and answer shapes of the inspection API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from plantguard.core.schemas import Id, Input, Output, Storable

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]
Word = Annotated[str, StringConstraints(strip_whitespace=True, max_length=30), Storable]
ItemText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable]
Token = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), Storable]


class PlanIn(Input):
    name: Name
    frequency: Word
    risk_point_ids: list[Id] = Field(max_length=1000)
    assignee_role: Word | None = None
    team_id: Id | None = None
    active: bool = True
    note: Note = ""


class PlanOut(Output):
    id: int
    name: str
    frequency: str
    assignee_role: str | None
    team_id: int | None
    active: bool
    note: str
    risk_point_ids: list[int] = []
    created_at: datetime
    updated_at: datetime


class ItemIn(Input):
    text: ItemText


class OrderIn(Input):
    order: list[Id] = Field(max_length=500)


class ItemOut(Output):
    id: int
    risk_point_id: int
    position: int
    text: str
    measure_id: int | None
    edited: bool
    removed: bool


class ChecklistOut(Output):
    risk_point_id: int
    items: list[ItemOut]


class CheckinIn(Input):
    token: Token
    lat: float | None = Field(default=None, allow_inf_nan=False)
    lon: float | None = Field(default=None, allow_inf_nan=False)
    accuracy: float | None = Field(default=None, allow_inf_nan=False)
    geo_status: Word = "absent"


class CheckinOut(Output):
    id: int
    task_id: int
    risk_point_id: int
    user_id: int | None
    at: datetime
    token_matched: bool
    geo_status: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None


class ResultIn(Input):
    item_id: Id
    outcome: Word
    note: Note = ""
    photo_id: Id | None = None


class ResultsIn(Input):
    checkin_id: Id
    results: list[ResultIn] = Field(max_length=500)


class ResultOut(Output):
    id: int
    item_id: int | None
    text: str
    outcome: str
    note: str
    photo_id: int | None
    hazard_id: int | None
    user_id: int | None
    at: datetime


class PhotoOut(Output):
    id: int
    task_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class TaskOut(Output):
    id: int
    plan_id: int
    risk_point_id: int
    period: str
    window_start: datetime
    window_end: datetime
    status: str
    assignee_role: str | None
    team_id: int | None
    created_at: datetime
    done_at: datetime | None
    done_by: int | None
    missed_at: datetime | None


class TaskDetail(TaskOut):
    checkins: list[CheckinOut] = []
    results: list[ResultOut] = []
    checklist: list[ItemOut] = []
