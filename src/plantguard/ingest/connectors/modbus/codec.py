"""Modbus values to and from registers, and which requests read a point map.

Pure functions, shared by the connector (decode), the simulator and the tests (encode).

Byte and word order follow the two conventions devices actually differ in: ``byte_order`` is
the order of the two bytes inside each 16-bit register (Modbus itself says big-endian, some
devices swap them), ``word_order`` the order of the registers of a 32/64-bit value ("big":
most significant register first, the common "ABCD"; "little": "CDAB"). The four
combinations cover the ABCD / BADC / CDAB / DCBA names found in device manuals.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from plantguard.ingest.connectors.modbus.manifest import REGISTER_WIDTH, DataType, ModbusPoint

Order = Literal["big", "little"]
Table = Literal["holding", "input", "coil", "discrete"]

BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete"})
# Protocol limits per request (Modbus application protocol v1.1b3, 6.1-6.4).
MAX_BITS_PER_REQUEST = 2000
MAX_REGISTERS_PER_REQUEST = 125

_STRUCT: dict[str, str] = {
    "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d", "bool": "H",
}
_INT_RANGE: dict[str, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1), "bool": (0, 1),
}


class CodecError(ValueError):
    """A value that cannot be encoded, or registers that cannot be decoded."""


def width(data_type: DataType) -> int:
    """Registers a value of this type occupies (a bit counts as one)."""
    return REGISTER_WIDTH[data_type]


def _words(raw: bytes, byte_order: Order, word_order: Order) -> list[int]:
    words = [raw[i: i + 2] for i in range(0, len(raw), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def _bytes(registers: Sequence[int], byte_order: Order, word_order: Order) -> bytes:
    words = [int(r).to_bytes(2, "big") for r in registers]
    if byte_order == "little":
        words = [w[::-1] for w in words]
    if word_order == "little":
        words.reverse()
    return b"".join(words)


def encode(value: float | int | bool, data_type: DataType, byte_order: Order = "big",
           word_order: Order = "big") -> list[int]:
    """The registers that hold ``value`` (a raw, unscaled device value)."""
    code = _STRUCT[data_type]
    if data_type == "bool":
        value = 1 if value else 0
    if code in "fd":
        try:
            raw = struct.pack(">" + code, float(value))
        except (OverflowError, struct.error) as exc:
            raise CodecError(f"{value!r} does not fit in {data_type}") from exc
    else:
        if isinstance(value, float) and not value.is_integer():
            raise CodecError(f"{value!r} is not a whole number for {data_type}")
        low, high = _INT_RANGE[data_type]
        ivalue = int(value)
        if not low <= ivalue <= high:
            raise CodecError(f"{value!r} is outside the {data_type} range {low}..{high}")
        raw = struct.pack(">" + code, ivalue)
    return _words(raw, byte_order, word_order)


def decode(registers: Sequence[int], data_type: DataType, byte_order: Order = "big",
           word_order: Order = "big") -> float:
    """The raw device value held by ``registers`` (exactly the type's width)."""
    n = width(data_type)
    if len(registers) != n:
        raise CodecError(f"{data_type} needs {n} registers, got {len(registers)}")
    if any(not 0 <= int(r) <= 0xFFFF for r in registers):
        raise CodecError(f"register values outside 0..65535: {list(registers)}")
    raw = _bytes(registers, byte_order, word_order)
    (value,) = struct.unpack(">" + _STRUCT[data_type], raw)
    if data_type == "bool":
        return 1.0 if value else 0.0
    return float(value)


def to_engineering(raw: float, scale: float = 1.0, offset: float = 0.0) -> float:
    """``raw * scale + offset``: what the measurement point stores."""
    return raw * scale + offset


def from_engineering(value: float, data_type: DataType, scale: float = 1.0, offset: float = 0.0) -> float | int:
    """The raw device value that reads back as ``value`` (rounded for integer types); the
    simulator uses it to serve engineering values."""
    if scale == 0:
        raise CodecError("scale 0 cannot be inverted")
    raw = (value - offset) / scale
    if data_type in ("float32", "float64"):
        return raw
    if not math.isfinite(raw):
        raise CodecError(f"{value!r} has no {data_type} representation")
    return round(raw)


def registers_to_hex(registers: Sequence[int]) -> str:
    """Registers as shown to people (quarantine ``raw``): ``0x4148 0x0000``."""
    return " ".join(f"0x{int(r) & 0xFFFF:04X}" for r in registers)


# -- request planning --------------------------------------------------------------------


@dataclass(frozen=True)
class ReadRequest:
    """One read of a contiguous block of a table, and the points it serves (indices into the
    point list the plan was made from)."""

    table: Table
    address: int
    count: int
    points: tuple[int, ...]

    @property
    def end(self) -> int:
        return self.address + self.count


def plan(points: Sequence[ModbusPoint], *, max_gap: int = 8, max_registers: int = 120,
         indices: Sequence[int] | None = None) -> list[ReadRequest]:
    """The fewest requests that read every point: per table, points whose registers are at
    most ``max_gap`` apart share a request (the gap is read and discarded) as long as the
    request stays within ``max_registers`` registers (``MAX_BITS_PER_REQUEST`` bits for
    coils and discrete inputs, where a gap of ``max_gap`` registers counts as
    ``16 * max_gap`` bits: the same bytes on the wire).

    A single value wider than ``max_registers`` gets a request of its own width: a value is
    never split over two reads, which could tear it.
    """
    chosen = list(range(len(points))) if indices is None else list(indices)
    max_registers = max(1, min(max_registers, MAX_REGISTERS_PER_REQUEST))
    by_table: dict[str, list[int]] = {}
    for i in chosen:
        by_table.setdefault(points[i].table, []).append(i)
    out: list[ReadRequest] = []
    tables: tuple[Table, ...] = ("holding", "input", "coil", "discrete")
    for table in tables:
        members = by_table.get(table)
        if not members:
            continue
        bits = table in BIT_TABLES
        limit = MAX_BITS_PER_REQUEST if bits else max_registers
        gap = max_gap * 16 if bits else max_gap
        members.sort(key=lambda i: (points[i].address, width(points[i].type)))
        start = end = -1
        group: list[int] = []
        for i in members:
            p = points[i]
            p_end = p.address + span(p)
            if group and p.address - end <= gap and max(end, p_end) - start <= limit:
                end = max(end, p_end)
                group.append(i)
                continue
            if group:
                out.append(ReadRequest(table, start, end - start, tuple(group)))
            start, end, group = p.address, p_end, [i]
        out.append(ReadRequest(table, start, end - start, tuple(group)))
    return out


def split(request: ReadRequest, points: Sequence[ModbusPoint]) -> list[ReadRequest]:
    """Smaller requests for a request the device refused: first runs of strictly adjacent
    points (a refused gap register is the usual cause), then one request per point. A
    single-point request cannot be split: its point is bad."""
    if len(request.points) <= 1:
        return [request]
    runs = plan(points, max_gap=0, max_registers=request.count, indices=request.points)
    if len(runs) > 1:
        return runs
    return [ReadRequest(request.table, points[i].address, span(points[i]), (i,)) for i in request.points]


def span(p: ModbusPoint) -> int:
    """Registers (or bits) a point reads."""
    return 1 if p.table in BIT_TABLES else width(p.type)
