"""MQTT: what a device's ``connection`` and point-map entries look like.

One point-map entry is a *rule*: a topic pattern, where the value is in the JSON payload and
which point it feeds. Three payload formats cover what plants publish::

    points:
      # one value per rule; {equipment} names a topic level and fills the point code
      - {topic: "plant/{equipment}/telemetry", field: readings.HP, point: "{equipment}-HP"}
      # many readings per message, keyed by point code (the plant simulator's format):
      #   {"ts": 1714550400123456, "readings": {"ST-P01-HP": 12.5, "ST-P01-OT": 41.0}}
      - {topic: "plantguard/DEMO/+/telemetry", format: batch}
      # a list of readings: [{"point": "ST-P01-HP", "ts": "...", "value": 12.5, "quality": "good"}]
      - {topic: "gateway/+/readings", format: array}

The syntax (topics, field paths, templates) is parsed here, so a wrong entry fails when the
device is imported with an error naming the field, not when the first message arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plantguard.core.i18n import N_
from plantguard.ingest.manifest import Manifest

# -- syntax ---------------------------------------------------------------------------------

Step = str | int  # a path step: an object key or a list index
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEY_VAR = "key"  # in batch and array formats, the point code the payload names


@dataclass(frozen=True, slots=True)
class TopicPattern:
    """A topic pattern: ``filter`` is what is subscribed to; ``names[i]`` names level ``i``
    when it was written ``{name}`` (a single-level wildcard whose value a template can use)."""

    filter: str
    levels: tuple[str, ...]  # of the filter: literals, "+" and "#"
    names: tuple[str | None, ...]


def parse_topic(pattern: str) -> TopicPattern:
    """``plant/{equipment}/telemetry``, ``plant/+/telemetry``, ``plant/#``; raises ValueError."""
    if not pattern:
        raise ValueError("empty topic")
    if "\x00" in pattern:
        raise ValueError("topic contains a NUL character")
    levels: list[str] = []
    names: list[str | None] = []
    raw = pattern.split("/")
    for i, level in enumerate(raw):
        if level.startswith("{") and level.endswith("}"):
            name = level[1:-1]
            if not _NAME.fullmatch(name):
                raise ValueError(f"level {i + 1}: {level!r} is not a valid name (letters, digits, _)")
            if name == KEY_VAR:
                raise ValueError(f"level {i + 1}: {{{KEY_VAR}}} is reserved for the point code a payload names")
            if name in names:
                raise ValueError(f"level {i + 1}: name {name!r} used twice")
            levels.append("+")
            names.append(name)
            continue
        if level == "#" and i != len(raw) - 1:
            raise ValueError("'#' must be the last level")
        if level not in ("+", "#") and any(c in level for c in "+#{}"):
            raise ValueError(f"level {i + 1}: {level!r}: a wildcard or {{name}} must be a whole level")
        levels.append(level)
        names.append(None)
    return TopicPattern("/".join(levels), tuple(levels), tuple(names))


def parse_path(path: str) -> tuple[Step, ...]:
    """``readings.HP``, ``data[0].value``, ``data[-1]``, ``readings["ST-P01.HP"]``; raises ValueError.

    Keys are split at dots; a key containing a dot or a bracket is written quoted in brackets.
    """
    if not path:
        raise ValueError("empty path")
    steps: list[Step] = []
    i, n = 0, len(path)
    key_allowed = True  # at the start and after a dot
    while i < n:
        c = path[i]
        if c == "[":
            m = _BRACKET.match(path, i)
            if m is None:
                raise ValueError(f"at {i + 1}: expected [index], [\"key\"] or ['key']")
            index, dq, sq = m.groups()
            steps.append(int(index) if index is not None else dq if dq is not None else sq)
            i, key_allowed = m.end(), False
        elif c == ".":
            if key_allowed or i + 1 == n:
                raise ValueError(f"at {i + 1}: '.' must stand between two steps")
            i, key_allowed = i + 1, True
        elif key_allowed and (m := _BARE_KEY.match(path, i)) is not None:
            steps.append(m.group())
            i, key_allowed = m.end(), False
        else:
            raise ValueError(f"at {i + 1}: unexpected {c!r}")
    return tuple(steps)


_BRACKET = re.compile(r"""\[(?:(-?\d+)|"([^"]*)"|'([^']*)')\]""")
_BARE_KEY = re.compile(r"[^.\[\]]+")


# A template part: literal text, a topic level name, the payload's point code, a payload path.
@dataclass(frozen=True, slots=True)
class Part:
    kind: Literal["text", "topic", "key", "payload"]
    text: str = ""  # the text, or the topic level name
    path: tuple[Step, ...] = ()


_TEMPLATE_VAR = re.compile(r"\{([^{}]*)\}")


