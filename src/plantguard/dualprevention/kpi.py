"""Dual-prevention KPIs (双重预防指标): hazards by grade, category, area and status, on-time
rectification, closure, recurrence, inspection completion and 12-month trends.

Conventions of ``workorders/metrics.py``: the period is plant-local days ``[from 00:00,
to+1 00:00)`` in ``PLANTGUARD_PLANT_TZ`` (default the last 30 days); the lifecycle stamps
(``reported_at``, ``accepted_at``, ``closed_at``, ``deadline_at``, a task's ``window_end``)
are used, never row insert times; every figure is aggregated in SQL (conditional sums in one
row, ``GROUP BY`` for breakdowns; a month trend is one row of twelve conditional sums per
series, because month boundaries in a named zone are not portable SQL); every rate carries
the counts it comes from and is ``None`` ("no data yet") when there is nothing to count.

Definitions (docs/dual-prevention-kpi.md), for the period ``P``:

- **reported**: hazards with ``reported_at`` in ``P`` (all sources). ``by_status`` counts them
  all; ``by_grade``/``by_category``/``by_area`` leave out the ``rejected`` ones (declined as not
  a hazard or a duplicate), which are no hazards;
- **on-time rectification**: of the hazards accepted (验收通过) in ``P``, those with
  ``accepted_at <= deadline_at`` (no deadline counts as on time, as in work orders);
- **closure rate**: of the hazards reported in ``P`` and not rejected, those closed out (销号)
  by the end of ``P``;
- **recurrence**: of the hazards reported in ``P``, not rejected and with a category, those
  for which an *earlier* hazard of the same area and category had been closed out at most
  ``recurrence_days`` (default 90) before this one was reported;
- **inspection completion**: of the tasks whose window ended in ``P``
  (``start < window_end <= end``), done ÷ (done + missed); tasks still ``open`` after their
  window (not yet marked missed) are counted apart;
- **trends**: the 12 plant-local calendar months ending with the month of ``P``'s last day:
  hazards reported, closed out, and gone overdue (deadline in the month and passed, and not
  accepted by it), inspection tasks done and missed (window ended in the month);
- **open** and **overdue now** are the state now, not of the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from itertools import pairwise
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from plantguard.core.db import UTCDateTime, utcnow
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.hazards.contract import OPEN_HAZARD_STATUSES, HazardGrade
from plantguard.hazards.contract import HazardStatus as S
from plantguard.hazards.models import STATUS_LABELS, Hazard
from plantguard.inspections.models import InspectionResult, InspectionTask
from plantguard.tenancy.models import Area
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.workorders.metrics import Period, Rate, period

DEFAULT_RECURRENCE_DAYS: Final = 90
MAX_RECURRENCE_DAYS: Final = 730
TREND_MONTHS: Final = 12
# Deadlines run until the rectification is handed over (hazards/service.py OVERDUE_STATUSES).
DEADLINE_STATUSES: Final = (S.ASSESSED.value, S.IN_TREATMENT.value)


@dataclass(frozen=True)
class Month:
    label: str  # 2026-10
    start: datetime  # UTC, plant-local midnight of the 1st
    end: datetime  # UTC, exclusive


@dataclass
class HazardKpi:
    reported: int
    rejected: int
    by_status: dict[str, int]
    by_grade: dict[str, int]  # general, major, "" = not graded yet
    by_category: list[tuple[str, int]]  # "" = no category yet; largest first
    by_area: list[tuple[int, str, int]]  # (area id, name, count); largest first
    on_time: Rate  # accepted on or before the deadline / accepted in the period
    closure: Rate  # closed out by the period's end / reported in the period and not rejected
    recurrence: Rate  # recurring / reported in the period, not rejected, with a category
    recurrence_days: int
    open_now: int
    overdue_now: int
    major_open_now: int


@dataclass
class InspectionKpi:
    completion: Rate  # done / (done + missed), windows ended in the period
    done: int
    missed: int
    unsettled: int  # still open after the window ended (the tick has not marked it yet)
    failed_items: int  # "not OK" results recorded in the period


@dataclass
class Trend:
    months: list[str]
    series: dict[str, list[int]]  # reported, closed, overdue, inspections_done, inspections_missed


@dataclass
class Kpi:
    period: Period
    now: datetime
    hazards: HazardKpi
    inspections: InspectionKpi
    trend: Trend = field(default_factory=lambda: Trend([], {}))

    @property
    def empty(self) -> bool:
        """Nothing reported, nothing to inspect, nothing open: the page says what will appear."""
        h, i = self.hazards, self.inspections
        return not (h.reported or h.on_time.denominator or h.open_now or i.done or i.missed or i.unsettled
                    or any(any(v) for v in self.trend.series.values()))


# -- SQL helpers (as in workorders/metrics.py) ---------------------------------------------


def _at(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime())


def _count(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _in(col: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(col.is_not(None), col >= _at(start), col < _at(end))


def _month_shift(first: date, k: int) -> date:
    y, m = divmod(first.year * 12 + first.month - 1 + k, 12)
    return date(y, m + 1, 1)


def months(last_day: date, n: int = TREND_MONTHS) -> list[Month]:
    """The ``n`` plant-local calendar months ending with the month of ``last_day``."""
    tz = plant_tz()
    first = date(last_day.year, last_day.month, 1)
    bounds = [_month_shift(first, k) for k in range(1 - n, 2)]

    def utc(d: date) -> datetime:
        return datetime.combine(d, time.min, tz).astimezone(UTC)

    return [Month(f"{a:%Y-%m}", utc(a), utc(b)) for a, b in pairwise(bounds)]


# -- the period and its parameters ----------------------------------------------------------


def recurrence_window(raw: str | int | None) -> int:
    """``recurrence_days``: whole days, 1 … :data:`MAX_RECURRENCE_DAYS` (default 90)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_RECURRENCE_DAYS
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 6 or not 1 <= int(text) <= MAX_RECURRENCE_DAYS:
        raise ValidationFailed([FieldError("recurrence_days", N_("Must be a whole number from %(min)s to %(max)s"),
                                           {"min": 1, "max": MAX_RECURRENCE_DAYS})])
    return int(text)


