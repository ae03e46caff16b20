"""What the permit board, the calendar, the site map and the dashboard panel show.

Why one module of plain reads: the four views answer the same question — which permits are
where in their life, when and where — for different eyes (the safety office's board, the
planner's calendar, the control room's map). Each read is tenant-scoped through
``query.list_permits`` or filters on the caller's enterprise itself, and resolves names in a
few batched queries rather than one per card.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.permits import query
from plantguard.permits.contract import LIVE_STATUSES, SuspendReason
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit
from plantguard.permits.sheet import grade_name, type_name
from plantguard.permits.types import get_type
from plantguard.tenancy.models import Area, Person
from plantguard.timeseries.alignment.times import plant_tz

# The board's columns, in the order a permit moves through them.
COLUMNS: tuple[str, ...] = (S.DRAFT, S.PENDING, S.APPROVED, S.ACTIVE, S.SUSPENDED, S.COMPLETED)
COLUMN_LABELS: dict[str, str] = {
    S.DRAFT: N_("Being applied for"), S.PENDING: N_("Awaiting approval"),
    S.APPROVED: N_("Approved, work not started"), S.ACTIVE: N_("Work in progress"), S.SUSPENDED: N_("Suspended"),
    S.COMPLETED: N_("Completed, awaiting acceptance"),
}
COLUMN_EMPTY: dict[str, str] = {
    S.DRAFT: N_("Applications not yet submitted for approval appear here."),
    S.PENDING: N_("Permits waiting for an approver's signature appear here."),
    S.APPROVED: N_("Approved permits whose work has not started yet appear here."),
    S.ACTIVE: N_("Permits under which work is going on appear here."),
    S.SUSPENDED: N_("Permits stopped by a break, a gas alarm or the guardian appear here, with the reason."),
    S.COMPLETED: N_("Finished work waiting for completion acceptance appears here."),
}
SUSPEND_LABELS: dict[str, str] = {
    SuspendReason.BREAK: N_("Break in the work"), SuspendReason.GAS_ALARM: N_("Gas alarm"),
    SuspendReason.GUARDIAN: N_("Stopped by the guardian"), SuspendReason.OTHER: N_("Other reason"),
}
# One colour per work type on the calendar and the map (distinct from the four risk colours'
# meaning: these say *what* work, not how dangerous the place is).
TYPE_COLOURS: dict[str, str] = {
    "hot_work": "#e03131", "confined_space": "#7048e8", "blind_plate": "#1971c2", "work_at_height": "#e67700",
    "lifting": "#2f9e44", "temp_electricity": "#c2255c", "excavation": "#8d6e63", "road_breaking": "#495057",
}
# The calendar leaves out permits that never went ahead.
CALENDAR_STATUSES = ",".join(s for s in S if s not in (S.REJECTED, S.CANCELLED))
MAX_ITEMS = 500


@dataclass
class Card:
    id: int
    number: str
    type_code: str
    type_name: str
    grade: str
    grade_name: str
    graded: bool
    status: str
    area: str
    location: str
    start: datetime
    end: datetime
    guardian: str
    colour: str
    suspend_reason: str | None = None
    suspend_note: str = ""
    suspended_at: datetime | None = None


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def local(ts: datetime) -> datetime:
    return _aware(ts).astimezone(plant_tz())


def cards(session: Session, actor: Actor, permits: Sequence[Permit]) -> list[Card]:
    ent = actor.enterprise_id
    area_ids = {p.area_id for p in permits}
    person_ids = {p.guardian_id for p in permits if p.guardian_id is not None}
    areas = {int(i): f"{c} {n}" for i, c, n in session.execute(select(Area.id, Area.code, Area.name).where(
        Area.enterprise_id == ent, Area.id.in_(area_ids)))} if area_ids else {}
    people = {int(i): n for i, n in session.execute(select(Person.id, Person.name).where(
        Person.enterprise_id == ent, Person.id.in_(person_ids)))} if person_ids else {}
    out = []
    for p in permits:
        t = get_type(p.type_code)
        out.append(Card(p.id, p.number, p.type_code, type_name(p.type_code), p.grade, grade_name(p.type_code, p.grade),
                        bool(t and t.graded), p.status, areas.get(p.area_id, "—"), p.location, p.planned_start,
                        p.planned_end, people.get(p.guardian_id, "—") if p.guardian_id else "—",
                        TYPE_COLOURS.get(p.type_code, "#666666"), p.suspend_reason, p.suspend_note, p.suspended_at))
    return out


def board(session: Session, actor: Actor, *, type_code: str | None = None,
          area_id: int | None = None) -> dict[str, list[Card]]:
    """Permits by board column (oldest window first within a column)."""
    page = query.list_permits(session, actor, status=",".join(COLUMNS), type_code=type_code, area_id=area_id,
                              limit=MAX_ITEMS)
    columns: dict[str, list[Card]] = {c: [] for c in COLUMNS}
    for c in sorted(cards(session, actor, page.items), key=lambda c: (_aware(c.start), c.id)):
        columns[c.status].append(c)
    return columns


# -- calendar -----------------------------------------------------------------------------------


@dataclass
class Entry:
    card: Card
    starts_today: bool
    ends_today: bool
    label: str  # "08:00–16:00", "08:00 →", "→ 16:00" or "" (all day)


@dataclass
class Day:
    day: date
    in_month: bool
    today: bool
    entries: list[Entry] = field(default_factory=list)


@dataclass
class CalendarView:
    view: str  # week | month
    anchor: date
    first: date
    last: date  # inclusive
    weeks: list[list[Day]]
    prev: date
    next: date
    total: int


def _range(view: str, anchor: date) -> tuple[date, date]:
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return first, first + timedelta(days=6)
    start = anchor.replace(day=1)
    first = start - timedelta(days=start.weekday())
    next_month = (start + timedelta(days=32)).replace(day=1)
    last_day = next_month - timedelta(days=1)
    return first, last_day + timedelta(days=6 - last_day.weekday())


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=plant_tz())


def calendar(session: Session, actor: Actor, *, view: str, anchor: date, today: date,
             type_code: str | None = None, area_id: int | None = None) -> CalendarView:
    """Permits by the plant days their planned window touches (week: Monday–Sunday; month: the
    weeks that hold the month)."""
    first, last = _range(view, anchor)
    page = query.list_permits(session, actor, status=CALENDAR_STATUSES, type_code=type_code, area_id=area_id,
                              start=_midnight(first), end=_midnight(last + timedelta(days=1)), limit=MAX_ITEMS)
    by_day: dict[date, list[Entry]] = defaultdict(list)
    for c in cards(session, actor, page.items):
        s, e = local(c.start), local(c.end)
        d = max(s.date(), first)
        while d <= min(e.date(), last):
            starts, ends = s.date() == d, e.date() == d and e.time() != time(0)
            if starts and ends:
                label = f"{s:%H:%M}–{e:%H:%M}"
            elif starts:
                label = f"{s:%H:%M} →"
            elif ends:
                label = f"→ {e:%H:%M}"
            else:
                label = ""
            if d != e.date() or ends or starts:  # a window ending at midnight does not touch that day
                by_day[d].append(Entry(c, starts, ends, label))
            d += timedelta(days=1)
    weeks: list[list[Day]] = []
    d = first
    while d <= last:
        week = []
        for _ in range(7):
            entries = sorted(by_day.get(d, []), key=lambda x: (not x.starts_today, local(x.card.start), x.card.id))
            week.append(Day(d, view == "week" or d.month == anchor.month, d == today, entries))
            d += timedelta(days=1)
        weeks.append(week)
    if view == "week":
        prev, nxt = anchor - timedelta(days=7), anchor + timedelta(days=7)
    else:
        prev = (anchor.replace(day=1) - timedelta(days=1)).replace(day=1)
        nxt = (anchor.replace(day=1) + timedelta(days=32)).replace(day=1)
    return CalendarView(view, anchor, first, last, weeks, prev, nxt, page.total)


# -- site map -----------------------------------------------------------------------------------


@dataclass
class Marker:
    card: Card
    x: float
    y: float


def centre(polygon: list[list[float]]) -> tuple[float, float]:
    return (sum(p[0] for p in polygon) / len(polygon), sum(p[1] for p in polygon) / len(polygon))


def site_markers(session: Session, actor: Actor, site_map: Any, *, type_code: str | None = None) -> tuple[
        list[Marker], list[Card]]:
    """Live permits of the map's site: placed at their plan position, else at their area's
    outline centre (several in one area fanned out around it); those with neither are
    returned apart, to be listed beside the map."""
    if site_map is None:
        return [], []
    areas = {a.id: a for a in site_map.areas}
    if not areas:
        return [], []
    permits = list(session.scalars(select(Permit).where(
        Permit.enterprise_id == actor.enterprise_id, Permit.status.in_(LIVE_STATUSES),
        Permit.area_id.in_(list(areas)), *([Permit.type_code == type_code] if type_code else []))
        .order_by(Permit.planned_start, Permit.id).limit(MAX_ITEMS)))
    _, _, w, h = site_map.box
    spread = max(min(w, h) / 40, 0.5)
    markers: list[Marker] = []
    unplaced: list[Card] = []
    per_area: dict[int, int] = defaultdict(int)
    for p, c in zip(permits, cards(session, actor, permits), strict=True):
        if p.plan_x is not None and p.plan_y is not None:
            markers.append(Marker(c, float(p.plan_x), float(p.plan_y)))
            continue
        area = areas[p.area_id]
        if not area.polygon:
            unplaced.append(c)
            continue
        cx, cy = centre(area.polygon)
        n = per_area[p.area_id]
        per_area[p.area_id] += 1
        if n:  # fan out: 6 around the centre, then a wider ring
            ring, k = 1 + (n - 1) // 6, (n - 1) % 6
            angle = math.pi / 3 * k + (ring - 1) * math.pi / 6
            cx, cy = cx + math.cos(angle) * spread * 2 * ring, cy + math.sin(angle) * spread * 2 * ring
        markers.append(Marker(c, cx, cy))
    return markers, unplaced


# -- dashboard ----------------------------------------------------------------------------------


def counts(session: Session, actor: Actor, now: datetime) -> dict[str, int]:
    """Live permits by status, today's (planned window touching today, plant time) and the
    suspended ones, for the dashboard panel."""
    actor.require(Perm.READ)
    ent = actor.enterprise_id
    out: dict[str, int] = {s.value: 0 for s in (S.PENDING, S.APPROVED, S.ACTIVE, S.SUSPENDED)}
    for status, n in session.execute(select(Permit.status, func.count()).where(
            Permit.enterprise_id == ent, Permit.status.in_(list(out))).group_by(Permit.status)):
        out[status] = int(n)
    day = local(now).date()
    out["today"] = int(session.scalar(select(func.count()).select_from(Permit).where(
        Permit.enterprise_id == ent, Permit.status.in_(sorted(LIVE_STATUSES | {S.COMPLETED})),
        Permit.planned_start < _midnight(day + timedelta(days=1)), Permit.planned_end > _midnight(day))) or 0)
    out["live"] = sum(out[s] for s in (S.PENDING, S.APPROVED, S.ACTIVE, S.SUSPENDED))
    return out
