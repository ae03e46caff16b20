"""API shapes. Channel secrets are write-only: answers say whether one is set, never what."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plantguard.core.schemas import Id, Input, Text

ChannelKind = Literal["email", "wecom", "dingtalk", "feishu"]
PersonalKind = Literal["inapp", "email"]


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_type: str
    channel_kind: str
    title: str
    body: str
    link: str
    level: str
    urgent: bool
    status: str
    created_at: datetime
    read_at: datetime | None


class FeedOut(BaseModel):
    items: list[NotificationPublic]
    total: int
    unread: int


class PreferencesIn(Input):
    timezone: Text = Field("Asia/Shanghai", max_length=60)
    quiet_start: Text | None = Field(None, max_length=5, description="HH:MM local time, e.g. 22:00")
    quiet_end: Text | None = Field(None, max_length=5, description="HH:MM local time, e.g. 07:00")
    muted: dict[Annotated[Text, Field(max_length=60)], list[PersonalKind]] = Field(default_factory=dict,
                                                  description="event type (or *) → channels switched off")


class PreferencesOut(PreferencesIn):
    event_types: list[str] = Field(default_factory=list)


class ChannelIn(Input):
    kind: ChannelKind
    name: Text = Field(min_length=1, max_length=100)
    enabled: bool = True
    url: Text | None = Field(None, max_length=500)
    host: Text | None = Field(None, max_length=200)
    port: int | None = Field(None, ge=1, le=65535)
    username: Text | None = Field(None, max_length=200)
    sender: Text | None = Field(None, max_length=200)
    security: Literal["starttls", "ssl", "none"] | None = None
    at_mobiles: list[Annotated[Text, Field(max_length=20)]] = Field(default_factory=list, max_length=20)
    locale: Literal["zh_CN", "en"] | None = None
    secret: Text | None = Field(None, max_length=500, description="omit to keep the stored one")


class ChannelPublic(BaseModel):
    id: int
    kind: str
    name: str
    enabled: bool
    config: dict[str, Any]
    secret: str  # "" or a mask


class RuleIn(Input):
    name: Text = Field("", max_length=100)
    event: Text = Field(min_length=1, max_length=60)
    min_severity: Literal["warning", "minor", "major", "critical"] | None = None
    roles: list[Annotated[Text, Field(max_length=30)]] = Field(default_factory=list, max_length=10)
    team_leader: bool = False
    team_members: bool = False
    assignee: bool = False
    escalation_targets: bool = False
    permit_people: bool = Field(False, description="a permit's work leader and guardian")
    applicant: bool = Field(False, description="a permit's applicant")
    user_ids: list[Id] = Field(default_factory=list, max_length=100)
    all_group_channels: bool = False
    channels: list[PersonalKind] = Field(default_factory=list)
    group_channel_ids: list[Id] = Field(default_factory=list, max_length=20)
    enabled: bool = True


class RulesIn(Input):
    rules: list[RuleIn] = Field(max_length=200)


class RulesOut(BaseModel):
    rules: list[RuleIn]
    defaults: bool


class DeadLetterPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_type: str
    channel_kind: str
    channel_id: int | None
    user_id: int | None
    title: str
    attempts: int
    last_error: str
    created_at: datetime
    dead_at: datetime | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterPublic]
    total: int
