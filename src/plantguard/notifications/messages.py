"""Message templates: an event envelope → title, lines and link, in one recipient's language
and timezone.

Every template is a catalogue msgid (English) rendered with ``gettext(msgid, locale)``, so a
safety manager reading Chinese and a contractor reading English get the same event in their
own words. Times are shown in the recipient's timezone (Asia/Shanghai by default).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plantguard.core.i18n import N_, gettext
from plantguard.detection.alarms.models import SEVERITY_LABELS

DEFAULT_TZ = "Asia/Shanghai"

ALARM_EVENTS: tuple[str, ...] = ("alarm.raised", "alarm.escalated", "alarm.repeated")

TITLES: dict[str, str] = {
    "alarm.raised": N_("Alarm: %(title)s"),
    "alarm.escalated": N_("Alarm not acknowledged (escalation %(level)s): %(title)s"),
    "alarm.repeated": N_("Alarm again: %(title)s"),
    "workorder.created": N_("New work order %(number)s: %(title)s"),
    "workorder.dispatched": N_("Work order %(number)s dispatched: %(title)s"),
    "workorder.accepted": N_("Work order %(number)s taken on: %(title)s"),
    "workorder.updated": N_("Work order %(number)s updated: %(title)s"),
    "workorder.submitted": N_("Work order %(number)s awaits acceptance: %(title)s"),
    "workorder.rejected": N_("Work order %(number)s rejected: %(title)s"),
    "workorder.closed": N_("Work order %(number)s closed: %(title)s"),
    "workorder.cancelled": N_("Work order %(number)s cancelled: %(title)s"),
    "workorder.escalated": N_("Work order %(number)s escalated (level %(level)s): %(title)s"),
    "workorder.alarm_attached": N_("Repeated alarm joined work order %(number)s: %(title)s"),
    "inspection.missed": N_("Inspection missed: %(title)s"),
    "hazard.reported": N_("New hazard %(number)s: %(title)s"),
    "hazard.submitted": N_("Hazard %(number)s awaits acceptance: %(title)s"),
    "hazard.overdue": N_("Hazard %(number)s overdue (level %(level)s): %(title)s"),
    "permit.submitted": N_("Permit %(number)s submitted for approval"),
    "permit.approved": N_("Permit %(number)s approved"),
    "permit.rejected": N_("Permit %(number)s refused"),
    "permit.suspended": N_("Permit %(number)s suspended: stop work"),
}
# Why a permit was suspended (permits/contract.SuspendReason), as shown in a message.
PERMIT_SUSPEND_REASONS: dict[str, str] = {
    "gas_alarm": N_("gas reading over the permit's limit (GB 30871-2022 6.5)"),
    "break": N_("a break in the work"), "guardian": N_("stopped by the guardian"), "other": N_("Other"),
}

ESCALATION_REASONS: dict[str, str] = {"unacknowledged": N_("not acknowledged in time"), "overdue": N_("overdue")}

# Work-order priorities map onto alarm severities for rules' ``min_severity`` and urgency.
PRIORITY_SEVERITY: dict[str, str] = {"p1": "critical", "p2": "major", "p3": "minor", "p4": "warning"}
SEVERITY_RANK: dict[str, int] = {"warning": 1, "minor": 2, "major": 3, "critical": 4}


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    link: str  # console path, e.g. /alarms/12
    level: str
    link_label: str


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def local_time(at: datetime, tz: str | None) -> str:
    local = at.astimezone(zone(tz))
    return f"{local:%Y-%m-%d %H:%M} ({local.tzname()})"


def severity_of(event_type: str, payload: dict[str, Any]) -> str:
    """The alarm's severity, the work order's priority mapped onto one, a hazard's grade
    (重大 counts as major)."""
    if event_type.startswith("alarm."):
        return str(payload.get("severity") or "")
    if event_type.startswith("hazard."):
        return "major" if payload.get("grade") == "major" else ("minor" if payload.get("grade") else "")
    if event_type == "permit.suspended" and payload.get("reason") == "gas_alarm":
        return "critical"  # people are working in a gas over the limit: past quiet hours and throttling
    return PRIORITY_SEVERITY.get(str(payload.get("priority") or "").lower(), "")


def is_urgent(event_type: str, payload: dict[str, Any]) -> bool:
    """Critical alarms and P1 work orders bypass quiet hours and throttling."""
    return severity_of(event_type, payload) == "critical"


def _reading(value: Any) -> str:
    """A sensor value as people read it: four significant digits, not a float's seventeen."""
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def render(event_type: str, payload: dict[str, Any], occurred_at: datetime, *, locale: str, tz: str | None,
           equipment: str = "") -> Rendered:
    def t(msgid: str, **params: Any) -> str:
        return gettext(msgid, locale, **params)

    title_tpl = TITLES[event_type]
    is_alarm = event_type.startswith("alarm.")
    title_text = str(payload.get("title") or "") or (str(payload.get("kind") or "") if is_alarm else "")
    params = {"title": title_text, "number": str(payload.get("number") or payload.get("id") or ""),
              "level": str(payload.get("level") or "")}
    if event_type == "alarm.escalated" and not params["level"]:
        params["level"] = "1"
    lines: list[str] = []
    if is_alarm:
        sev = str(payload.get("severity") or "")
        level = t(SEVERITY_LABELS[sev]) if sev in SEVERITY_LABELS else sev
        lines.append(t(N_("Severity: %(value)s"), value=level))
        link = f"/alarms/{payload.get('alarm_id')}"
    else:
        prio = str(payload.get("priority") or "").upper()
        level = prio
        if prio:
            lines.append(t(N_("Priority: %(value)s"), value=prio))
        link = (f"/hazards/{payload.get('id')}" if event_type.startswith("hazard.")
                else "/inspections" if event_type.startswith("inspection.")
                else f"/permits/{payload.get('id')}" if event_type.startswith("permit.")
                else f"/workorders/{payload.get('id')}")
    if equipment:
        lines.append(t(N_("Equipment: %(value)s"), value=equipment))
    lines.append(t(N_("Time: %(value)s"), value=local_time(occurred_at, tz)))
    due = payload.get("due_at")
    if due and not is_alarm:
        with contextlib.suppress(ValueError):
            lines.append(t(N_("Due: %(value)s"), value=local_time(datetime.fromisoformat(str(due)), tz)))
    if event_type == "workorder.escalated" and payload.get("reason") in ESCALATION_REASONS:
        lines.append(t(N_("Reason: %(value)s"), value=t(ESCALATION_REASONS[str(payload["reason"])])))
    elif event_type == "permit.suspended" and payload.get("reason") in PERMIT_SUSPEND_REASONS:
        lines.append(t(N_("Reason: %(value)s"), value=t(PERMIT_SUSPEND_REASONS[str(payload["reason"])])))
        if payload.get("value") is not None:
            lines.append(t(N_("Reading: %(value)s (limit %(limit)s)"), value=_reading(payload["value"]),
                           limit=payload.get("limit")))
    elif payload.get("reason"):
        lines.append(t(N_("Reason: %(value)s"), value=str(payload["reason"])[:500]))
    if payload.get("note"):
        lines.append(t(N_("Note: %(value)s"), value=str(payload["note"])[:500]))
    return Rendered(title=t(title_tpl, **params)[:300], body="\n".join(lines), link=link, level=level,
                    link_label=t(N_("Open in PlantGuard")))


def render_digest(titles: list[str], count: int, *, locale: str) -> Rendered:
    body = "\n".join(f"- {x}" for x in titles[:10])
    if count > 10:
        body += "\n" + gettext("… and %(n)s more", locale, n=count - 10)
    return Rendered(title=gettext("%(n)s notifications held back by throttling", locale, n=count), body=body,
                    link="/notifications", level="", link_label=gettext("Open in PlantGuard", locale))
