"""Alarm analytics (thingsboard#12532): how often, how long, how fast acknowledged.

Counted: alarms raised in ``[since, until)``. Duration: raise to clear, or to ``now`` for an
alarm still active (so a long open alarm shows as long, not as missing). Severity is the one
the alarm was raised with: escalation later does not move an alarm between groups. MTTA is the
mean time from raise to acknowledgement over the acknowledged alarms; MTTC the same to clear.

Computed in Python from one narrow query: the period is bounded (a year at most), durations
are differences of timestamps that SQLite and PostgreSQL subtract differently, and a few
hundred thousand rows of five columns sum in well under a second.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.detection.alarms.models import KIND_LABELS, SEVERITY_LABELS, Alarm
from plantguard.detection.alarms.schemas import AnalyticsOut, GroupStats
from plantguard.detection.signals import Severity

MAX_PERIOD = timedelta(days=366)
DEFAULT_PERIOD = timedelta(days=30)
TOP_EQUIPMENT = 20


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def analytics(session: Session, actor: Actor, since: datetime | None = None, until: datetime | None = None,
              now: datetime | None = None) -> AnalyticsOut:
    actor.require(Perm.READ)
    now = now or utcnow()
    until = until or now
    since = since or until - DEFAULT_PERIOD
    if until <= since:
        raise ValidationFailed([FieldError("to", N_("Must be later than the start"))])
    if until - since > MAX_PERIOD:
        raise ValidationFailed([FieldError("from", N_("The period may be at most %(days)s days"), {"days": 366})])
    rows = session.execute(
        select(Alarm.kind, Alarm.equipment_id, Alarm.initial_severity, Alarm.first_active_at, Alarm.cleared_at,
               Alarm.acked_at)
        .where(Alarm.enterprise_id == actor.enterprise_id, Alarm.first_active_at >= since,
               Alarm.first_active_at < until)).all()
    groups: dict[str, dict[str, list[float]]] = {"kind": defaultdict(list), "equipment": defaultdict(list),
                                                  "severity": defaultdict(list)}
    durations: list[float] = []
    to_ack: list[float] = []
    to_clear: list[float] = []
    for kind, eq, sev, first, cleared, acked in rows:
        d = max(0.0, ((cleared or now) - first).total_seconds())
        durations.append(d)
        groups["kind"][kind].append(d)
        groups["equipment"]["" if eq is None else str(eq)].append(d)
        groups["severity"][sev].append(d)
        if acked is not None:
            to_ack.append(max(0.0, (acked - first).total_seconds()))
        if cleared is not None:
            to_clear.append(max(0.0, (cleared - first).total_seconds()))
    eq_ids = [int(k) for k in groups["equipment"] if k]
    names = {str(i): f"{c} {n}" for i, c, n in session.execute(
        select(Equipment.id, Equipment.code, Equipment.name).where(
            Equipment.enterprise_id == actor.enterprise_id, Equipment.id.in_(eq_ids)))} if eq_ids else {}

    def stats(key: str, label: str, values: list[float]) -> GroupStats:
        return GroupStats(key=key, label=label, count=len(values), total_s=sum(values), mean_s=_mean(values))

    by_kind = sorted((stats(k, _(KIND_LABELS[k]) if k in KIND_LABELS else k, v) for k, v in groups["kind"].items()),
                     key=lambda g: (-g.count, g.key))
    by_eq = sorted((stats(k, names.get(k, k or _("No equipment")), v)
                    for k, v in groups["equipment"].items()), key=lambda g: (-g.count, g.key))[:TOP_EQUIPMENT]
    by_sev = [stats(s.value, _(SEVERITY_LABELS[s.value]), groups["severity"].get(s.value, [])) for s in Severity]
    return AnalyticsOut(since=since, until=until, count=len(durations), total_s=sum(durations),
                        mean_s=_mean(durations), acknowledged=len(to_ack), mtta_s=_mean(to_ack),
                        mttc_s=_mean(to_clear), by_kind=by_kind, by_equipment=by_eq, by_severity=by_sev)
