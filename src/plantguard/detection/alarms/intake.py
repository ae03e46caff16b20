"""From condition signals to alarms: the :class:`~plantguard.detection.signals.AlarmSink`
that detection calls, and the periodic ``tick``.

Idempotent per ``(enterprise_id, source)``. The newest alarm of a source decides:

- an **active** signal at or before that alarm's last active time is a replay and changes
  nothing; otherwise it refreshes the open alarm (the condition is back if it had ended: one
  more occurrence), reopens a cleared one if it cleared within the throttle window (counted on
  the same alarm, not notified again), or raises a new alarm;
- an **inactive** signal records that the condition ended on the open alarm. It does not clear
  it: clearing is a person's act or the policy's auto-clear.

Time comes from the signals (``ts``) and, for the tick, from the injected clock, so tests
drive hours of alarm life without sleeping.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.db import transaction
from plantguard.detection.alarms import lifecycle
from plantguard.detection.alarms.context import aligned_context
from plantguard.detection.alarms.models import Alarm
from plantguard.detection.alarms.policy import Policies
from plantguard.detection.signals import ConditionSignal, Severity
from plantguard.events.envelope import new_id

log = logging.getLogger("plantguard.alarms")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def plain(value: Any, depth: int = 0) -> Any:
    """JSON that both backends store: finite numbers, text keys, nothing exotic (a NaN in a
    detector's explanation must not make PostgreSQL refuse the whole batch)."""
    if depth > 20:
        return None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def explanation_of(sig: ConditionSignal) -> dict[str, Any]:
    """What a person needs to judge the alarm without opening a chart."""
    extra = dict(sig.explanation)
    out: dict[str, Any] = plain({
        "detector": extra.pop("detector", None) or sig.kind,
        "rule": extra.pop("rule", None) or sig.title or None,
        "threshold": extra.pop("threshold", None),
        "predicted_minutes": extra.pop("predicted_minutes", None),
        "score": sig.score,
        "contributions": [c.to_dict() for c in sig.contributions],
        "details": extra,
    })
    return out


RULE_ID_MAX = 2**31 - 1  # alarm.rule_id is an INTEGER column


def rule_id_of(sig: ConditionSignal) -> int | None:
    rid = sig.rule_id
    return rid if isinstance(rid, int) and 0 < rid <= RULE_ID_MAX else None


@dataclass
class Refs:
    equipment_id: int | None
    point_id: int | None
    area_id: int | None


@dataclass
class BatchCache:
    """Per-transaction lookups: policies and references of each enterprise, read once."""

    policies: dict[int, Policies] = field(default_factory=dict)
    refs: dict[tuple[int, int | None, int | None], Refs] = field(default_factory=dict)

    def policy(self, session: Session, enterprise_id: int) -> Policies:
        if enterprise_id not in self.policies:
            self.policies[enterprise_id] = Policies.load(session, enterprise_id)
        return self.policies[enterprise_id]

    def resolve_refs(self, session: Session, ent: int, equipment_id: int | None, point_id: int | None) -> Refs:
        """References inside the signal's enterprise only: a foreign id is dropped, never linked."""
        key = (ent, equipment_id, point_id)
        if key in self.refs:
            return self.refs[key]
        eq, pt = None, None
        if point_id is not None:
            row = session.execute(select(MeasurementPoint.id, MeasurementPoint.equipment_id).where(
                MeasurementPoint.id == point_id, MeasurementPoint.enterprise_id == ent)).first()
            if row is not None:
                pt, eq = int(row[0]), int(row[1])
        if equipment_id is not None and (eq is None or eq != equipment_id):
            found = session.scalar(select(Equipment.id).where(Equipment.id == equipment_id,
                                                              Equipment.enterprise_id == ent))
            eq = int(found) if found is not None else eq
        area = session.scalar(select(Equipment.area_id).where(Equipment.id == eq)) if eq is not None else None
        refs = Refs(eq, pt, int(area) if area is not None else None)
        self.refs[key] = refs
        return refs


class AlarmIntake:
    """The alarm lifecycle's entry point for signals and timers."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock = utc_now) -> None:
        self.factory = factory
        self.clock = clock

    # -- signals ---------------------------------------------------------------------------

    def apply(self, signals: Sequence[ConditionSignal]) -> None:
        """One transaction per batch. Two writers raising the same source at once meet on the
        one-open-alarm-per-source key; the loser retries and then finds the open alarm."""
        if not signals:
            return
        for attempt in range(3):
            try:
                with transaction(self.factory) as session:
                    self.apply_in(session, signals)
                return
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("alarm intake: concurrent raise of the same source, retrying the batch")

    def apply_in(self, session: Session, signals: Sequence[ConditionSignal],
                 cache: BatchCache | None = None) -> list[Alarm | None]:
        """Apply ``signals`` in the caller's transaction (oldest first); the alarm each touched."""
        cache = cache or BatchCache()
        ordered = sorted(range(len(signals)), key=lambda i: signals[i].ts)
        out: list[Alarm | None] = [None] * len(signals)
        for i in ordered:
            out[i] = self.apply_signal(session, signals[i], cache)
        return out

    def apply_signal(self, session: Session, sig: ConditionSignal, cache: BatchCache,
                     device_id: int | None = None) -> Alarm | None:
        ent = sig.enterprise_id
        latest = session.scalars(
            select(Alarm).where(Alarm.enterprise_id == ent, Alarm.source == sig.source)
            .order_by(Alarm.id.desc()).limit(1).with_for_update()).first()
        open_alarm = latest if latest is not None and latest.active else None
        if not sig.active:
            if open_alarm is not None and open_alarm.condition_ended_at is None and sig.ts >= open_alarm.last_active_at:
                lifecycle.condition_ended(session, open_alarm, sig.ts)
            return open_alarm
        if latest is not None and sig.ts <= latest.last_active_at:
            return latest  # a replay or a late copy: already counted
        if open_alarm is not None:
            self._refresh(session, open_alarm, sig)
            return open_alarm
        refs = cache.resolve_refs(session, ent, sig.equipment_id, sig.point_id)
        policy = cache.policy(session, ent).resolve(rule_id=rule_id_of(sig), equipment_id=refs.equipment_id,
                                                    kind=sig.kind)
        if (latest is not None and latest.cleared_at is not None and policy.throttle_s > 0
                and (sig.ts - latest.cleared_at).total_seconds() <= policy.throttle_s):
            self._reopen(session, latest, sig)
            return latest
        return self._raise(session, sig, refs, device_id)

    def _refresh(self, session: Session, alarm: Alarm, sig: ConditionSignal) -> None:
        alarm.last_active_at = sig.ts
        alarm.score = float(sig.score) if math.isfinite(sig.score) else alarm.score
        alarm.explanation = {**explanation_of(sig), "context": (alarm.explanation or {}).get("context")}
        if alarm.condition_ended_at is not None:  # the condition is back: one more occurrence
            alarm.condition_ended_at = None
            alarm.occurrences += 1
            lifecycle.repeated(session, alarm, sig.ts, notify=False)
        if sig.severity.rank < Severity(alarm.severity).rank:
            lifecycle.change_severity(session, alarm, sig.severity, sig.ts, "signal")

    def _reopen(self, session: Session, alarm: Alarm, sig: ConditionSignal) -> None:
        """A recurrence within the throttle window: the same alarm again, without notifying."""
        alarm.active = True
        alarm.open_key = alarm.source
        alarm.cleared_at = None
        alarm.cleared_by = None
        alarm.clear_reason = ""
        alarm.condition_ended_at = None
        alarm.occurrences += 1
        alarm.last_active_at = sig.ts
        alarm.severity_changed_at = sig.ts
        alarm.unack_escalated_at = sig.ts
        alarm.explanation = {**explanation_of(sig), "context": (alarm.explanation or {}).get("context")}
        session.flush()  # claims the open slot now: a concurrent raise fails here, not at commit
        lifecycle.repeated(session, alarm, sig.ts, notify=False, reopened=True)
        if sig.severity.rank < Severity(alarm.severity).rank:
            lifecycle.change_severity(session, alarm, sig.severity, sig.ts, "signal")

    def _raise(self, session: Session, sig: ConditionSignal, refs: Refs, device_id: int | None) -> Alarm:
        ent = sig.enterprise_id
        silenced = lifecycle.in_silence(session, ent, sig.ts, area_id=refs.area_id, equipment_id=refs.equipment_id,
                                        point_id=refs.point_id, rule_id=rule_id_of(sig))
        explanation = explanation_of(sig)
        explanation["context"] = (aligned_context(session, ent, refs.equipment_id, sig.ts)
                                  if refs.equipment_id is not None else None)
        score = float(sig.score) if math.isfinite(sig.score) else 0.0
        alarm = Alarm(enterprise_id=ent, source=sig.source, open_key=sig.source, kind=sig.kind,
                      severity=sig.severity.value, initial_severity=sig.severity.value, active=True,
                      acknowledged=False, title=sig.title[:200], equipment_id=refs.equipment_id,
                      point_id=refs.point_id, device_id=device_id, rule_id=rule_id_of(sig), score=score,
                      first_active_at=sig.ts, last_active_at=sig.ts, occurrences=1, escalation_level=0,
                      silenced=silenced, clear_reason="", context_id=new_id(), explanation=explanation)
        session.add(alarm)
        lifecycle.raised(session, alarm, sig.ts)
        return alarm

    # -- time ------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Timers and the watchdog for every enterprise, one transaction per enterprise."""
        from plantguard.detection.alarms.timers import tick_all

        return tick_all(self, now or self.clock())
