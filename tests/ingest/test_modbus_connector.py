"""The Modbus TCP connector against a real pymodbus server.

The server runs on its own event loop in a thread (as a PLC would run elsewhere); each test
drives the connector with ``asyncio.run``. Requests are counted at the server, from the
PDUs it receives, so "adjacent registers are read in one request" is a fact about the wire.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from plantguard.ingest.connector import BoundPoint, ConnectionLost, DeviceSpec, Rejects
from plantguard.ingest.connectors.modbus import codec
from plantguard.ingest.connectors.modbus.connector import ModbusConnector
from plantguard.ingest.connectors.modbus.manifest import ModbusConnection, ModbusPoint
from plantguard.ingest.reading import Quality, Reading

T = TypeVar("T")
ORDERS = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]
TYPES: list[tuple[str, float, float, float]] = [  # type, raw value, scale, offset
    ("int16", -1234, 0.1, 0.0),
    ("uint16", 54321, 1.0, -100.0),
    ("int32", -123456789, 0.001, 5.0),
    ("uint32", 3_000_000_000, 1.0, 0.0),
    ("float32", 12.5, 2.0, 1.0),
    ("float64", -1234.56789, 1.0, 0.5),
]
NAN_AT, INF_AT, GAP_AT, MISSING_AT = 56, 58, 52, 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopThread:
    """An event loop in a daemon thread, for servers that outlive one ``asyncio.run``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Layout:
    """Where the test server keeps what, and the points that read it."""

    typed: list[tuple[ModbusPoint, float]] = field(default_factory=list)  # point, expected value
    holding: list[SimData] = field(default_factory=list)
    inputs: list[SimData] = field(default_factory=list)


def layout() -> Layout:
    out = Layout()
    address = 0
    regs: list[int] = []
    for byte_order, word_order in ORDERS:
        for type_, raw, scale, offset in TYPES:
            spec = ModbusPoint(point=f"H-{type_}-{byte_order[0]}{word_order[0]}", table="holding", address=address,
                               type=type_, byte_order=byte_order, word_order=word_order,  # type: ignore[arg-type]
                               scale=scale, offset=offset)
            words = codec.encode(raw, type_, byte_order, word_order)  # type: ignore[arg-type]
            regs.extend(words)
            address += len(words)
            out.typed.append((spec, raw * scale + offset))
    # A 'bool' held in a register.
    out.typed.append((ModbusPoint(point="H-bool", address=address, type="bool"), 1.0))
    regs.append(7)
    out.holding.append(SimData(0, values=regs, datatype=DataType.REGISTERS))
    # 49..51 undefined (the device refuses reads that touch them), then a float behind the gap.
    out.holding.append(SimData(GAP_AT, values=codec.encode(99.5, "float32"), datatype=DataType.REGISTERS))
    out.holding.append(SimData(NAN_AT, values=codec.encode(math.nan, "float32") + codec.encode(math.inf, "float32"),
                               datatype=DataType.REGISTERS))
    # Input registers: a 4..20 mA style raw count scaled to °C, and a little-endian float.
    out.inputs.append(SimData(0, values=codec.encode(8000, "uint16") + codec.encode(3.5, "float32", "little", "little"),
                              datatype=DataType.REGISTERS))
    out.typed.append((ModbusPoint(point="I-count", table="input", address=0, type="uint16", scale=0.01, offset=-40),
                      40.0))
    out.typed.append((ModbusPoint(point="I-float", table="input", address=1, type="float32", byte_order="little",
                                  word_order="little"), 3.5))
    for i, bit in enumerate([True, False, True]):
        out.typed.append((ModbusPoint(point=f"C{i}", table="coil", address=i, type="bool"), 1.0 if bit else 0.0))
    for i, bit in enumerate([False, True]):
        out.typed.append((ModbusPoint(point=f"D{i}", table="discrete", address=i), 1.0 if bit else 0.0))
    return out


