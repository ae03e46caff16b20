"""The dashboard's sensing panel: devices, points out of bounds, rejected input.

Served as its own fragment (``/dashboard/sensing``), refreshed by htmx, because it reads
readings and device status, which are not audited: the rest of the dashboard comes from the
version-validated read cache, this part never does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.models import Device, DeviceStatus, QuarantinedInput
from plantguard.timeseries.query import last_values


@dataclass
class SensingSummary:
    devices: int = 0
    states: Counter[str] = field(default_factory=Counter)
    points: int = 0
    with_value: int = 0
    alarm: int = 0
    warning: int = 0
    stale: int = 0
    bad: int = 0
    rejected_24h: int = 0


def sensing_summary(session: Session, actor: Actor, now: datetime | None = None) -> SensingSummary:
    actor.require(Perm.READ)
    now = now or datetime.now(UTC)
    s = SensingSummary()
    rows = session.execute(
        select(Device.enabled, DeviceStatus.state).outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
        .where(Device.enterprise_id == actor.enterprise_id)).all()
    s.devices = len(rows)
    for enabled, state in rows:
        s.states["disabled" if not enabled else (state or "unknown")] += 1
    for p in last_values(session, actor, now=now):
        s.points += 1
        if p.value is None and p.quality is None:
            continue
        s.with_value += 1
        s.alarm += p.state == "alarm"
        s.warning += p.state == "warning"
        s.stale += p.stale
        s.bad += p.quality == 2
    s.rejected_24h = int(session.scalar(
        select(func.count()).select_from(QuarantinedInput).where(
            QuarantinedInput.enterprise_id == actor.enterprise_id,
            QuarantinedInput.received_at >= now - timedelta(hours=24))) or 0)
    return s
