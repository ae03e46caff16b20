"""Words for the codes the sensing layer stores: quarantine reasons, device states, connector
modes and the field names of device configuration.

The database keeps short codes (``out_of_range``, ``offline``) so that they can be filtered
and counted; the console shows them in the reader's language through these maps. Codes a
newer connector invents are shown as they are rather than failing (see :func:`label`).
"""

from __future__ import annotations

from plantguard.core.i18n import N_, gettext

# Why input was quarantined: ingest/pipeline.py and the parser rules (ingest/rules.py).
REASON_LABELS: dict[str, str] = {
    "malformed": N_("Malformed input"),
    "wrong_type": N_("Wrong type"),
    "out_of_range": N_("Out of range"),
    "unknown_point": N_("Unknown point"),
    "clock_skew": N_("Timestamp out of tolerance"),
    "no_rule": N_("No rule matched"),
    "expression": N_("Expression failed"),
}

# A device's live state as the coordinator last wrote it (DeviceStatus.state), plus
# ``unknown`` for a device no connector has reported on yet.
STATE_LABELS: dict[str, str] = {
    "online": N_("Online"),
    "offline": N_("Offline"),
    "error": N_("Configuration error"),
    "starting": N_("Starting"),
    "disabled": N_("Disabled"),
    "unknown": N_("Unknown"),
}
STATES: tuple[str, ...] = tuple(STATE_LABELS)

MODE_LABELS: dict[str, str] = {
    "poll": N_("Polled by PlantGuard"),
    "push": N_("Receives data as the device sends it"),
    "api": N_("The device calls PlantGuard's HTTP API"),
}

# Device-level keys of the configuration, as people read them. Keys inside ``connection``,
# ``points`` and ``rules`` are the connector's own YAML keys and are shown as written.
FIELD_LABELS: dict[str, str] = {
    "devices": N_("Device"),
    "code": N_("Code"),
    "name": N_("Name"),
    "protocol": N_("Protocol"),
    "enabled": N_("Enabled"),
    "poll_interval_s": N_("Poll interval (s)"),
    "connection": N_("Connection"),
    "points": N_("Point map"),
    "rules": N_("Parser rules"),
    "notes": N_("Notes"),
    "file": N_("File"),
    "sample": N_("Sample line"),
}
_CONFIG_KEYS = frozenset({"connection", "points", "rules"})


def label(labels: dict[str, str], code: str, locale: str | None = None) -> str:
    """The translated label of ``code``, or the code itself when it has none."""
    message = labels.get(code)
    return gettext(message, locale) if message else code


def reason_label(code: str, locale: str | None = None) -> str:
    return label(REASON_LABELS, code, locale)


def state_label(code: str, locale: str | None = None) -> str:
    return label(STATE_LABELS, code, locale)


def field_label(path: str, locale: str | None = None) -> str:
    """``devices.1.points.0.address`` → ``Device 2 · Point map 1 · address``: device-level keys
    translated, list positions counted from 1, the connector's own keys as written in YAML."""
    parts: list[str] = []
    inside_config = False
    for part in path.split("."):
        if part.isdigit():
            parts.append(str(int(part) + 1))
        elif not inside_config and part in FIELD_LABELS:
            parts.append(gettext(FIELD_LABELS[part], locale))
            inside_config = part in _CONFIG_KEYS
        else:
            parts.append(part)
    return " · ".join(parts)
