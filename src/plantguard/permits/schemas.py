"""Request and answer shapes of the permit API (the console and phone pages use them too).

Type-specific ``fields`` are a free object here on purpose: which names, types and choices are
allowed depends on the permit type (types.yaml), and the service answers each wrong one with
its own field path (``fields.height_m``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from plantguard.core.schemas import (
    Id,
    Input,
    LongText,
    Number,
    ShortText,
    ShortText20,
    ShortText40,
    ShortText100,
    Storable,
)

Content = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), Storable]
Location = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Storable]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), Storable]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable]
FieldText = Annotated[str, StringConstraints(max_length=2000), Storable]
FieldValue = bool | Number | FieldText | list[ShortText40] | None
WorkerRoleIn = Literal["worker", "electrician", "rigger", "signaller", "crane_operator"]
# A drawn signature as the canvas gives it (``data:image/png;base64,...``), at most ~10 MB.
SignaturePng = Annotated[str, StringConstraints(max_length=14_000_000), Storable]


class WorkerIn(Input):
    person_id: Id
    role: WorkerRoleIn = "worker"


class JsaStep(Input):
    step: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), Storable] = ""
    hazards: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), Storable] = ""
    controls: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), Storable] = ""


class PermitUpdate(Input):
    """Changes to a draft: only the keys sent are changed (``workers``/``links`` replace the lists)."""

    grade: ShortText20 | None = None
    content: Content | None = None
    location: Location | None = None
    area_id: Id | None = None
    equipment_id: Id | None = None
    plan_x: Number | None = None
    plan_y: Number | None = None
    applicant_unit: ShortText | None = None
    work_unit: ShortText | None = None
    contractor_company_id: Id | None = None
    work_leader_id: Id | None = None
    guardian_id: Id | None = None
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    fields: dict[ShortText40, FieldValue] | None = Field(default=None, max_length=40)
    risk_identification: LongText | None = None
    jsa: list[JsaStep] | None = Field(default=None, max_length=50)
    other_measures: LongText | None = None
    other_measures_by: ShortText100 | None = None
    gas_code: ShortText40 | None = None
    continuous_monitoring: bool | None = None
    workers: list[WorkerIn] | None = Field(default=None, max_length=50)
    links: list[Id] | None = Field(default=None, max_length=10)


class PermitApply(PermitUpdate):
    """A new application (申请): the type, the window and the content are required."""

    type_code: ShortText40
    content: Content
    area_id: Id
    planned_start: datetime
    planned_end: datetime


class NoteIn(Input):
    note: Note = ""


class ReasonIn(Input):
    reason: Reason


class SuspendIn(Input):
    reason: Literal["break", "guardian", "other"]
    note: Note = ""


class MeasureIn(Input):
    applicable: bool
    note: Note = ""


class GasIn(Input):
    kind: Literal["combustible", "oxygen", "toxic"]
    value: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e6)]
    unit: Literal["%vol", "%LEL", "mg/m3"]
    gas_code: ShortText40 | None = None
    sampled_at: datetime | None = None
    sample_point: ShortText = ""
    analyst_person_id: Id | None = None
    analyst_name: ShortText100 = ""


class SignIn(Input):
    """JSON with the drawn signature as a PNG data URL (what a canvas gives; the phone page
    replays it offline as it is)."""

    step: Literal["work_leader", "guardian", "briefer", "briefee", "shift_leader"]
    comment: Note = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    signature_png: SignaturePng | None = None


class CloseIn(Input):
    comment: Note = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    signature_png: SignaturePng | None = None


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class GradeReason(BaseModel):
    msgid: str
    params: dict[str, Any]
    text: str  # in the caller's language


class PermitPublic(Out):
    id: int
    number: str
    type_code: str
    type_name: str = ""
    grade: str
    grade_name: str = ""
    requested_grade: str
    status: str
    status_label: str = ""
    content: str
    location: str
    area_id: int
    equipment_id: int | None
    plan_x: float | None
    plan_y: float | None
    applicant_user_id: int | None
    applicant_unit: str
    work_unit: str
    contractor_company_id: int | None
    applied_at: datetime
    work_leader_id: int | None
    guardian_id: int | None
    planned_start: datetime
    planned_end: datetime
    started_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    approved_at: datetime | None
    suspended_at: datetime | None
    suspend_reason: str | None
    cancel_reason: str
    gas_code: str | None
    continuous_monitoring: bool
    content_sha256: str


class WorkerOut(Out):
    person_id: int
    name: str = ""
    role: str
    certificate_id: int | None
    certificate_no: str


class MeasureOut(Out):
    code: str
    text: str
    applicable: bool | None
    confirmed_by_person_id: int | None
    confirmed_by_user_id: int | None
    confirmed_by_name: str
    confirmed_at: datetime | None


class SignatureOut(Out):
    id: int
    step: str
    decision: str
    user_id: int | None
    person_id: int | None
    name: str
    at: datetime
    comment: str
    image_sha256: str
    lat: float | None
    lon: float | None


class AnalysisOut(Out):
    id: int
    sampled_at: datetime
    sample_point: str
    kind: str
    gas_code: str
    value: float
    unit: str
    vol_pct: float | None
    limit_text: str
    passed: bool
    analyst_person_id: int | None
    analyst_name: str
    source: str
    point_id: int | None
    recorded_at: datetime


class LinkOut(Out):
    id: int
    number: str
    type_code: str
    status: str
    planned_start: datetime
    planned_end: datetime


class EventOut(Out):
    id: int
    kind: str
    kind_label: str = ""
    at: datetime
    user_id: int | None
    actor_name: str
    note: str
    status_from: str | None
    status_to: str | None
    detail: dict[str, Any]


class PermitDetail(PermitPublic):
    fields: dict[str, Any]
    grade_reasons: list[GradeReason]
    risk_identification: str
    jsa: list[Any]
    other_measures: str
    other_measures_by: str
    suspend_note: str
    workers: list[WorkerOut]
    measures: list[MeasureOut]
    signatures: list[SignatureOut]
    analyses: list[AnalysisOut]
    links: list[LinkOut]
    history: list[EventOut]
    conflicts: list[dict[str, Any]]
