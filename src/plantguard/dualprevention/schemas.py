"""The answer of ``GET /api/v1/dual-prevention/kpi``: every rate with the counts behind it,
and ``null`` (never 0) where nothing could be counted. Definitions: docs/dual-prevention-kpi.md."""

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


class GradeOut(BaseModel):
    general: int
    major: int
    ungraded: int = Field(description="not assessed yet")


class CategoryCount(BaseModel):
    category: str | None = Field(description="category code; null = not categorised yet")
    count: int


class AreaCount(BaseModel):
    area_id: int
    area: str
    count: int


class OnTimeOut(BaseModel):
    rate: float | None = Field(description="on_time / rectified; null when rectified = 0")
    on_time: int
    rectified: int = Field(description="hazards accepted (验收通过) in the period")


class ClosureOut(BaseModel):
    rate: float | None = Field(description="closed / counted; null when counted = 0")
    closed: int
    counted: int = Field(description="reported in the period and not rejected")


class RecurrenceOut(BaseModel):
    rate: float | None
    recurring: int
    counted: int = Field(description="reported in the period, not rejected, with a category")
    window_days: int


class HazardsOut(BaseModel):
    reported: int
    rejected: int
    counted: int
    by_status: dict[str, int]
    by_grade: GradeOut
    by_category: list[CategoryCount]
    by_area: list[AreaCount]
    on_time_rectification: OnTimeOut
    closure: ClosureOut
    recurrence: RecurrenceOut
    open_now: int
    overdue_now: int
    major_open_now: int


class CompletionOut(BaseModel):
    rate: float | None = Field(description="done / settled; null when settled = 0")
    done: int
    settled: int = Field(description="done + missed, windows ended in the period")
    missed: int


class InspectionsOut(BaseModel):
    completion: CompletionOut
    unsettled: int = Field(description="window ended, still open (not yet marked missed)")
    failed_items: int


class TrendOut(BaseModel):
    months: list[str]
    reported: list[int]
    closed: list[int]
    overdue: list[int]
    inspections_done: list[int]
    inspections_missed: list[int]


class KpiOut(BaseModel):
    period: PeriodOut
    now: datetime
    hazards: HazardsOut
    inspections: InspectionsOut
    trend: TrendOut
