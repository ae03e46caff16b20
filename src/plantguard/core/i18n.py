"""Translation catalogue: gettext ``.po`` files, Simplified Chinese by default, English.

Message ids are English. The ``.po`` files under ``plantguard/locale`` are read with Babel
at start-up and compiled in memory, so there is no build step and ``pybabel extract`` /
``update`` keep working for translators.
"""

from __future__ import annotations

import io
from functools import cache
from importlib import resources
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from plantguard.core.context import locale_var

LOCALES: tuple[str, ...] = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_LABELS = {"zh_CN": "简体中文", "en": "English"}


@cache
def translations(locale: str) -> NullTranslations:
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    po = resources.files("plantguard").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def gettext(message: str, locale: str | None = None, **params: Any) -> str:
    text = translations(locale or locale_var.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, locale: str | None = None, **params: Any) -> str:
    text = translations(locale or locale_var.get()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext


def N_(message: str) -> str:
    """Mark a message id for extraction; it is translated later, where it is shown."""
    return message


def negotiate(requested: str | None, accept_language: str | None) -> str:
    """Pick a locale: explicit choice, then the browser's languages, then zh_CN."""
    if requested:
        norm = requested.replace("-", "_")
        for loc in LOCALES:
            if norm.lower() == loc.lower() or norm.lower().split("_")[0] == loc.lower().split("_")[0]:
                return loc
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().replace("-", "_").lower()
            if tag.startswith("zh"):
                return "zh_CN"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LOCALE


# Field names as users read them; the message id is the English label.
FIELD_LABELS: dict[str, str] = {
    "code": N_("Code"), "name": N_("Name"), "type": N_("Type"), "model": N_("Model"), "maker": N_("Maker"),
    "install_date": N_("Install date"), "criticality": N_("Criticality"), "status": N_("Status"), "notes": N_("Notes"),
    "area_id": N_("Area"), "equipment_id": N_("Equipment"), "quantity": N_("Quantity"), "unit": N_("Unit"),
    "range_low": N_("Range low"), "range_high": N_("Range high"), "low_alarm": N_("Low alarm"),
    "low_warning": N_("Low warning"), "high_warning": N_("High warning"), "high_alarm": N_("High alarm"),
    "enabled": N_("Enabled"), "employee_no": N_("Employee no."), "phone": N_("Phone"), "email": N_("E-mail"),
    "job_title": N_("Job title"), "team_id": N_("Team"), "active": N_("Active"), "skills": N_("Skills"),
    "certificates": N_("Certificates"), "shift": N_("Shift"), "leader_id": N_("Team leader"),
    "description": N_("Description"), "username": N_("User name"), "password": N_("Password"), "role": N_("Role"),
    "limit": N_("Limit"), "offset": N_("Offset"), "q": N_("Search"), "kind": N_("Kind"), "number": N_("Number"),
    "issued_by": N_("Issued by"), "issued_on": N_("Issued on"), "expires_on": N_("Expires on"),
    "person_id": N_("Person"), "display_name": N_("Display name"), "body": N_("Request body"),
    "entity_type": N_("Record type"), "entity_id": N_("Record"), "site_id": N_("Site"),
    "locale": N_("Language"), "password_hash": N_("Password"), "is_demo": N_("Demo data"),
    "address": N_("Address"), "plan_width": N_("Plan width"), "plan_height": N_("Plan height"),
    "polygon": N_("Outline on the plan"), "grant_type": N_("Grant type"), "scope": N_("Scope"),
    # sensing
    "protocol": N_("Protocol"), "connection": N_("Connection"), "points": N_("Point map"),
    "rules": N_("Parser rules"), "poll_interval_s": N_("Poll interval (s)"), "devices": N_("Devices"),
    "point": N_("Point"), "value": N_("Value"), "ts": N_("Time"), "quality": N_("Quality"),
    "readings": N_("Readings"), "host": N_("Host"), "port": N_("Port"), "match": N_("Pattern"),
    "outputs": N_("Outputs"), "timezone": N_("Time zone"), "sample": N_("Sample line"),
    "received_at": N_("Received at"), "file": N_("File"), "header": N_("Header line"),
    "table": N_("Register table"), "node": N_("Node"), "topic": N_("Topic"),
    "endpoint": N_("Server endpoint"), "device_code": N_("Device code"), "device_name": N_("Device name"),
    "max_nodes": N_("Nodes to look at, at most"), "root": N_("Start node"), "mode": N_("Receive values by"),
    "timeout_s": N_("Time limit (s)"), "existing": N_("Existing point"),
    "from": N_("From"), "to": N_("To"), "agg": N_("Aggregation"), "at": N_("Time"), "confidence": N_("Confidence"),
    "unit_id": N_("Unit id"), "scale": N_("Scale"),
    # detection rules and alarms
    "condition": N_("Condition"), "overrides": N_("Per-point overrides"), "detector": N_("Detector"),
    "params": N_("Parameters"), "threshold": N_("Threshold"), "off_threshold": N_("Clear threshold"),
    "duration_s": N_("Duration (s)"), "clear_duration_s": N_("Clear duration (s)"), "severity": N_("Severity"),
    "any": N_("Any of"), "all": N_("All of"), "point_id": N_("Point"), "rule_id": N_("Rule"),
    "signals": N_("Signals"), "source": N_("Source"), "reason": N_("Reason"), "until": N_("Until"),
    # work orders and notifications
    "title": N_("Title"), "priority": N_("Priority"), "assignee_id": N_("Assignee"), "note": N_("Note"),
    "cancel_reason": N_("Reason for cancelling"), "signature": N_("Signature"),
    "ack_minutes": N_("Acknowledge within (min)"),
    "resolve_minutes": N_("Resolve within (min)"), "alarm_id": N_("Alarm"), "channel_id": N_("Channel"),
    "sender": N_("Sender"), "secret": N_("Signing secret"), "url": N_("Webhook URL"),
    "quiet_start": N_("Quiet hours from"),
    "quiet_end": N_("Quiet hours until"), "min_severity": N_("Lowest severity"), "event_types": N_("Event types"),
    "roles": N_("Roles"), "muted": N_("Muted channels"), "at_mobiles": N_("Mobiles to @"),
    "security": N_("Connection security"),
    # contractors
    "credit_code": N_("Unified social credit code"), "contact_name": N_("Contact person"),
    "contact_phone": N_("Contact phone"), "agreement_until": N_("Safety agreement valid until"),
    "company_id": N_("Contractor company"), "kind_code": N_("Kind code"), "held_on": N_("Held on"),
    "trainer": N_("Trainer"), "hours": N_("Hours"), "score": N_("Score"), "passed": N_("Passed"),
    "valid_until": N_("Valid until"), "days": N_("Days"), "on": N_("Date"),
}


def translate_field(path: str, locale: str | None = None) -> str:
    """``certificates.0.expires_on`` → ``Certificates 1 · Expires on`` in the caller's language."""
    parts: list[str] = []
    for part in path.split("."):
        if part.isascii() and part.isdigit():
            parts.append(str(int(part) + 1))
        else:
            parts.append(gettext(FIELD_LABELS.get(part, part), locale))
    return " · ".join(parts)