# -- hazards ---------------------------------------------------------------------------------


def hazard_kpi(session: Session, actor: Actor, p: Period, recurrence_days: int = DEFAULT_RECURRENCE_DAYS,
               now: datetime | None = None) -> HazardKpi:
    """Hazard figures of ``p`` (``hazards.manage``: the people who run the loop)."""
    actor.require(Perm.MANAGE_HAZARDS)
    now = now or utcnow()
    ent = actor.enterprise_id
    h = Hazard
    reported_in = _in(h.reported_at, p.start, p.end)
    counted = and_(reported_in, h.status != S.REJECTED)
    accepted_in = _in(h.accepted_at, p.start, p.end)
    earlier = aliased(Hazard)
    gap = _seconds(session, h.reported_at, earlier.closed_at)
    recurs = (select(earlier.id).where(
        earlier.enterprise_id == ent, earlier.id != h.id, earlier.area_id == h.area_id,
        earlier.category == h.category, earlier.status == S.CLOSED, earlier.closed_at.is_not(None),
        earlier.closed_at <= h.reported_at, gap <= recurrence_days * 86400.0).exists())
    with_category = and_(counted, h.category.is_not(None))
    deadline_passed = and_(h.status.in_(DEADLINE_STATUSES), h.deadline_at.is_not(None), h.deadline_at < _at(now))
    row = session.execute(select(
        _count(reported_in), _count(and_(reported_in, h.status == S.REJECTED)),
        _count(accepted_in), _count(and_(accepted_in, or_(h.deadline_at.is_(None), h.accepted_at <= h.deadline_at))),
        _count(and_(counted, h.status == S.CLOSED, h.closed_at.is_not(None), h.closed_at < _at(p.end))),
        _count(with_category), _count(and_(with_category, recurs)),
        _count(h.status.in_(sorted(OPEN_HAZARD_STATUSES))), _count(deadline_passed),
        _count(and_(h.status.in_(sorted(OPEN_HAZARD_STATUSES)), h.grade == HazardGrade.MAJOR)),
    ).where(h.enterprise_id == ent)).one()
    (reported, rejected, accepted, on_time, closed, cat_n, recurring, open_now, overdue_now, major_open) = (
        int(v) for v in row)
    by_status = {s: 0 for s in STATUS_LABELS}
    for status, n in session.execute(select(h.status, func.count()).where(h.enterprise_id == ent, reported_in)
                                     .group_by(h.status)):
        by_status[str(status)] = int(n)
    by_grade = {g.value: 0 for g in HazardGrade} | {"": 0}
    for grade, n in session.execute(select(h.grade, func.count()).where(h.enterprise_id == ent, counted)
                                    .group_by(h.grade)):
        by_grade[grade or ""] = by_grade.get(grade or "", 0) + int(n)
    cats = session.execute(select(h.category, func.count()).where(h.enterprise_id == ent, counted)
                           .group_by(h.category)).all()
    by_category = sorted(((c or "", int(n)) for c, n in cats), key=lambda cn: (-cn[1], cn[0] == "", cn[0]))
    areas = session.execute(select(h.area_id, Area.name, func.count())
                            .join(Area, and_(Area.id == h.area_id, Area.enterprise_id == ent))
                            .where(h.enterprise_id == ent, counted).group_by(h.area_id, Area.name)).all()
    by_area = sorted(((int(a), str(name), int(n)) for a, name, n in areas), key=lambda x: (-x[2], x[1]))
    return HazardKpi(reported=reported, rejected=rejected, by_status=by_status, by_grade=by_grade,
                     by_category=by_category, by_area=by_area, on_time=Rate(on_time, accepted),
                     closure=Rate(closed, reported - rejected), recurrence=Rate(recurring, cat_n),
                     recurrence_days=recurrence_days, open_now=open_now, overdue_now=overdue_now,
                     major_open_now=major_open)


