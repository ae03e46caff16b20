"""Request and answer shapes of the alarm API (the console's forms go through them too)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from plantguard.core.schemas import Id, Input, Storable

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), Storable]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Storable]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), Storable]
KindText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Storable]
Seconds = Annotated[int | None, Field(default=None, ge=0, le=10_000_000)]
RuleId = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


class NoteIn(Input):
    note: Note = ""


class CommentIn(Input):
    note: Comment


class AlarmPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    kind: str
    severity: str
    initial_severity: str
    status: str
    active: bool
    acknowledged: bool
    title: str
    equipment_id: int | None
    point_id: int | None
    device_id: int | None
    rule_id: int | None
    score: float
    first_active_at: datetime
    last_active_at: datetime
    condition_ended_at: datetime | None
    occurrences: int
    escalation_level: int
    silenced: bool
    acked_by: int | None
    acked_at: datetime | None
    cleared_by: int | None
    cleared_at: datetime | None
    clear_reason: str


class AlarmEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    at: datetime
    user_id: int | None
    actor_name: str
    note: str
    severity_from: str | None
    severity_to: str | None
    detail: dict[str, Any]


class AlarmDetail(AlarmPublic):
    explanation: dict[str, Any]
    history: list[AlarmEventPublic]
    acked_by_name: str = ""
    cleared_by_name: str = ""


SilenceScope = Literal["enterprise", "area", "equipment", "point", "rule"]


class SilenceCreate(Input):
    scope: SilenceScope
    target_id: Annotated[int | None, Field(default=None, ge=1, le=2**31 - 1)] = None
    starts_at: UtcDateTime | None = None  # now when omitted
    ends_at: UtcDateTime
    reason: Reason = ""


class SilencePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: str
    target_id: int | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: int | None
    cancelled_at: datetime | None
    cancelled_by: int | None
    created_at: datetime
    in_force: bool = False


class PolicySettings(Input):
    """Seconds; null inherits from the broader policy, 0 switches the behaviour off."""

    auto_clear_after_s: Seconds = None
    escalate_after_s: Seconds = None
    downgrade_after_s: Seconds = None
    unack_escalate_after_s: Seconds = None
    throttle_s: Seconds = None
    no_data_after_s: Seconds = None
    repeat_no_data_s: Seconds = None


class PolicyOverride(PolicySettings):
    """Exactly one of ``rule_id``, ``equipment_id`` or ``kind`` names what it applies to."""

    rule_id: RuleId | None = None
    equipment_id: Id | None = None
    kind: KindText | None = None


class PoliciesIn(Input):
    default: PolicySettings = Field(default_factory=PolicySettings)
    overrides: Annotated[list[PolicyOverride], Field(default_factory=list, max_length=1000)]


class PoliciesOut(BaseModel):
    default: dict[str, int | None]
    overrides: list[dict[str, Any]]
    built_in: dict[str, int]


class GroupStats(BaseModel):
    key: str
    label: str
    count: int
    total_s: float
    mean_s: float | None


class AnalyticsOut(BaseModel):
    since: datetime
    until: datetime
    count: int
    total_s: float
    mean_s: float | None
    acknowledged: int
    mtta_s: float | None = Field(description="Mean time to acknowledge, of the acknowledged alarms")
    mttc_s: float | None = Field(description="Mean time to clear, of the cleared alarms")
    by_kind: list[GroupStats]
    by_equipment: list[GroupStats]
    by_severity: list[GroupStats]
