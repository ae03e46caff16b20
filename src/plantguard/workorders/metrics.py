"""Work-order metrics (工单指标): MTTA, MTTR, on-time closure, closure rate against the field's
92 % bar, backlog per team and the overdue list.

Why from the order's own history: ``work_order.created_at`` is the row's wall-clock insert
time, while the lifecycle stamps (``work_order_event.at``, ``work_order.closed_at``,
``due_at``) are the moments the steps happened; only the latter are right when an order is
replayed or opened by a late consumer. Every figure is aggregated in SQL (one row for the
period figures, one ``GROUP BY`` for the backlog); only the seconds between two stamps need a
dialect switch. Every rate carries the counts it comes from, and a figure with nothing to
count is ``None`` ("no data yet"), never 0.

Definitions (docs/workorders.md, "Metrics"), for a period of plant-local days
``[from 00:00, to+1 00:00)`` in ``PLANTGUARD_PLANT_TZ`` and an optional team (the order's
current team):

- **MTTA**: mean of first ``accepted`` − first ``dispatched`` event, over orders whose first
  acceptance lies in the period;
- **MTTR**: mean of ``closed_at`` − ``created`` event, over orders closed in the period
  (closed = accepted by someone else, the same end the SLA's "resolve" time is measured to);
- **on-time closure**: of the orders closed in the period, those with ``closed_at <= due_at``;
- **closure rate**: of the orders created in the period and not cancelled, those closed by
  the period's end; passes at ≥ :data:`CLOSURE_TARGET`;
- **backlog** and **overdue** are the state *now*, not of the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from plantguard.core.db import UTCDateTime, utcnow
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Team
from plantguard.timeseries.alignment.times import TIME_OUT_OF_RANGE, plant_tz
from plantguard.workorders.contract import WorkOrderStatus as S
from plantguard.workorders.models import OPEN_STATUSES, WorkOrder, WorkOrderEvent

CLOSURE_TARGET: Final = 0.92  # the field's compliance bar (整改闭环率 ≥ 92 %)
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
OVERDUE_LIMIT: Final = 50
BAD_DATE = N_("Use a date of the form YYYY-MM-DD, e.g. 2026-03-01")


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date  # inclusive
    start: datetime  # UTC, plant-local midnight of first_day
    end: datetime  # UTC, plant-local midnight after last_day (exclusive)
    team_id: int | None = None

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Duration:
    mean_seconds: int | None
    n: int


@dataclass(frozen=True)
class Closure:
    created: int  # created in the period (all)
    cancelled: int  # of those, cancelled
    closed: int  # of the rest, closed by the period's end
    target: float = CLOSURE_TARGET

    @property
    def rate(self) -> Rate:
        return Rate(self.closed, self.created - self.cancelled)

    @property
    def passed(self) -> bool | None:
        value = self.rate.value
        return None if value is None else value >= self.target


@dataclass(frozen=True)
class TeamBacklog:
    team_id: int | None
    team: str  # "" = no team (pending dispatch)
    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class Overdue:
    id: int
    number: str
    title: str
    priority: str
    status: str
    team_id: int | None
    due_at: datetime
    overdue_seconds: int


@dataclass
class Metrics:
    period: Period
    now: datetime
    mtta: Duration
    mttr: Duration
    on_time: Rate
    closure: Closure
    backlog: list[TeamBacklog] = field(default_factory=list)
    overdue: list[Overdue] = field(default_factory=list)
    overdue_total: int = 0

    @property
    def empty(self) -> bool:
        """Nothing happened in the period and nothing is open: the page says what will appear."""
        return not (self.closure.created or self.mtta.n or self.mttr.n or self.backlog)


# -- the period --------------------------------------------------------------------------------


def _day(raw: str | None, name: str, errors: list[FieldError]) -> date | None:
    if raw is None or not raw.strip():
        return None
    try:
        d = date.fromisoformat(raw.strip())
    except ValueError:
        errors.append(FieldError(name, BAD_DATE))
        return None
    if not 2000 <= d.year < 2100:
        errors.append(FieldError(name, TIME_OUT_OF_RANGE))
        return None
    return d


def period(session: Session, actor: Actor, first: str | None = None, last: str | None = None,
           team_id: int | None = None, now: datetime | None = None) -> Period:
    """The period from ``from``/``to`` (plant-local dates, inclusive; default: the last 30 days
    up to today). Errors name the field: ``from``, ``to``, ``team_id``."""
    errors: list[FieldError] = []
    tz = plant_tz()
    today = (now or utcnow()).astimezone(tz).date()
    d_from, d_to = _day(first, "from", errors), _day(last, "to", errors)
    if not errors:
        d_to = d_to or (d_from + timedelta(days=DEFAULT_DAYS - 1) if d_from and not last else today)
        d_from = d_from or d_to - timedelta(days=DEFAULT_DAYS - 1)
        if d_to < d_from:
            errors.append(FieldError("to", N_("Must not be before the start")))
        elif (d_to - d_from).days + 1 > MAX_DAYS:
            errors.append(FieldError("to", N_("The period may span at most %(days)s days"), {"days": MAX_DAYS}))
    if team_id is not None and session.scalar(select(Team.id).where(
            Team.id == team_id, Team.enterprise_id == actor.enterprise_id)) is None:
        errors.append(FieldError("team_id", N_("%(entity)s not found"), {"entity": N_("Team")}))
    if errors:
        raise ValidationFailed(errors)
    assert d_from is not None and d_to is not None

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time.min, tz).astimezone(UTC)

    return Period(d_from, d_to, midnight(d_from), midnight(d_to + timedelta(days=1)), team_id)


# -- SQL ---------------------------------------------------------------------------------------


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _at(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime())


def _count(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def compute(session: Session, actor: Actor, p: Period, now: datetime | None = None) -> Metrics:
    """All figures for ``p`` in the caller's enterprise (``workorders.manage``: managers, safety
    managers, team leaders — the people who answer for the loop)."""
    actor.require(Perm.MANAGE_WORKORDERS)
    now = now or utcnow()
    ent = actor.enterprise_id
    ev = WorkOrderEvent
    stamps = (select(ev.work_order_id.label("oid"),
                     func.min(case((ev.kind == "created", ev.at))).label("created"),
                     func.min(case((ev.kind == "dispatched", ev.at))).label("dispatched"),
                     func.min(case((ev.kind == "accepted", ev.at))).label("accepted"))
              .where(ev.enterprise_id == ent, ev.kind.in_(("created", "dispatched", "accepted")))
              .group_by(ev.work_order_id).subquery())
    wo = WorkOrder
    start, end = _at(p.start), _at(p.end)
    created_in = and_(stamps.c.created >= start, stamps.c.created < end)
    closed_in = and_(wo.status == S.CLOSED, wo.closed_at.is_not(None), wo.closed_at >= start, wo.closed_at < end)
    accepted_in = and_(stamps.c.accepted >= start, stamps.c.accepted < end, stamps.c.dispatched.is_not(None),
                       stamps.c.accepted >= stamps.c.dispatched)
    conds: list[ColumnElement[bool]] = [wo.enterprise_id == ent]
    if p.team_id is not None:
        conds.append(wo.team_id == p.team_id)
    row = session.execute(
        select(_count(created_in),
               _count(and_(created_in, wo.status == S.CANCELLED)),
               _count(and_(created_in, wo.status == S.CLOSED, wo.closed_at < end)),
               _count(closed_in),
               _count(and_(closed_in, or_(wo.due_at.is_(None), wo.closed_at <= wo.due_at))),
               func.avg(case((closed_in, _seconds(session, wo.closed_at, stamps.c.created)))),
               _count(accepted_in),
               func.avg(case((accepted_in, _seconds(session, stamps.c.accepted, stamps.c.dispatched)))))
        .select_from(wo).join(stamps, stamps.c.oid == wo.id).where(*conds)).one()
    created, cancelled, cohort_closed, closed, on_time, mttr, n_acc, mtta = row

    def mean(value: Any) -> int | None:
        return None if value is None else round(float(value))

    m = Metrics(period=p, now=now, mtta=Duration(mean(mtta) if n_acc else None, int(n_acc)),
                mttr=Duration(mean(mttr) if closed else None, int(closed)), on_time=Rate(int(on_time), int(closed)),
                closure=Closure(int(created), int(cancelled), int(cohort_closed)))
    m.backlog = backlog(session, actor, p.team_id)
    m.overdue, m.overdue_total = overdue(session, actor, p.team_id, now)
    return m


def backlog(session: Session, actor: Actor, team_id: int | None = None) -> list[TeamBacklog]:
    """Open orders per team and status, now; the largest backlog first, "no team" last."""
    conds = [WorkOrder.enterprise_id == actor.enterprise_id, WorkOrder.status.in_(sorted(OPEN_STATUSES))]
    if team_id is not None:
        conds.append(WorkOrder.team_id == team_id)
    rows = session.execute(select(WorkOrder.team_id, Team.code, Team.name, WorkOrder.status, func.count())
                           .outerjoin(Team, and_(Team.id == WorkOrder.team_id,
                                                 Team.enterprise_id == actor.enterprise_id))
                           .where(*conds).group_by(WorkOrder.team_id, Team.code, Team.name, WorkOrder.status)).all()
    teams: dict[int | None, TeamBacklog] = {}
    for tid, code, name, status, n in rows:
        item = teams.setdefault(tid, TeamBacklog(tid, f"{code} {name}" if tid is not None and code else "",
                                                 {s: 0 for s in (S.PENDING, S.DISPATCHED, S.IN_PROGRESS,
                                                                 S.AWAITING_ACCEPTANCE)}))
        item.by_status[str(status)] = int(n)
    return sorted(teams.values(), key=lambda t: (t.team_id is None, -t.total, t.team))


def overdue(session: Session, actor: Actor, team_id: int | None = None, now: datetime | None = None,
            limit: int = OVERDUE_LIMIT) -> tuple[list[Overdue], int]:
    """Open orders past ``due_at``, most overdue first (at most ``limit``), and how many in all."""
    now = now or utcnow()
    conds = [WorkOrder.enterprise_id == actor.enterprise_id, WorkOrder.status.in_(sorted(OPEN_STATUSES)),
             WorkOrder.due_at.is_not(None), WorkOrder.due_at < _at(now)]
    if team_id is not None:
        conds.append(WorkOrder.team_id == team_id)
    total = int(session.scalar(select(func.count()).select_from(WorkOrder).where(*conds)) or 0)
    rows = session.scalars(select(WorkOrder).where(*conds).order_by(WorkOrder.due_at, WorkOrder.id)
                           .limit(limit)).all()
    items = [Overdue(o.id, o.number, o.title, o.priority, o.status, o.team_id, o.due_at,
                     int((now - o.due_at).total_seconds())) for o in rows if o.due_at is not None]
    return items, total


def metrics(session: Session, actor: Actor, first: str | None = None, last: str | None = None,
            team_id: int | None = None, now: datetime | None = None) -> Metrics:
    actor.require(Perm.MANAGE_WORKORDERS)
    return compute(session, actor, period(session, actor, first, last, team_id, now), now)


def as_dict(m: Metrics) -> dict[str, Any]:
    """The API's answer: every rate with the counts behind it; ``null`` where there is no data."""
    p, c = m.period, m.closure
    return {
        "period": {"from": p.first_day.isoformat(), "to": p.last_day.isoformat(), "days": p.days,
                   "start": p.start, "end": p.end, "timezone": str(plant_tz()), "team_id": p.team_id},
        "now": m.now,
        "mtta": {"mean_seconds": m.mtta.mean_seconds, "n": m.mtta.n},
        "mttr": {"mean_seconds": m.mttr.mean_seconds, "n": m.mttr.n},
        "on_time_closure": {"rate": m.on_time.value, "on_time": m.on_time.numerator, "closed": m.on_time.denominator},
        "closure": {"rate": c.rate.value, "closed": c.closed, "created": c.created, "cancelled": c.cancelled,
                    "counted": c.rate.denominator, "target": c.target, "passed": c.passed},
        "backlog": [{"team_id": t.team_id, "team": t.team, "total": t.total, "by_status": t.by_status}
                    for t in m.backlog],
        "overdue": {"total": m.overdue_total, "items": [
            {"id": o.id, "number": o.number, "title": o.title, "priority": o.priority, "status": o.status,
             "team_id": o.team_id, "due_at": o.due_at, "overdue_seconds": o.overdue_seconds} for o in m.overdue]},
    }
