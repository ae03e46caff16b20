"""The as-of join: what was going on at a machine at a given moment.

Semantics (all times µs UTC, intervals half-open):

- **phase**: the machine's phase whose start is the latest one at or before ``at``, if it
  has not ended by then (``start ≤ at < end``; an open phase lasts until the next one starts).
- **people**: zone entries of the machine's area with ``entered ≤ at < left``. An entry
  without an exit read counts for at most ``presence_max_s`` (a badge that never read out at
  the gate must not keep someone "present" for days).
- **ambient**: for each enabled measurement point of the area's environment monitors, the
  newest reading at or before ``at`` that is at most ``staleness_s`` old and not of bad
  quality; an older one is no reading.
- **events**: the machine's last PLC events at or before ``at``.

:func:`context_at` answers one moment with a few indexed queries. :func:`align` is the
vectorised form for reports: it assigns many events to phases by one sort-merge pass,
O((n + m) log(n + m)), without a query per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.errors import NotFound
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.reading import Quality
from plantguard.tenancy.models import Area, Person
from plantguard.timeseries.alignment.models import PHASES, MesPhase, MesWorkOrder, PlcEvent, ZoneEntry
from plantguard.timeseries.models import ReadingRow

STALENESS_S = 30 * 60
PRESENCE_MAX_S = 16 * 3600
LAST_EVENTS = 10
# Equipment types whose points describe the area's air rather than a machine.
AMBIENT_TYPES: tuple[str, ...] = ("env_monitor", "gas_detection_system", "hydrogen_detector")

_S = 1_000_000


# -- the vectorised join -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """One phase of one machine, ``[start, end)``; ``end`` None while it goes on."""

    equipment_id: int
    start: int
    end: int | None
    phase: str
    work_order_id: int | None = None


def effective_ends(phases: Sequence[PhaseSpan]) -> list[int | None]:
    """Each span's end as the join sees it: its own end, cut at its machine's next start."""
    order = sorted(range(len(phases)), key=lambda i: (phases[i].equipment_id, phases[i].start))
    ends: list[int | None] = [p.end for p in phases]
    for a, b in pairwise(order):
        pa, pb = phases[a], phases[b]
        if pa.equipment_id == pb.equipment_id and (pa.end is None or pa.end > pb.start):
            ends[a] = pb.start
    return ends


def align(events: Sequence[tuple[int, int]], phases: Sequence[PhaseSpan]) -> list[int]:
    """For each ``(equipment_id, ts)`` event, the index in ``phases`` of the span it falls in,
    or -1. Both inputs in any order; one sort of each, then one merge pass."""
    ends = effective_ends(phases)
    p_order = sorted(range(len(phases)), key=lambda i: (phases[i].equipment_id, phases[i].start))
    p_keys = [(phases[i].equipment_id, phases[i].start) for i in p_order]
    e_order = sorted(range(len(events)), key=events.__getitem__)
    out = [-1] * len(events)
    j, m = 0, len(p_order)
    for i in e_order:
        key = events[i]
        while j < m and p_keys[j] <= key:
            j += 1
        if j == 0:
            continue
        cand = p_order[j - 1]
        if phases[cand].equipment_id != key[0]:
            continue
        end = ends[cand]
        if end is None or key[1] < end:
            out[i] = cand
    return out


PhaseRow = tuple[int, int, int | None, str, int | None]


def last_phases_before(bind: Session | Connection, enterprise_id: int, before: int,
                       equipment_ids: Sequence[int] | None = None) -> list[PhaseRow]:
    """Each machine's last phase starting before ``before``: (equipment_id, start_ts, end_ts,
    phase, work_order_id).

    Two index-driven steps, so that the cost does not grow with the length of the history (a
    ``GROUP BY`` over the phases would read all of it): per machine of the enterprise, one
    backward probe of the (enterprise, equipment, start) index for the latest start; then
    those rows by their key."""
    p = MesPhase
    latest = (select(func.max(p.start_ts))
              .where(p.enterprise_id == enterprise_id, p.equipment_id == Equipment.id, p.start_ts < before)
              .correlate(Equipment).scalar_subquery())
    machines = select(Equipment.id, latest).where(Equipment.enterprise_id == enterprise_id)
    if equipment_ids is not None:
        machines = machines.where(Equipment.id.in_(list(equipment_ids)))
    keys = {(int(eq), int(start)) for eq, start in bind.execute(machines) if start is not None}
    out: list[PhaseRow] = []
    ordered = sorted(keys)
    for i in range(0, len(ordered), 100):
        # Both IN lists probe the unique index (a superset of the pairs, filtered here): SQLite
        # plans a row-value IN (a, b) IN (...) as a scan of the enterprise's phases.
        chunk = ordered[i: i + 100]
        q = (select(p.equipment_id, p.start_ts, p.end_ts, p.phase, p.work_order_id)
             .where(p.enterprise_id == enterprise_id, p.equipment_id.in_(sorted({k[0] for k in chunk})),
                    p.start_ts.in_(sorted({k[1] for k in chunk}))))
        out.extend((int(r[0]), int(r[1]), r[2], str(r[3]), r[4]) for r in bind.execute(q)
                   if (int(r[0]), int(r[1])) in keys)
    return out


# -- one moment ---------------------------------------------------------------------------------------


@dataclass
class WorkOrderInfo:
    id: int
    order_no: str
    product: str


@dataclass
class PhaseInfo:
    phase: str
    label: str  # catalogue id
    start: int
    end: int | None
    work_order: WorkOrderInfo | None


@dataclass
class PresentPerson:
    badge: str
    person_id: int | None
    employee_no: str
    name: str
    entered: int
    left: int | None
    source: str


@dataclass
class AmbientValue:
    point_id: int
    code: str
    name: str
    quantity: str
    unit: str
    ts: int | None  # None: no reading within the staleness limit
    value: float | None
    quality: int | None


@dataclass
class EventInfo:
    ts: int
    code: str
    kind: str
    severity: int
    message: str


@dataclass
class AlignedContext:
    at: int
    equipment_id: int
    equipment_code: str
    equipment_name: str
    area_id: int
    area_code: str
    area_name: str
    phase: PhaseInfo | None
    people: list[PresentPerson] = field(default_factory=list)
    ambient: list[AmbientValue] = field(default_factory=list)
    events: list[EventInfo] = field(default_factory=list)
    staleness_s: int = STALENESS_S


def context_at(session: Session, actor: Actor, equipment_id: int, at: int, *, staleness_s: int = STALENESS_S,
               presence_max_s: int = PRESENCE_MAX_S, last_events: int = LAST_EVENTS) -> AlignedContext:
    """The aligned context of one machine of the caller's enterprise at ``at`` (µs UTC)."""
    actor.require(Perm.READ)
    ent = actor.enterprise_id
    row = session.execute(
        select(Equipment.id, Equipment.code, Equipment.name, Area.id, Area.code, Area.name)
        .join(Area, Area.id == Equipment.area_id)
        .where(Equipment.id == equipment_id, Equipment.enterprise_id == ent)
    ).first()
    if row is None:
        raise NotFound(N_("Equipment"), equipment_id)
    ctx = AlignedContext(at, row[0], row[1], row[2], row[3], row[4], row[5], None, staleness_s=staleness_s)
    ctx.phase = _phase(session, ent, equipment_id, at)
    ctx.people = _people(session, ent, ctx.area_id, at, presence_max_s)
    ctx.ambient = _ambient(session, ent, ctx.area_id, at, staleness_s)
    ctx.events = _events(session, ent, equipment_id, at, last_events)
    return ctx


