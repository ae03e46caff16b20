"""The one typed object at the ingest boundary.

Every connector, whatever its protocol, emits :class:`Reading`; nothing downstream knows
where a value came from except through ``source``. Batches travel columnar
(:class:`ReadingBatch`): four flat arrays pack into bytes for the durable buffer and the bus
without a per-reading object, and go to the database as arrays in one statement.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Quality(IntEnum):
    """Per-reading quality, in the three classes OPC UA and most SCADA systems use."""

    GOOD = 0
    UNCERTAIN = 1  # e.g. a substituted or stale value, a sensor reporting it is unsure
    BAD = 2  # no usable value: communication lost, sensor fault (value may be None)


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch; naive datetimes are taken as UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def now_us() -> int:
    return to_us(datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class Reading:
    point_id: int
    ts: datetime  # timezone-aware UTC
    value: float | None
    quality: Quality = Quality.GOOD
    source: str = ""  # connector and device, e.g. "modbus:PLC-ST01"


_HEADER = struct.Struct("<4sI")
_MAGIC = b"PGR1"


@dataclass
class ReadingBatch:
    """Readings of one enterprise as columns. ``value`` is NaN where a reading has none."""

    enterprise_id: int
    point_id: array[int] = field(default_factory=lambda: array("q"))
    ts: array[int] = field(default_factory=lambda: array("q"))  # µs since epoch
    value: array[float] = field(default_factory=lambda: array("d"))
    quality: array[int] = field(default_factory=lambda: array("b"))

    def __len__(self) -> int:
        return len(self.point_id)

    def append(self, point_id: int, ts_us: int, value: float | None, quality: int = 0) -> None:
        self.point_id.append(point_id)
        self.ts.append(ts_us)
        self.value.append(math.nan if value is None else float(value))
        self.quality.append(int(quality))

    def add(self, r: Reading) -> None:
        self.append(r.point_id, to_us(r.ts), r.value, r.quality)

    @classmethod
    def of(cls, enterprise_id: int, readings: Iterable[Reading]) -> ReadingBatch:
        b = cls(enterprise_id)
        for r in readings:
            b.add(r)
        return b

    def rows(self) -> Iterator[tuple[int, int, float | None, int]]:
        for p, t, v, q in zip(self.point_id, self.ts, self.value, self.quality, strict=True):
            yield p, t, (None if math.isnan(v) else v), q

    def extend(self, other: ReadingBatch) -> None:
        assert other.enterprise_id == self.enterprise_id
        self.point_id.extend(other.point_id)
        self.ts.extend(other.ts)
        self.value.extend(other.value)
        self.quality.extend(other.quality)

    # -- bytes, for the durable buffer and the bus -----------------------------------------

    def to_bytes(self) -> bytes:
        n = len(self)
        head = _HEADER.pack(_MAGIC, n) + struct.pack("<q", self.enterprise_id)
        return b"".join((head, _le(self.point_id), _le(self.ts), _le(self.value), self.quality.tobytes()))

    @classmethod
    def from_bytes(cls, data: bytes) -> ReadingBatch:
        magic, n = _HEADER.unpack_from(data, 0)
        if magic != _MAGIC:
            raise ValueError("not a reading batch")
        (ent,) = struct.unpack_from("<q", data, _HEADER.size)
        off = _HEADER.size + 8
        b = cls(ent)
        for name, code in (("point_id", "q"), ("ts", "q"), ("value", "d")):
            a: array[Any] = array(code)
            a.frombytes(data[off: off + 8 * n])
            if _BIG_ENDIAN:
                a.byteswap()
            setattr(b, name, a)
            off += 8 * n
        b.quality = array("b", data[off: off + n])
        if len(b.quality) != n:
            raise ValueError("truncated reading batch")
        return b


_BIG_ENDIAN = array("H", [1]).tobytes() == b"\x00\x01"


def _le(a: array[Any]) -> bytes:
    if _BIG_ENDIAN:  # pragma: no cover - x86 and ARM Linux are little-endian
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def split_by_enterprise(readings: Sequence[tuple[int, Reading]]) -> dict[int, ReadingBatch]:
    """``(enterprise_id, reading)`` pairs grouped into one batch per enterprise."""
    out: dict[int, ReadingBatch] = {}
    for ent, r in readings:
        out.setdefault(ent, ReadingBatch(ent)).add(r)
    return out