class Plc:
    """A pymodbus server holding the layout; counts the read requests it receives."""

    def __init__(self, loop: LoopThread, port: int | None = None) -> None:
        self.loop = loop
        self.port = port or free_port()
        self.requests: list[tuple[int, int, int]] = []  # function code, address, count
        self.server: ModbusTcpServer | None = None

    def _trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.requests.append((pdu.function_code, pdu.address, pdu.count))
        return pdu

    def start(self) -> None:
        lay = layout()

        async def go() -> ModbusTcpServer:
            device = SimDevice(id=1, simdata=(
                [SimData(0, values=[True, False, True], datatype=DataType.BITS)],
                [SimData(0, values=[False, True], datatype=DataType.BITS)],
                lay.holding,
                lay.inputs,
            ))
            server = ModbusTcpServer(device, address=("127.0.0.1", self.port), trace_pdu=self._trace)
            await server.serve_forever(background=True)
            return server

        self.server = self.loop.run(go())

    def stop(self) -> None:
        if self.server is not None:
            self.loop.run(self.server.shutdown())
            self.server = None


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="module")
def plc(loop_thread: LoopThread) -> Iterator[Plc]:
    server = Plc(loop_thread)
    server.start()
    yield server
    server.stop()


@dataclass
class Rejected:
    items: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __call__(self, reason: str, detail: str, raw: str, point_code: str) -> None:
        self.items.append((reason, detail, raw, point_code))


def device(port: int, specs: list[ModbusPoint], **conn: Any) -> DeviceSpec[ModbusConnection, ModbusPoint]:
    connection = ModbusConnection(host="127.0.0.1", port=port, unit_id=1, **conn)
    points = tuple(BoundPoint(point_id=100 + i, code=s.point, spec=s) for i, s in enumerate(specs))
    return DeviceSpec(device_id=1, enterprise_id=1, code="PLC-T", protocol="modbus", connection=connection,
                      points=points)


def poll(connector: ModbusConnector, times: int = 1) -> list[list[Reading]]:
    async def go() -> list[list[Reading]]:
        await connector.connect()
        try:
            return [list(await connector.read()) for _ in range(times)]
        finally:
            await connector.close()

    return asyncio.run(go())


def test_reads_every_type_order_and_table_in_one_request_per_table(plc: Plc) -> None:
    lay = layout()
    specs = [s for s, _ in lay.typed]
    rejected = Rejected()
    connector = ModbusConnector(device(plc.port, specs), Rejects(rejected))
    plc.requests.clear()
    (readings,) = poll(connector)
    assert len(readings) == len(specs)
    for reading, (spec, expected) in zip(readings, lay.typed, strict=True):
        assert reading.quality == Quality.GOOD, spec.point
        assert isinstance(reading.value, float)
        assert reading.value == pytest.approx(expected, rel=1e-9), spec.point
        assert reading.ts.tzinfo is not None and reading.source == "modbus:PLC-T"
    assert len({r.ts for r in readings}) == 1  # one poll, one timestamp
    assert rejected.items == []
    # 49 holding registers, 3 input registers, 3 coils, 2 discrete inputs: four requests on the wire.
    assert sorted(plc.requests) == [(1, 0, 3), (2, 0, 2), (3, 0, 49), (4, 0, 3)]


def test_exception_response_makes_only_that_point_bad(plc: Plc) -> None:
    specs = [ModbusPoint(point="OK", address=0, type="int16", scale=0.1),
             ModbusPoint(point="MISSING", address=MISSING_AT, type="uint16"),
             ModbusPoint(point="C-MISSING", table="coil", address=5000)]
    rejected = Rejected()
    (readings,) = poll(ModbusConnector(device(plc.port, specs), Rejects(rejected)))
    assert readings[0].quality == Quality.GOOD and readings[0].value == pytest.approx(-123.4)
    assert (readings[1].quality, readings[1].value) == (Quality.BAD, None)
    assert (readings[2].quality, readings[2].value) == (Quality.BAD, None)
    assert rejected.items == []  # a refused register is a quality matter, not bad input