def _phase(session: Session, ent: int, equipment_id: int, at: int) -> PhaseInfo | None:
    row = session.execute(
        select(MesPhase.phase, MesPhase.start_ts, MesPhase.end_ts, MesWorkOrder.id, MesWorkOrder.order_no,
               MesWorkOrder.product)
        .outerjoin(MesWorkOrder, MesWorkOrder.id == MesPhase.work_order_id)
        .where(MesPhase.enterprise_id == ent, MesPhase.equipment_id == equipment_id, MesPhase.start_ts <= at)
        .order_by(MesPhase.start_ts.desc())
        .limit(1)
    ).first()
    if row is None or (row.end_ts is not None and row.end_ts <= at):
        return None
    order = WorkOrderInfo(row.id, row.order_no, row.product) if row.id is not None else None
    return PhaseInfo(row.phase, PHASES.get(row.phase, row.phase), row.start_ts, row.end_ts, order)


def _people(session: Session, ent: int, area_id: int, at: int, presence_max_s: int) -> list[PresentPerson]:
    rows = session.execute(
        select(ZoneEntry.badge, ZoneEntry.person_id, Person.employee_no, Person.name, ZoneEntry.entered_ts,
               ZoneEntry.left_ts, ZoneEntry.source)
        .outerjoin(Person, Person.id == ZoneEntry.person_id)
        .where(ZoneEntry.enterprise_id == ent, ZoneEntry.area_id == area_id,
               ZoneEntry.entered_ts <= at, ZoneEntry.entered_ts > at - presence_max_s * _S)
        .order_by(ZoneEntry.entered_ts)
    ).all()
    present: dict[str, PresentPerson] = {}
    for r in rows:
        if r.left_ts is not None and r.left_ts <= at:
            continue
        # One line per badge: the latest entry (an earlier one missed its exit read).
        present[r.badge] = PresentPerson(r.badge, r.person_id, r.employee_no or "", r.name or "",
                                         r.entered_ts, r.left_ts, r.source)
    return sorted(present.values(), key=lambda p: (p.employee_no or p.badge))


