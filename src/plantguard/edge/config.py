"""``edge.yaml``: what an edge box reads, which rules it runs, where it forwards to.

The devices are written exactly as for ``plantguard devices import`` (the same ``connection``
and ``points`` models, taken from each protocol's manifest), so a device block can be moved
between the server and an edge box unchanged. There is no database to resolve point codes to
ids, so every point is known by its code and given a *stable local id* derived from the code
(:func:`point_id`): the same code gets the same id on every start, which matters because
readings wait in the buffer across restarts as ids.

Detection rules are a deliberate subset of the server-side rule fields (``detector, params,
points, threshold, off_threshold, duration_s, severity``) plus a ``name``, so the two formats
can be unified later without changing edge files.

Every error names its field as a dotted path (``devices.0.points.3.address``,
``rules.1.params.window``, ``upstream.port``), all errors of a file at once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from plantguard.core.schemas import Code60, Name
from plantguard.detection.signals import Severity

MAX_CONFIG_BYTES = 5 * 1024 * 1024


class EdgeConfigError(ValueError):
    """The configuration cannot run; ``errors`` holds ``(field, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"{f}: {m}" for f, m in errors))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EdgeDevice(_Strict):
    """One device, in the ``plantguard devices import`` format."""

    code: Code60
    name: Name | Literal[""] = ""
    protocol: str = Field(min_length=1, max_length=40)
    enabled: bool = True
    poll_interval_s: float = Field(1.0, ge=0.05, le=86_400)
    connection: dict[str, Any] = Field(default_factory=dict)
    points: list[dict[str, Any]] = Field(default_factory=list, max_length=20_000)
    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=50)  # parser rules (MQTT payloads)
    notes: str = Field("", max_length=4000)


class EdgePoint(_Strict):
    """A point's range (for the range check) or a code a payload may name at run time."""

    code: Code60
    range_low: float | None = None
    range_high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> EdgePoint:
        if self.range_low is not None and self.range_high is not None and self.range_low >= self.range_high:
            raise ValueError("range_low must be below range_high")
        return self


class EdgeRule(_Strict):
    """A detector on one or more points. The detector reads each point's latest value under its
    code, and the first point's also as ``value`` (the default signal of one-signal detectors)."""

    name: Code60
    points: list[Code60] = Field(min_length=1, max_length=100)
    detector: str = Field(min_length=1, max_length=60)
    params: dict[str, Any] = Field(default_factory=dict)
    threshold: float = Field(0.5, gt=0, le=1)
    off_threshold: float | None = Field(None, ge=0, le=1)
    duration_s: float = Field(0.0, ge=0, le=86_400)
    severity: Severity = Severity.WARNING

    @model_validator(mode="after")
    def _hysteresis(self) -> EdgeRule:
        if self.off_threshold is not None and self.off_threshold > self.threshold:
            raise ValueError("off_threshold must not be above threshold")
        return self


class MqttUpstream(_Strict):
    kind: Literal["mqtt"]
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("plantguard/edge", min_length=1, max_length=200, pattern=r"^[^#+\x00]+$")
    qos: Literal[1, 2] = 1  # delivery is confirmed by the broker's acknowledgement; QoS 0 has none
    client_id: str = Field("", max_length=120)  # default: plantguard-edge-<edge_id>
    username_env: str = "PLANTGUARD_EDGE_MQTT_USERNAME"
    password_env: str = "PLANTGUARD_EDGE_MQTT_PASSWORD"
    keepalive_s: int = Field(30, ge=5, le=3600)
    ack_timeout_s: float = Field(10.0, gt=0, le=300)


class HttpUpstream(_Strict):
    kind: Literal["http"]
    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")  # the server's base URL
    token_env: str = "PLANTGUARD_EDGE_TOKEN"  # an HTTP device's token (pgd_...)
    readings_path: str = "/api/v1/ingest"
    alarms_path: str = "/api/v1/alarm-signals"
    timeout_s: float = Field(10.0, gt=0, le=300)


Upstream = Annotated[MqttUpstream | HttpUpstream, Field(discriminator="kind")]


