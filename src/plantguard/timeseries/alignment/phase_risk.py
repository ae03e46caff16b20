"""The phase-risk report: alarm and incident rates per work phase, against the plant's mean.

For a period [start, end), every machine with MES phases contributes its time in each phase
(exposure, machine-hours) and its risk events (PLC alarms, faults and incidents by default)
assigned to the phase they fell in by :func:`.asof.align`. Per phase:

- rate = events / exposure hours, with the exact Poisson interval;
- ratio = phase rate / plant mean rate (all events in phases / all phase exposure), with the
  exact conditional interval (see :mod:`.stats`); a phase is **elevated** when the interval's
  lower bound is above 1, i.e. its rate is higher than the rest of the plant's beyond chance
  at the chosen confidence.

Event sources are pluggable (:class:`EventSource`): alarms raised by the platform's own
detection can be counted next to, or instead of, the PLC's log.

The intervals are per phase, not simultaneous: with five phases and no real difference, the
chance that at least one is flagged by chance is about 5 × 2.5 % ≈ 12 % at 95 % confidence.
Ask for ``confidence=1 - 0.05 / phases`` (Bonferroni) for a simultaneous statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.reading import now_us
from plantguard.timeseries.alignment.asof import PhaseRow, PhaseSpan, align, effective_ends, last_phases_before
from plantguard.timeseries.alignment.models import PHASES, RISK_KINDS, MesPhase, PlcEvent
from plantguard.timeseries.alignment.stats import poisson_ci, ratio_to_mean

HOUR_US = 3_600_000_000
MAX_PERIOD_US = 366 * 24 * HOUR_US

PERIOD_ORDER = N_("Must be later than the start")
PERIOD_TOO_LONG = N_("At most %(days)s days")
CONFIDENCE_RANGE = N_("Must be at least 0.5 and less than 1")


class EventSource(Protocol):
    """Where counted events come from: ``(equipment_id, ts)`` pairs in [start, end)."""

    @property
    def name(self) -> str: ...

    def events(self, session: Session, enterprise_id: int, start: int, end: int,
               equipment_ids: Sequence[int] | None) -> Iterable[tuple[int, int]]: ...


@dataclass(frozen=True)
class PlcEventSource:
    """PLC log events of the given kinds (alarms, faults, incidents)."""

    kinds: tuple[str, ...] = RISK_KINDS
    name: str = "plc"

    def events(self, session: Session, enterprise_id: int, start: int, end: int,
               equipment_ids: Sequence[int] | None) -> Iterable[tuple[int, int]]:
        q = select(PlcEvent.equipment_id, PlcEvent.ts).where(
            PlcEvent.enterprise_id == enterprise_id, PlcEvent.ts >= start, PlcEvent.ts < end,
            PlcEvent.kind.in_(self.kinds))
        if equipment_ids is not None:
            q = q.where(PlcEvent.equipment_id.in_(list(equipment_ids)))
        return ((int(e), int(t)) for e, t in session.execute(q))


@dataclass
class PhaseRisk:
    phase: str
    label: str  # catalogue id
    exposure_h: float
    events: int
    rate: float | None  # events per machine-hour
    rate_low: float | None
    rate_high: float | None
    ratio: float | None  # rate / plant mean rate
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None
    elevated: bool


@dataclass
class PhaseRiskReport:
    start: int
    end: int
    confidence: float
    sources: list[str]
    equipment: int  # machines with phases in the period
    exposure_h: float
    events: int  # events that fell in a phase
    unassigned: int  # events of the period outside any phase (no MES data)
    mean_rate: float | None
    mean_rate_low: float | None
    mean_rate_high: float | None
    phases: list[PhaseRisk] = field(default_factory=list)

    def by_phase(self) -> dict[str, PhaseRisk]:
        return {p.phase: p for p in self.phases}


def load_spans(session: Session, enterprise_id: int, start: int, end: int,
               equipment_ids: Sequence[int] | None = None) -> list[PhaseSpan]:
    """Phases that may overlap [start, end): those starting in it, and each machine's last
    one starting before it (phases of one machine do not overlap, so no other can reach in)."""
    t = MesPhase
    scope = [t.enterprise_id == enterprise_id]
    if equipment_ids is not None:
        scope.append(t.equipment_id.in_(list(equipment_ids)))
    cols = (t.equipment_id, t.start_ts, t.end_ts, t.phase, t.work_order_id)
    rows: list[PhaseRow] = [(int(r[0]), int(r[1]), r[2], str(r[3]), r[4]) for r in session.execute(
        select(*cols).where(*scope, t.start_ts >= start, t.start_ts < end))]
    rows += last_phases_before(session, enterprise_id, start, equipment_ids)
    return [PhaseSpan(eq, s, None if e is None else int(e), ph, None if wo is None else int(wo))
            for eq, s, e, ph, wo in rows]


def compute(spans: Sequence[PhaseSpan], events: Sequence[tuple[int, int]], start: int, end: int,
            confidence: float = 0.95, sources: Sequence[str] = ("plc",)) -> PhaseRiskReport:
    """The report from phases and events already loaded (no database)."""
    ends = effective_ends(spans)
    exposure: dict[str, int] = {}
    machines: set[int] = set()
    for span, span_end in zip(spans, ends, strict=True):
        lo = max(span.start, start)
        hi = min(end if span_end is None else span_end, end)
        if hi > lo:
            exposure[span.phase] = exposure.get(span.phase, 0) + (hi - lo)
            machines.add(span.equipment_id)
    in_period = [ev for ev in events if start <= ev[1] < end]
    counts: dict[str, int] = {}
    unassigned = 0
    for idx in align(in_period, spans):  # -1: the event fell in no phase
        if idx < 0:
            unassigned += 1
        else:
            phase = spans[idx].phase
            counts[phase] = counts.get(phase, 0) + 1
    total_us = sum(exposure.values())
    total_h = total_us / HOUR_US
    k_total = sum(counts.values())
    report = PhaseRiskReport(start, end, confidence, list(sources), len(machines), total_h, k_total, unassigned,
                             None, None, None)
    if total_h > 0:
        lo_k, hi_k = poisson_ci(k_total, confidence)
        report.mean_rate = k_total / total_h
        report.mean_rate_low, report.mean_rate_high = lo_k / total_h, hi_k / total_h
    order = [p for p in PHASES if p in exposure] + sorted(p for p in exposure if p not in PHASES)
    for phase in order:
        t_h = exposure[phase] / HOUR_US
        k = counts.get(phase, 0)
        lo_k, hi_k = poisson_ci(k, confidence)
        est = ratio_to_mean(k, t_h, k_total, total_h, confidence)
        report.phases.append(PhaseRisk(
            phase, PHASES.get(phase, phase), t_h, k, k / t_h, lo_k / t_h, hi_k / t_h,
            est.ratio if est else None, est.low if est else None, est.high if est else None,
            est.p_value if est else None, bool(est and est.low > 1.0),
        ))
    return report


def check_period(start: int, end: int) -> None:
    if end <= start:
        raise ValidationFailed([FieldError("to", PERIOD_ORDER)])
    if end - start > MAX_PERIOD_US:
        raise ValidationFailed([FieldError("to", PERIOD_TOO_LONG, {"days": MAX_PERIOD_US // (24 * HOUR_US)})])


def phase_risk(session: Session, actor: Actor, start: int, end: int, *, confidence: float = 0.95,
               sources: Sequence[EventSource] = (PlcEventSource(),),
               equipment_ids: Sequence[int] | None = None) -> PhaseRiskReport:
    """The report for the caller's enterprise over [start, end) (µs UTC).

    Exposure never runs past now: a phase still going on counts until this moment."""
    actor.require(Perm.READ)
    check_period(start, end)
    if not 0.5 <= confidence < 1.0:
        raise ValidationFailed([FieldError("confidence", CONFIDENCE_RANGE)])
    horizon = min(end, max(start, now_us()))
    spans = load_spans(session, actor.enterprise_id, start, end, equipment_ids)
    events: list[tuple[int, int]] = []
    for source in sources:
        events.extend(source.events(session, actor.enterprise_id, start, end, equipment_ids))
    report = compute(spans, events, start, horizon, confidence, [s.name for s in sources])
    report.end = end
    return report
