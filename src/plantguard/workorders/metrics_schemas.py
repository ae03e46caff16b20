"""The answer of ``GET /api/v1/workorder-metrics``: every rate with the counts behind it, and
``null`` (never 0) where nothing could be counted."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="first plant-local day (inclusive)")
    to: str = Field(description="last plant-local day (inclusive)")
    days: int
    start: datetime
    end: datetime
    timezone: str
    team_id: int | None


class DurationOut(BaseModel):
    mean_seconds: int | None = Field(description="null when n = 0")
    n: int


class OnTimeOut(BaseModel):
    rate: float | None
    on_time: int
    closed: int


class ClosureOut(BaseModel):
    rate: float | None = Field(description="closed / counted; null when counted = 0")
    closed: int
    created: int
    cancelled: int
    counted: int = Field(description="created - cancelled")
    target: float
    passed: bool | None


class BacklogOut(BaseModel):
    team_id: int | None
    team: str
    total: int
    by_status: dict[str, int]


class OverdueItemOut(BaseModel):
    id: int
    number: str
    title: str
    priority: str
    status: str
    team_id: int | None
    due_at: datetime
    overdue_seconds: int


class OverdueOut(BaseModel):
    total: int
    items: list[OverdueItemOut]


class MetricsOut(BaseModel):
    period: PeriodOut
    now: datetime
    mtta: DurationOut
    mttr: DurationOut
    on_time_closure: OnTimeOut
    closure: ClosureOut
    backlog: list[BacklogOut]
    overdue: OverdueOut
