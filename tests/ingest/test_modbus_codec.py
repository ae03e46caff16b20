"""Modbus registers: every type in every byte and word order, scale and offset, and the read
plan that merges neighbouring registers into few requests."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest

from plantguard.ingest.connectors.modbus import codec
from plantguard.ingest.connectors.modbus.manifest import ModbusPoint

ORDERS = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]
SAMPLES: dict[str, list[float]] = {
    "int16": [0, 1, -1, 12345, -32768, 32767],
    "uint16": [0, 1, 40000, 65535],
    "int32": [0, -1, 123456789, -(2**31), 2**31 - 1],
    "uint32": [0, 1, 3_000_000_000, 2**32 - 1],
    "float32": [0.0, 12.5, -3.25, 1.5e-3, 3.0e38],
    "float64": [0.0, 12.5, -1234.56789, 1e-300, 1.7e308],
    "bool": [0, 1],
}


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
@pytest.mark.parametrize("data_type", list(SAMPLES))
def test_round_trip_every_type_and_order(data_type: Any, byte_order: Any, word_order: Any) -> None:
    for value in SAMPLES[data_type]:
        regs = codec.encode(value, data_type, byte_order, word_order)
        assert len(regs) == codec.width(data_type)
        assert all(0 <= r <= 0xFFFF for r in regs)
        back = codec.decode(regs, data_type, byte_order, word_order)
        if data_type == "float32":
            assert back == pytest.approx(value, rel=1e-7)
        else:
            assert back == value


def test_orders_match_the_manual_names() -> None:
    """0x41480000 is 12.5 as float32; the four orders are the ABCD/CDAB/BADC/DCBA layouts."""
    assert codec.encode(12.5, "float32", "big", "big") == [0x4148, 0x0000]  # ABCD
    assert codec.encode(12.5, "float32", "big", "little") == [0x0000, 0x4148]  # CDAB
    assert codec.encode(12.5, "float32", "little", "big") == [0x4841, 0x0000]  # BADC
    assert codec.encode(12.5, "float32", "little", "little") == [0x0000, 0x4841]  # DCBA
    assert codec.encode(0x01020304, "uint32", "big", "little") == [0x0304, 0x0102]
    assert codec.encode(-2, "int16", "little") == [0xFEFF]
    regs = codec.encode(1.0, "float64", "big", "big")
    assert bytes(b for r in regs for b in r.to_bytes(2, "big")) == struct.pack(">d", 1.0)
    assert codec.decode([0x3FF0, 0, 0, 0], "float64") == 1.0
    assert codec.decode([0, 0, 0, 0x3FF0], "float64", "big", "little") == 1.0


def test_bad_values_and_registers_are_refused() -> None:
    with pytest.raises(codec.CodecError):
        codec.encode(70000, "uint16")
    with pytest.raises(codec.CodecError):
        codec.encode(-1, "uint32")
    with pytest.raises(codec.CodecError):
        codec.encode(1.5, "int16")
    with pytest.raises(codec.CodecError):
        codec.encode(1e39, "float32")
    with pytest.raises(codec.CodecError):
        codec.decode([1], "float32")
    with pytest.raises(codec.CodecError):
        codec.decode([0x10000], "uint16")
    # A device can hold NaN: decoding gives it back, the connector decides what it means.
    assert math.isnan(codec.decode(codec.encode(math.nan, "float32"), "float32"))


def test_scale_and_offset() -> None:
    assert codec.to_engineering(1234, 0.01, -5) == pytest.approx(7.34)
    raw = codec.from_engineering(7.34, "int16", 0.01, -5)
    assert raw == 1234
    assert codec.to_engineering(codec.decode(codec.encode(raw, "int16"), "int16"), 0.01, -5) == pytest.approx(7.34)
    assert codec.from_engineering(20.0, "float32", 2.0, 4.0) == 8.0
    with pytest.raises(codec.CodecError):
        codec.from_engineering(1.0, "int16", 0.0)


def _p(address: int, type_: str = "uint16", table: str = "holding") -> ModbusPoint:
    return ModbusPoint(point=f"P{address}", table=table, address=address, type=type_)


def test_plan_merges_adjacent_and_close_registers_per_table() -> None:
    points = [
        _p(0, "float32"), _p(2, "int16"), _p(3, "float64"),  # 0..6 adjacent
        _p(10, "uint16"),  # gap of 3 registers: merged with max_gap 8
        _p(100, "uint32"),  # far: own request
        _p(0, table="input"), _p(1, "int32", table="input"),
        _p(5, table="coil"), _p(7, table="coil"), _p(1000, table="coil"),
        _p(3, table="discrete"),
    ]
    reqs = codec.plan(points, max_gap=8, max_registers=120)
    as_tuples = [(r.table, r.address, r.count, r.points) for r in reqs]
    assert as_tuples == [
        ("holding", 0, 11, (0, 1, 2, 3)),
        ("holding", 100, 2, (4,)),
        ("input", 0, 3, (5, 6)),
        ("coil", 5, 3, (7, 8)),
        ("coil", 1000, 1, (9,)),
        ("discrete", 3, 1, (10,)),
    ]
    # Every point is read exactly once.
    assert sorted(i for r in reqs for i in r.points) == list(range(len(points)))


def test_plan_respects_gap_and_size_limits() -> None:
    points = [_p(0), _p(5), _p(11)]
    assert [(r.address, r.count) for r in codec.plan(points, max_gap=4, max_registers=120)] == [(0, 6), (11, 1)]
    assert [(r.address, r.count) for r in codec.plan(points, max_gap=0, max_registers=120)] == [(0, 1), (5, 1), (11, 1)]
    # 300 adjacent registers at most 120 per request: 120 + 120 + 60.
    many = [_p(a) for a in range(300)]
    reqs = codec.plan(many, max_gap=8, max_registers=120)
    assert [(r.address, r.count) for r in reqs] == [(0, 120), (120, 120), (240, 60)]
    assert all(r.count <= 120 for r in reqs)
    # A value is never torn over two requests, even when the limit is below its width.
    reqs = codec.plan([_p(0, "float64"), _p(4, "float32")], max_gap=0, max_registers=3)
    assert [(r.address, r.count) for r in reqs] == [(0, 4), (4, 2)]
    # The protocol maximum wins over a larger setting.
    big = [_p(a) for a in range(200)]
    assert max(r.count for r in codec.plan(big, max_gap=0, max_registers=10_000)) == codec.MAX_REGISTERS_PER_REQUEST


def test_plan_bits_up_to_2000_per_request() -> None:
    coils = [_p(a, table="coil") for a in range(0, 4500, 3)]
    reqs = codec.plan(coils, max_gap=8, max_registers=120)
    assert all(r.count <= codec.MAX_BITS_PER_REQUEST for r in reqs)
    assert len(reqs) == 3
    assert sum(len(r.points) for r in reqs) == len(coils)


def test_split_a_refused_request() -> None:
    points = [_p(0), _p(1), _p(5, "int32"), _p(7)]
    (merged,) = codec.plan(points, max_gap=8, max_registers=120)
    runs = codec.split(merged, points)
    assert [(r.address, r.count, r.points) for r in runs] == [(0, 2, (0, 1)), (5, 3, (2, 3))]
    singles = codec.split(runs[1], points)
    assert [(r.address, r.count, r.points) for r in singles] == [(5, 2, (2,)), (7, 1, (3,))]
    assert codec.split(singles[0], points) == [singles[0]]
