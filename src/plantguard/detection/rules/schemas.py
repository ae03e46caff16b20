"""Detection rule schemas: Create, Update, Public, and what validation and backtests answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from plantguard.core.schemas import Id, Input, LongText, Name, Output
from plantguard.detection.signals import Severity


class RuleCreate(Input):
    name: Name
    description: LongText = ""
    enabled: bool = True
    severity: Severity = Severity.WARNING
    point_id: Id | None = Field(None, description="The one measurement point the rule watches (or equipment_id)")
    equipment_id: Id | None = Field(None, description="The equipment whose points the rule watches (or point_id)")
    condition: dict[str, Any] = Field(description="A detector leaf or a combination {any: [...]} / {all: [...]}")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Per-point overrides by point code")


class RuleUpdate(Input):
    name: Name | None = None
    description: LongText | None = None
    enabled: bool | None = None
    severity: Severity | None = None
    point_id: Id | None = None
    equipment_id: Id | None = None
    condition: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None


class ScopeRef(Output):
    id: int
    code: str
    name: str


class RulePublic(Output):
    id: int
    name: str
    description: str
    enabled: bool
    severity: Severity
    point_id: int | None
    equipment_id: int | None
    condition: dict[str, Any]
    overrides: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class LeafSummary(BaseModel):
    path: str
    detector: str
    points: list[str]
    vector: bool
    threshold: float
    duration_s: float


class ValidateOut(BaseModel):
    valid: bool
    leaves: list[LeafSummary]


class AlarmSpan(BaseModel):
    start: datetime
    end: datetime | None  # None: still active at the end of the range
    max_score: float
    explanation: dict[str, Any]


class SeriesOut(BaseModel):
    code: str
    unit: str
    ts: list[int]  # ms since the epoch, for charts
    value: list[float]


class BacktestOut(BaseModel):
    rule_id: int
    start: datetime
    end: datetime
    readings: int
    truncated: bool
    alarms: list[AlarmSpan]
    signals: list[dict[str, Any]]
    series: list[SeriesOut]
