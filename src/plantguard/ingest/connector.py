"""What a connector implements, and what it is given.

A connector only knows its protocol: ``connect``, then ``read`` (polling) or ``run``
(push), then ``close``; on trouble it raises a :class:`ConnectorError`. Everything else
(reconnecting with back-off, availability, marking points bad while a device is away,
validation, buffering) belongs to the coordinator and the pipeline, so that every protocol
behaves the same when the network fails. [Home Assistant's ``DataUpdateCoordinator``]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from plantguard.ingest.reading import Reading, ReadingBatch


class ConnectorError(Exception):
    """Base of every error a connector raises; the coordinator reconnects after it."""


class ConnectionLost(ConnectorError):
    """The peer is unreachable or the session dropped."""


class DeviceConfigError(ConnectorError):
    """The device's configuration cannot work (the coordinator does not retry it until the
    configuration changes)."""


C = TypeVar("C", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class BoundPoint(Generic[P]):
    """One point-map entry, validated, with the measurement point it feeds."""

    point_id: int
    code: str
    spec: P  # the protocol's point model: a register, a node id, a topic and field path ...
    range_low: float | None = None
    range_high: float | None = None


@dataclass(frozen=True)
class DeviceSpec(Generic[C, P]):
    """A device as its connector sees it: validated settings and the bound point map."""

    device_id: int
    enterprise_id: int
    code: str
    protocol: str
    connection: C
    points: tuple[BoundPoint[P], ...]
    poll_interval_s: float = 1.0
    rules: tuple[Any, ...] = ()
    # Point codes of the enterprise not in the map but allowed to be named by the payload
    # (MQTT and HTTP carry point codes in their messages): code -> (point id, low, high).
    known_points: dict[str, tuple[int, float | None, float | None]] = field(default_factory=dict)
    version: str = ""  # changes whenever the device's configuration does

    @property
    def source(self) -> str:
        return f"{self.protocol}:{self.code}"


class Rejects:
    """Where a connector reports input it could not use; the pipeline quarantines it with the
    reason and counts it per device. Reporting never raises, so a bad frame never stops a
    connector."""

    def __init__(self, report: Callable[[str, str, str, str], None]) -> None:
        self._report = report

    def __call__(self, reason: str, detail: str, raw: str | bytes = "", point_code: str = "") -> None:
        if isinstance(raw, bytes):
            raw = raw[:4000].decode("utf-8", "replace")
        self._report(reason, detail, raw[:2000], point_code)


# Readings as objects, or already as columns (connectors that decode many per message).
Emit = Callable[[Sequence[Reading] | ReadingBatch], Awaitable[None]]


class Connector(ABC, Generic[C, P]):
    """Base of both kinds. ``self.device`` is the validated spec; ``self.reject`` reports bad input."""

    def __init__(self, device: DeviceSpec[C, P], reject: Rejects) -> None:
        self.device = device
        self.reject = reject

    @abstractmethod
    async def connect(self) -> None:
        """Open the session; raise :class:`ConnectionLost` when the peer is not there."""

    async def close(self) -> None:
        """Release the session; must not raise."""


class PollingConnector(Connector[C, P]):
    @abstractmethod
    async def read(self) -> Sequence[Reading]:
        """One poll of every mapped point. Points that could not be read come back with
        ``Quality.BAD``; a lost session raises :class:`ConnectionLost`."""


class PushConnector(Connector[C, P]):
    @abstractmethod
    async def run(self, emit: Emit) -> None:
        """Receive until cancelled, handing readings to ``emit`` as they arrive. Return or
        raise :class:`ConnectionLost` when the session ends; the coordinator reconnects."""