# -- inspections -----------------------------------------------------------------------------


def inspection_kpi(session: Session, actor: Actor, p: Period, now: datetime | None = None) -> InspectionKpi:
    """Inspection completion of ``p`` (``inspections.manage``)."""
    actor.require(Perm.MANAGE_INSPECTIONS)
    now = now or utcnow()
    t = InspectionTask
    ended_in = and_(t.window_end > _at(p.start), t.window_end <= _at(min(p.end, now)))
    done, missed, unsettled = (int(v) for v in session.execute(select(
        _count(and_(ended_in, t.status == "done")), _count(and_(ended_in, t.status == "missed")),
        _count(and_(ended_in, t.status == "open"))).where(t.enterprise_id == actor.enterprise_id)).one())
    failed = int(session.scalar(select(func.count()).select_from(InspectionResult).where(
        InspectionResult.enterprise_id == actor.enterprise_id, InspectionResult.outcome == "not_ok",
        _in(InspectionResult.at, p.start, p.end))) or 0)
    return InspectionKpi(Rate(done, done + missed), done, missed, unsettled, failed)


# -- trends ----------------------------------------------------------------------------------


def trend(session: Session, actor: Actor, p: Period, now: datetime | None = None) -> Trend:
    actor.require(Perm.MANAGE_HAZARDS)
    actor.require(Perm.MANAGE_INSPECTIONS)
    now = now or utcnow()
    ms = months(p.last_day)
    h, t = Hazard, InspectionTask
    went_overdue = [and_(_in(h.deadline_at, m.start, m.end), h.deadline_at < _at(now), h.status != S.REJECTED,
                         or_(h.accepted_at.is_(None), h.accepted_at > h.deadline_at)) for m in ms]
    hz = session.execute(select(
        *[_count(_in(h.reported_at, m.start, m.end)) for m in ms],
        *[_count(and_(h.status == S.CLOSED, _in(h.closed_at, m.start, m.end))) for m in ms],
        *[_count(c) for c in went_overdue]).where(h.enterprise_id == actor.enterprise_id)).one()
    ins = session.execute(select(
        *[_count(and_(t.status == "done", t.window_end > _at(m.start), t.window_end <= _at(m.end))) for m in ms],
        *[_count(and_(t.status == "missed", t.window_end > _at(m.start), t.window_end <= _at(m.end))) for m in ms],
    ).where(t.enterprise_id == actor.enterprise_id)).one()
    n = len(ms)
    values = [int(v) for v in hz]
    done_missed = [int(v) for v in ins]
    return Trend([m.label for m in ms], {
        "reported": values[:n], "closed": values[n:2 * n], "overdue": values[2 * n:],
        "inspections_done": done_missed[:n], "inspections_missed": done_missed[n:]})