def parse_template(template: str) -> tuple[Part, ...]:
    """``ST-P01-HP`` (fixed), ``{equipment}-HP`` (a topic level), ``{key}`` (the code the
    payload names), ``{$device.id}-HP`` (a payload field); raises ValueError."""
    parts: list[Part] = []
    pos = 0
    for m in _TEMPLATE_VAR.finditer(template):
        if m.start() > pos:
            parts.append(Part("text", template[pos: m.start()]))
        var = m.group(1).strip()
        if var.startswith("$"):
            parts.append(Part("payload", var, parse_path(var[1:].lstrip("."))))
        elif var == KEY_VAR:
            parts.append(Part("key"))
        elif _NAME.fullmatch(var):
            parts.append(Part("topic", var))
        else:
            raise ValueError(f"{{{var}}} is not a topic name, {{{KEY_VAR}}} or {{$path}}")
        pos = m.end()
    if pos < len(template):
        parts.append(Part("text", template[pos:]))
    for p in parts:
        if p.kind == "text" and ("{" in p.text or "}" in p.text):
            raise ValueError("unbalanced '{' or '}'")
    return tuple(parts)


def is_template(point: str | None) -> bool:
    return point is None or "{" in point


# -- models ---------------------------------------------------------------------------------

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class MqttConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)  # default 1883, or 8883 with TLS
    # Fixed so the broker keeps the session (subscriptions and queued QoS 1 messages) while
    # we are away; default "plantguard-<enterprise id>-<device code>".
    client_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    username: str | None = Field(None, min_length=1, max_length=200)
    # The name of an environment variable holding the password, never the secret itself.
    password_env: str | None = Field(None, max_length=100, pattern=_ENV_NAME)
    tls: bool = False
    ca_file: str | None = Field(None, min_length=1, max_length=500)  # PEM; default: the system's CAs
    keepalive: int = Field(30, ge=5, le=3600)  # seconds
    qos: Literal[0, 1] = 1
    clean_start: bool = False  # False: a persistent session; what comes at QoS 1 while we are away waits for us
    mqtt_version: Literal["3.1.1", "5"] = "5"
    # MQTT 5: how long the broker keeps our session after we disconnect (3.1.1: until we return).
    session_expiry_s: int = Field(7 * 86_400, ge=0, le=0xFFFFFFFF)
    # MQTT 5 Receive Maximum: unacknowledged QoS 1 messages the broker may have on their way to
    # us; it also bounds what waits in memory between the network thread and the pipeline.
    inflight: int = Field(1000, ge=1, le=65_535)
    timeout_s: float = Field(10.0, gt=0, le=120)  # connecting and subscribing

    @field_validator("mqtt_version", mode="before")
    @classmethod
    def _version_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _consistent(self) -> MqttConnection:
        if self.ca_file and not self.tls:
            raise ValueError("ca_file needs tls: true")
        if self.password_env and not self.username:
            raise ValueError("password_env needs a username")
        if self.mqtt_version == "5" and not self.clean_start and self.session_expiry_s == 0:
            raise ValueError("session_expiry_s must be above 0 for a persistent session (clean_start: false)")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (8883 if self.tls else 1883)


Format = Literal["value", "batch", "array"]


class MqttPoint(BaseModel):
    """One rule of the point map (see the module docstring for the three formats)."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=500)  # "+" / "#" wildcards; "{name}" a named "+"
    format: Format = "value"
    # The point code, or a template: "{equipment}-HP", "{key}" (the code the payload names,
    # batch and array formats), "{$device.id}-HP" (a payload field). batch/array default: "{key}".
    point: str | None = Field(None, min_length=1, max_length=200)
    # value: path to the value (default: the whole payload); batch: to the {code: value}
    # object (default "readings"); array: to the list (default: the whole payload).
    field: str | None = Field(None, min_length=1, max_length=300)
    # Path to the timestamp (ISO-8601, or epoch s/ms/µs/ns told apart by magnitude). Default:
    # "ts" for batch and array if present, otherwise the time the message arrived.
    ts: str | None = Field(None, min_length=1, max_length=300)
    quality: str | None = Field(None, min_length=1, max_length=300)  # path; good/uncertain/bad or 0/1/2
    scale: float = 1.0
    offset: float = 0.0  # value = raw * scale + offset

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        parse_topic(v)
        return v

    @field_validator("field", "ts", "quality")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None:
            parse_path(v)
        return v

    @field_validator("point")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            parse_template(v)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> MqttPoint:
        names = {n for n in parse_topic(self.topic).names if n}
        if self.point is None:
            if self.format == "value":
                raise ValueError("point is required with format: value")
            return self
        for part in parse_template(self.point):
            if part.kind == "topic" and part.text not in names:
                raise ValueError(f"point: {{{part.text}}} is not a named level of the topic ({self.topic})")
            if part.kind == "key" and self.format == "value":
                raise ValueError(f"point: {{{KEY_VAR}}} only exists in the batch and array formats")
        if self.format != "value" and sum(p.kind == "key" for p in parse_template(self.point)) != 1:
            raise ValueError(f"point: a {self.format} rule names many points; its template needs {{{KEY_VAR}}} once")
        return self

    @property
    def fixed_point(self) -> str | None:
        """The point code when the rule feeds exactly one known point (no template)."""
        return None if is_template(self.point) else self.point


MANIFEST = Manifest(
    protocol="mqtt",
    name=N_("MQTT"),
    mode="push",
    config_model=MqttConnection,
    point_model=MqttPoint,
    connector="plantguard.ingest.connectors.mqtt.connector:MqttConnector",
    requirements=("paho-mqtt",),
    documentation=__doc__ or "",
)
