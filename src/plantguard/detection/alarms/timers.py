"""The tick: time rules on open alarms and the no-data / offline watchdog.

Every rule counts whole periods from a stored stamp and moves that stamp by whole periods, so
a tick that runs late (or a test that jumps an hour) applies exactly the steps that are due,
and running the same tick twice changes nothing the second time.

- **auto-clear**: the condition ended ``auto_clear_after_s`` ago and did not come back;
- **escalation**: the condition has held for ``escalate_after_s`` since the last severity
  change: one level more severe per period, up to critical;
- **downgrade**: the condition ended but the alarm is not cleared: one level less severe per
  ``downgrade_after_s``, down to warning;
- **unacknowledged escalation**: nobody acknowledged an active alarm within
  ``unack_escalate_after_s``: ``alarm.escalated`` with the next level, again every period;
- **no data**: an enabled point whose newest reading is older than ``no_data_after_s`` gets a
  ``no_data`` alarm, notified again every ``repeat_no_data_s`` while it lasts and cleared
  when data returns;
- **offline**: a device the coordinator reports offline gets an ``offline`` alarm, repeated the
  same way and cleared when it is back online.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.db import transaction
from plantguard.core.i18n import N_
from plantguard.detection.alarms import lifecycle
from plantguard.detection.alarms.models import Alarm
from plantguard.detection.alarms.policy import Policies
from plantguard.detection.signals import ConditionSignal, Severity, SignalKind
from plantguard.ingest.models import Device, DeviceStatus
from plantguard.tenancy.models import Enterprise
from plantguard.timeseries.models import PointLast

if TYPE_CHECKING:
    from plantguard.detection.alarms.intake import AlarmIntake, BatchCache

log = logging.getLogger("plantguard.alarms")

NO_DATA_SEVERITY = Severity.MINOR
OFFLINE_SEVERITY = Severity.MAJOR
_US = 1_000_000
# History notes of the system: catalogue ids, translated when shown.
NOTE_NO_DATA = N_("Still no data")
NOTE_DATA_BACK = N_("Data returned")
NOTE_POINT_GONE = N_("The point is no longer watched")
NOTE_OFFLINE = N_("Still offline")
NOTE_ONLINE = N_("The device is back online")
NOTE_DEVICE_GONE = N_("The device is no longer watched")


def _periods(now: datetime, since: datetime, period_s: int) -> int:
    return int((now - since).total_seconds() // period_s) if period_s > 0 and now > since else 0


def tick_all(intake: AlarmIntake, now: datetime) -> dict[str, int]:
    counts: Counter[str] = Counter()
    with intake.factory() as session:
        enterprises = [int(e) for e in session.scalars(select(Enterprise.id).order_by(Enterprise.id))]
    for ent in enterprises:
        try:
            with transaction(intake.factory) as session:
                counts.update(tick_enterprise(intake, session, ent, now))
        except Exception:  # one enterprise's trouble must not stop the others' alarms
            log.exception("alarm tick failed for enterprise %s", ent)
            counts["failed"] += 1
    return dict(counts)


def tick_enterprise(intake: AlarmIntake, session: Session, ent: int, now: datetime) -> Counter[str]:
    from plantguard.detection.alarms.intake import BatchCache

    cache = BatchCache()
    policies = cache.policy(session, ent)
    counts: Counter[str] = Counter()
    counts.update(watch_points(intake, session, cache, ent, now))
    counts.update(watch_devices(intake, session, cache, ent, now))
    counts.update(run_timers(session, policies, ent, now))
    return counts


def run_timers(session: Session, policies: Policies, ent: int, now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    alarms = session.scalars(select(Alarm).where(Alarm.enterprise_id == ent, Alarm.active.is_(True))
                             .order_by(Alarm.id).with_for_update()).all()
    for a in alarms:
        p = policies.resolve(rule_id=a.rule_id, equipment_id=a.equipment_id, kind=a.kind)
        ended = a.condition_ended_at
        if ended is not None and p.auto_clear_after_s > 0 and _periods(now, ended, p.auto_clear_after_s) >= 1:
            lifecycle.clear(session, a, now, lifecycle.SYSTEM, "auto")
            counts["auto_cleared"] += 1
            continue
        sev = Severity(a.severity)
        if ended is None and p.escalate_after_s > 0 and sev != Severity.CRITICAL:
            since = a.severity_changed_at or a.first_active_at
            steps = _periods(now, since, p.escalate_after_s)
            if steps:
                lifecycle.change_severity(session, a, sev.raised(steps), now, "escalation")
                a.severity_changed_at = since + timedelta(seconds=steps * p.escalate_after_s)
                counts["escalated_severity"] += 1
        if ended is not None and p.downgrade_after_s > 0 and sev != Severity.WARNING:
            since = max(ended, a.severity_changed_at or ended)
            steps = _periods(now, since, p.downgrade_after_s)
            if steps:
                lifecycle.change_severity(session, a, sev.lowered(steps), now, "downgrade")
                a.severity_changed_at = since + timedelta(seconds=steps * p.downgrade_after_s)
                counts["downgraded"] += 1
        if not a.acknowledged and p.unack_escalate_after_s > 0:
            since = a.unack_escalated_at or a.first_active_at
            steps = _periods(now, since, p.unack_escalate_after_s)
            if steps:
                lifecycle.escalate(session, a, now, steps, since + timedelta(seconds=steps * p.unack_escalate_after_s))
                counts["escalated_unack"] += 1
    return counts


def _open_by_source(session: Session, ent: int, kind: str) -> dict[str, Alarm]:
    rows = session.scalars(select(Alarm).where(Alarm.enterprise_id == ent, Alarm.active.is_(True),
                                               Alarm.kind == kind).with_for_update())
    return {a.source: a for a in rows}


def _remind(session: Session, alarm: Alarm, now: datetime, repeat_s: int, note: str) -> bool:
    last = alarm.last_notified_at or alarm.first_active_at
    if repeat_s > 0 and _periods(now, last, repeat_s) >= 1:
        lifecycle.repeated(session, alarm, now, notify=True, note=note)
        return True
    return False


# Equipment expected to be silent or flat: a machine being repaired, or taken out of service.
# (Its points are still recorded when they report; only "no data" is not an alarm there.)
QUIET_EQUIPMENT = ("retired", "maintenance")


def watch_points(intake: AlarmIntake, session: Session, cache: BatchCache, ent: int, now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    policies = cache.policy(session, ent)
    open_alarms = _open_by_source(session, ent, SignalKind.NO_DATA.value)
    rows = session.execute(
        select(MeasurementPoint.id, MeasurementPoint.code, MeasurementPoint.name, MeasurementPoint.equipment_id,
               PointLast.ts)
        .join(PointLast, PointLast.point_id == MeasurementPoint.id)
        .join(Equipment, Equipment.id == MeasurementPoint.equipment_id)
        .where(MeasurementPoint.enterprise_id == ent, MeasurementPoint.enabled.is_(True),
               Equipment.status.not_in(QUIET_EQUIPMENT))).all()
    now_us = int(now.timestamp() * _US)
    for pid, code, name, eq, last_ts in rows:
        p = policies.resolve(equipment_id=eq, kind=SignalKind.NO_DATA.value)
        source = f"nodata:{pid}"
        alarm = open_alarms.pop(source, None)
        silent_s = (now_us - int(last_ts)) / _US
        if p.no_data_after_s > 0 and silent_s > p.no_data_after_s:
            if alarm is None:
                sig = ConditionSignal(
                    enterprise_id=ent, source=source, kind=SignalKind.NO_DATA.value, active=True, ts=now,
                    severity=NO_DATA_SEVERITY, equipment_id=int(eq), point_id=int(pid), title=f"{code} {name}"[:200],
                    explanation={"detector": SignalKind.NO_DATA.value, "threshold": p.no_data_after_s,
                                 "last_reading_us": int(last_ts), "silent_s": round(silent_s, 1)})
                intake.apply_signal(session, sig, cache)
                counts["no_data_raised"] += 1
            elif _remind(session, alarm, now, p.repeat_no_data_s, NOTE_NO_DATA):
                counts["no_data_repeated"] += 1
        elif alarm is not None:
            lifecycle.clear(session, alarm, now, lifecycle.SYSTEM, "auto", note=NOTE_DATA_BACK)
            counts["no_data_cleared"] += 1
    for alarm in open_alarms.values():  # the point was disabled, retired or deleted
        lifecycle.clear(session, alarm, now, lifecycle.SYSTEM, "auto", note=NOTE_POINT_GONE)
        counts["no_data_cleared"] += 1
    return counts


def watch_devices(intake: AlarmIntake, session: Session, cache: BatchCache, ent: int, now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    p = cache.policy(session, ent).resolve(kind=SignalKind.OFFLINE.value)
    open_alarms = _open_by_source(session, ent, SignalKind.OFFLINE.value)
    rows = session.execute(
        select(Device.id, Device.code, Device.name, DeviceStatus.state, DeviceStatus.last_seen)
        .join(DeviceStatus, DeviceStatus.device_id == Device.id)
        .where(Device.enterprise_id == ent, Device.enabled.is_(True))).all()
    for did, code, name, state, last_seen in rows:
        source = f"offline:{did}"
        alarm = open_alarms.pop(source, None)
        if state == "offline":
            if alarm is None:
                sig = ConditionSignal(
                    enterprise_id=ent, source=source, kind=SignalKind.OFFLINE.value, active=True, ts=now,
                    severity=OFFLINE_SEVERITY, title=f"{code} {name}".strip()[:200],
                    explanation={"detector": SignalKind.OFFLINE.value, "device": code,
                                 "last_seen": last_seen.isoformat() if last_seen else None})
                intake.apply_signal(session, sig, cache, device_id=int(did))
                counts["offline_raised"] += 1
            elif _remind(session, alarm, now, p.repeat_no_data_s, NOTE_OFFLINE):
                counts["offline_repeated"] += 1
        elif state == "online" and alarm is not None:
            lifecycle.clear(session, alarm, now, lifecycle.SYSTEM, "auto", note=NOTE_ONLINE)
            counts["offline_cleared"] += 1
        # starting / error: neither proof of life nor of absence; an open alarm stays as it is.
    for alarm in open_alarms.values():  # the device was disabled or deleted
        lifecycle.clear(session, alarm, now, lifecycle.SYSTEM, "auto", note=NOTE_DEVICE_GONE)
        counts["offline_cleared"] += 1
    return counts