class BufferConfig(_Strict):
    path: Path = Path("var/edge-buffer.sqlite")
    max_readings: int = Field(2_000_000, ge=1_000, le=500_000_000)  # full: the oldest are dropped
    max_signals: int = Field(100_000, ge=100, le=10_000_000)
    durability: Literal["normal", "full"] = "normal"  # "full": survive a power cut (fsync per append)
    batch_max_readings: int = Field(2_000, ge=1, le=50_000)  # per message / request upstream


class QualityLimits(_Strict):
    range_margin: float = Field(0.05, ge=0, le=10)
    max_future_s: float = Field(300.0, ge=0)
    max_past_s: float = Field(7 * 86_400.0, ge=0)


class EdgeConfig(_Strict):
    edge_id: Code60
    enterprise_id: int = Field(0, ge=0)  # informational: the server's enterprise these readings belong to
    upstream: Upstream
    buffer: BufferConfig = Field(default_factory=BufferConfig)
    limits: QualityLimits = Field(default_factory=QualityLimits)
    points: list[EdgePoint] = Field(default_factory=list, max_length=100_000)
    devices: list[EdgeDevice] = Field(min_length=1, max_length=1_000)
    rules: list[EdgeRule] = Field(default_factory=list, max_length=10_000)

    # -- derived ---------------------------------------------------------------------------

    def point_codes(self) -> dict[str, tuple[int, float | None, float | None]]:
        """Every point code this edge knows -> (local id, range low, range high)."""
        from plantguard.edge.devices import mapped_codes

        out: dict[str, tuple[int, float | None, float | None]] = {c: (point_id(c), None, None)
                                                                  for c in mapped_codes(self)}
        for p in self.points:
            out[p.code] = (point_id(p.code), p.range_low, p.range_high)
        return out


def point_id(code: str) -> int:
    """The stable local id of a point code: 56 bits of its BLAKE2b hash (never 0, which means
    "a map entry that names its points at run time")."""
    return int.from_bytes(hashlib.blake2b(code.encode(), digest_size=7).digest(), "big") or 1


def _loc(loc: tuple[Any, ...]) -> str:
    parts = list(loc)
    if len(parts) > 1 and parts[0] == "upstream" and parts[1] in ("mqtt", "http"):
        del parts[1]  # the discriminator's tag is not a field the user wrote
    return ".".join(str(p) for p in parts)


def pydantic_errors(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        loc = _loc(tuple(err["loc"]))
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "(file)")
        out.append((field, str(err["msg"]).removeprefix("Value error, ")))
    return out


def parse_config(doc: Any) -> EdgeConfig:
    """Validate a parsed document: the shape, then each device against its protocol, then the
    rules against the detectors and the known points. Raises :class:`EdgeConfigError`."""
    if not isinstance(doc, dict):
        raise EdgeConfigError([("(file)", "expected a mapping with edge_id, upstream, devices, ...")])
    try:
        cfg = EdgeConfig.model_validate(doc)
    except ValidationError as exc:
        raise EdgeConfigError(pydantic_errors(exc)) from None
    from plantguard.edge.detect import check_rules
    from plantguard.edge.devices import check_devices

    errors = check_devices(cfg)
    if not errors:  # rules name points, which the devices define
        errors += check_rules(cfg)
    if errors:
        raise EdgeConfigError(errors)
    return cfg


def load_config(path: Path | str) -> EdgeConfig:
    """Read and validate ``edge.yaml``. Relative buffer paths are relative to the working
    directory (as a service manager starts it), not to the file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise EdgeConfigError([("(file)", f"cannot read {p}: {exc.strerror}")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise EdgeConfigError([("(file)", f"larger than {MAX_CONFIG_BYTES // 1024 // 1024} MB")])
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise EdgeConfigError([("(file)", "not UTF-8 text")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise EdgeConfigError([("(file)", f"not valid YAML{where}")]) from None
    return parse_config(doc)


def secret(env_name: str) -> str | None:
    """A credential from the environment (never from the file, which is often world-readable)."""
    value = os.environ.get(env_name, "") if env_name else ""
    return value or None