# -- everything ------------------------------------------------------------------------------


def kpi(session: Session, actor: Actor, first: str | None = None, last: str | None = None,
        recurrence_days: str | int | None = None, now: datetime | None = None) -> Kpi:
    """All figures for the period ``from``/``to`` (errors name ``from``, ``to``,
    ``recurrence_days``) in the caller's enterprise."""
    actor.require(Perm.MANAGE_HAZARDS)
    actor.require(Perm.MANAGE_INSPECTIONS)
    errors: list[FieldError] = []
    days = DEFAULT_RECURRENCE_DAYS
    try:
        days = recurrence_window(recurrence_days)
    except ValidationFailed as exc:
        errors += exc.errors
    try:
        p = period(session, actor, first, last, None, now)
    except ValidationFailed as exc:
        errors = exc.errors + errors
    if errors:
        raise ValidationFailed(errors)
    now = now or utcnow()
    return Kpi(period=p, now=now, hazards=hazard_kpi(session, actor, p, days, now),
               inspections=inspection_kpi(session, actor, p, now), trend=trend(session, actor, p, now))


def _rate(r: Rate, num: str, den: str) -> dict[str, Any]:
    return {"rate": r.value, num: r.numerator, den: r.denominator}


def as_dict(k: Kpi) -> dict[str, Any]:
    """The API's answer: every rate with its counts; ``null`` where there is nothing to count."""
    p, h, i = k.period, k.hazards, k.inspections
    return {
        "period": {"from": p.first_day.isoformat(), "to": p.last_day.isoformat(), "days": p.days,
                   "start": p.start, "end": p.end, "timezone": str(plant_tz())},
        "now": k.now,
        "hazards": {
            "reported": h.reported, "rejected": h.rejected, "counted": h.reported - h.rejected,
            "by_status": h.by_status,
            "by_grade": {"general": h.by_grade.get("general", 0), "major": h.by_grade.get("major", 0),
                         "ungraded": h.by_grade.get("", 0)},
            "by_category": [{"category": c or None, "count": n} for c, n in h.by_category],
            "by_area": [{"area_id": a, "area": name, "count": n} for a, name, n in h.by_area],
            "on_time_rectification": _rate(h.on_time, "on_time", "rectified"),
            "closure": _rate(h.closure, "closed", "counted"),
            "recurrence": {**_rate(h.recurrence, "recurring", "counted"), "window_days": h.recurrence_days},
            "open_now": h.open_now, "overdue_now": h.overdue_now, "major_open_now": h.major_open_now,
        },
        "inspections": {
            "completion": {**_rate(i.completion, "done", "settled"), "missed": i.missed},
            "unsettled": i.unsettled, "failed_items": i.failed_items,
        },
        "trend": {"months": k.trend.months, **k.trend.series},
    }