def test_refused_merged_request_is_split_once_and_remembered(plc: Plc) -> None:
    specs = [ModbusPoint(point="BOOL", address=48, type="bool"),
             ModbusPoint(point="BEHIND-GAP", address=GAP_AT, type="float32")]
    connector = ModbusConnector(device(plc.port, specs, max_gap=8), Rejects(Rejected()))
    assert [(r.address, r.count) for r in connector.requests] == [(48, 6)]  # merged over the gap
    plc.requests.clear()
    first, second = poll(connector, times=2)
    for readings in (first, second):
        assert [(r.value, r.quality) for r in readings] == [(1.0, Quality.GOOD), (99.5, Quality.GOOD)]
    # Poll 1: the merged read (refused), then the two parts; poll 2: only the parts.
    assert plc.requests == [(3, 48, 6), (3, 48, 1), (3, 52, 2), (3, 48, 1), (3, 52, 2)]


def test_nan_and_infinity_are_rejected_as_wrong_type(plc: Plc) -> None:
    specs = [ModbusPoint(point="NAN", address=NAN_AT, type="float32"),
             ModbusPoint(point="INF", address=INF_AT, type="float32"),
             ModbusPoint(point="FINE", address=0, type="int16")]
    rejected = Rejected()
    (readings,) = poll(ModbusConnector(device(plc.port, specs), Rejects(rejected)))
    assert [(r.value, r.quality) for r in readings[:2]] == [(None, Quality.BAD), (None, Quality.BAD)]
    assert readings[2].quality == Quality.GOOD and readings[2].value == -1234.0
    assert [(r[0], r[3]) for r in rejected.items] == [("wrong_type", "NAN"), ("wrong_type", "INF")]
    assert "0x7FC0" in rejected.items[0][2]  # the registers as received


def test_absent_server_raises_connection_lost() -> None:
    connector = ModbusConnector(device(free_port(), [ModbusPoint(point="X", address=0)], timeout_s=0.5),
                                Rejects(Rejected()))
    with pytest.raises(ConnectionLost):
        asyncio.run(connector.connect())


def test_silent_peer_times_out_as_connection_lost() -> None:
    """A peer that accepts the TCP connection but never answers (a hung gateway)."""

    async def go() -> None:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(-1)
            writer.close()

        server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        connector = ModbusConnector(device(port, [ModbusPoint(point="X", address=0)], timeout_s=0.3),
                                    Rejects(Rejected()))
        try:
            await connector.connect()
            with pytest.raises(ConnectionLost):
                await connector.read()
            with pytest.raises(ConnectionLost):  # closed after the timeout: the coordinator reconnects
                await connector.read()
        finally:
            await connector.close()
            server.close()
            await server.wait_closed()

    asyncio.run(go())


def test_server_stop_then_reconnect_on_the_same_port(loop_thread: LoopThread) -> None:
    own = Plc(loop_thread)
    own.start()
    spec = ModbusPoint(point="F", address=GAP_AT, type="float32")
    connector = ModbusConnector(device(own.port, [spec], timeout_s=0.5), Rejects(Rejected()))

    async def go() -> None:
        await connector.connect()
        assert (await connector.read())[0].value == 99.5
        own.stop()
        with pytest.raises(ConnectionLost):
            for _ in range(20):  # the close reaches the client within a few loop turns
                await connector.read()
                await asyncio.sleep(0.05)
        with pytest.raises(ConnectionLost):
            await connector.connect()  # nothing listens
        own.start()
        await connector.connect()
        readings = await connector.read()
        assert (readings[0].value, readings[0].quality) == (99.5, Quality.GOOD)
        await connector.close()

    try:
        asyncio.run(go())
    finally:
        own.stop()