def _ambient(session: Session, ent: int, area_id: int, at: int, staleness_s: int) -> list[AmbientValue]:
    points = session.execute(
        select(MeasurementPoint.id, MeasurementPoint.code, MeasurementPoint.name, MeasurementPoint.quantity,
               MeasurementPoint.unit)
        .join(Equipment, Equipment.id == MeasurementPoint.equipment_id)
        .where(MeasurementPoint.enterprise_id == ent, Equipment.area_id == area_id,
               Equipment.type.in_(AMBIENT_TYPES), MeasurementPoint.enabled.is_(True))
        .order_by(MeasurementPoint.code)
    ).all()
    out = []
    for p in points:
        # One indexed probe per point on the reading primary key (point_id, ts).
        r = session.execute(
            select(ReadingRow.ts, ReadingRow.value, ReadingRow.quality)
            .where(ReadingRow.point_id == p.id, ReadingRow.ts <= at, ReadingRow.ts >= at - staleness_s * _S,
                   ReadingRow.quality < int(Quality.BAD), ReadingRow.value.is_not(None))
            .order_by(ReadingRow.ts.desc())
            .limit(1)
        ).first()
        out.append(AmbientValue(p.id, p.code, p.name, p.quantity, p.unit, r.ts if r else None,
                                r.value if r else None, r.quality if r else None))
    return out


def _events(session: Session, ent: int, equipment_id: int, at: int, limit: int) -> list[EventInfo]:
    rows = session.execute(
        select(PlcEvent.ts, PlcEvent.code, PlcEvent.kind, PlcEvent.severity, PlcEvent.message)
        .where(PlcEvent.enterprise_id == ent, PlcEvent.equipment_id == equipment_id, PlcEvent.ts <= at)
        .order_by(PlcEvent.ts.desc(), PlcEvent.id.desc())
        .limit(limit)
    ).all()
    return [EventInfo(r.ts, r.code, r.kind, r.severity, r.message) for r in rows]
