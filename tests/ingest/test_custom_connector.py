"""The custom line-protocol connector against real TCP peers on loopback.

Each test runs its own asyncio server or client in the test's event loop (they are cheap:
a listening socket on a free port), sending lines as a device would, good and bad mixed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from plantguard.core.context import locale_var
from plantguard.ingest import manifest
from plantguard.ingest.connector import BoundPoint, ConnectionLost, DeviceConfigError, DeviceSpec, Rejects
from plantguard.ingest.connectors.custom.connector import CustomConnector, LineSplitter, Overlong
from plantguard.ingest.connectors.custom.manifest import MANIFEST, CustomConnection, CustomPoint
from plantguard.ingest.reading import Quality, Reading


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are compared in English here; the catalogue would give Chinese by default."""
    token = locale_var.set("en")
    yield
    locale_var.reset(token)

TANK_RULE = {
    "name": "tank-level",
    "match": r"^TANK(?P<tank>\d+) FS_HI=(?P<hi>[01]) FS_LO=(?P<lo>[01]) T=(?P<temp>-?\d+\.\d+)$",
    "outputs": [
        {"point": "TK-{tank}-LVLSTATE", "value": "2 if hi == 1 else (1 if lo == 1 else 0)"},
        {"point": "TK-{tank}-TEMP", "value": "float(temp)"},
    ],
}
RULES = (
    TANK_RULE,
    {"name": "div", "match": r"^DIV (?P<d>\d+)$", "outputs": [{"point": "DIV-X", "value": "100 / d"}]},
    {"name": "txt", "match": r"^TXT (?P<t>\w+)$", "outputs": [{"point": "TXT-X", "value": "t"}]},
)
CODES = ["TK-1-LVLSTATE", "TK-1-TEMP", "TK-2-LVLSTATE", "TK-2-TEMP", "DIV-X", "TXT-X"]
ID = {code: 100 + i for i, code in enumerate(CODES)}


def device(mode: str, port: int, rules: Sequence[Any] = RULES, **conn: Any) -> DeviceSpec[CustomConnection,
                                                                                           CustomPoint]:
    connection = CustomConnection(mode=mode, host="127.0.0.1", port=port, **conn)
    points = tuple(BoundPoint(ID[code], code, CustomPoint(point=code)) for code in CODES)
    return DeviceSpec(device_id=1, enterprise_id=1, code="TANK-GAUGE", protocol="custom", connection=connection,
                      points=points, rules=tuple(rules))


@dataclass
class Sink:
    """The pipeline's side of a connector: where readings and rejects go."""

    readings: list[Reading] = field(default_factory=list)
    rejects: list[tuple[str, str, str, str]] = field(default_factory=list)
    batches: int = 0

    def __post_init__(self) -> None:
        self.reject = Rejects(lambda *args: self.rejects.append(args))

    async def emit(self, readings: Sequence[Reading]) -> None:
        self.batches += 1
        self.readings.extend(readings)

    def values(self) -> list[tuple[int, float | None]]:
        return [(r.point_id, r.value) for r in self.readings]

    def reasons(self) -> list[tuple[str, str]]:
        return [(reason, point) for reason, _detail, _raw, point in self.rejects]


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def serve(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


# -- tcp-client: PlantGuard connects to the device ------------------------------------------------------


def test_client_mode_emits_readings_rejects_bad_lines_and_keeps_reading() -> None:
    sink = Sink()

    async def device_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"TANK1 FS_HI=0 FS_LO=1 T=20.5\r\n")  # CRLF from a device: accepted with "\n"
        writer.write(b"\n   \n")  # keep-alives
        writer.write(b"TANK1 FS_HI=9 FS_LO=1 T=20.5\n")  # no rule matches
        writer.write(b"\xff\xfe TANK1\n")  # not UTF-8
        writer.write(b"X" * 300 + b"\n")  # longer than max_line_bytes
        writer.write(b"TANK9 FS_HI=1 FS_LO=0 T=1.0\n")  # both points outside the point map
        writer.write(b"DIV 0\n")  # the expression divides by zero
        writer.write(b"TXT hello\n")  # the value is text
        writer.write(b"DIV 4\n")
        await writer.drain()
        writer.write(b"TANK2 FS_HI=1 FS_LO=1 T=")  # a line split across two writes
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"-3.5\nTANK1 FS_HI=0 FS_LO=0 T=19.0")  # the last line without its terminator
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await serve(device_side)
        conn = CustomConnector(device("tcp-client", port_of(server), max_line_bytes=256), sink.reject)
        before = datetime.now(UTC)
        try:
            await conn.connect()
            with pytest.raises(ConnectionLost, match="closed the connection"):
                await asyncio.wait_for(conn.run(sink.emit), 5)
        finally:
            await conn.close()
            server.close()
            await server.wait_closed()
        assert all(before <= r.ts <= datetime.now(UTC) for r in sink.readings)

    asyncio.run(scenario())
    assert sink.values() == [
        (ID["TK-1-LVLSTATE"], 1.0), (ID["TK-1-TEMP"], 20.5), (ID["DIV-X"], 25.0),
        (ID["TK-2-LVLSTATE"], 2.0), (ID["TK-2-TEMP"], -3.5), (ID["TK-1-LVLSTATE"], 0.0), (ID["TK-1-TEMP"], 19.0),
    ]
    assert {(r.quality, r.source) for r in sink.readings} == {(Quality.GOOD, "custom:TANK-GAUGE")}
    assert sink.reasons() == [
        ("no_rule", ""), ("malformed", ""), ("malformed", ""), ("unknown_point", "TK-9-LVLSTATE"),
        ("unknown_point", "TK-9-TEMP"), ("expression", "DIV-X"), ("wrong_type", "TXT-X"),
    ]
    details = [d for _r, d, _raw, _p in sink.rejects]
    assert details[0] == "No rule matched the line"
    assert details[1] == "not utf-8 text: invalid start byte at byte 0"
    assert details[2] == "line longer than 256 bytes"
    assert details[3] == "rule tank-level, output 1: point TK-9-LVLSTATE is not in the device's point map"
    assert details[5] == "Rule div, output 1: expression failed: Division by zero"
    assert details[6] == "Rule txt, output 1: the value is not a number: 'hello'"
    raws = [raw for _r, _d, raw, _p in sink.rejects]
    assert raws[0] == "TANK1 FS_HI=9 FS_LO=1 T=20.5" and raws[2] == "X" * 200


def test_client_mode_connection_refused_is_connection_lost() -> None:
    async def scenario() -> None:
        server = await serve(lambda r, w: asyncio.sleep(0))
        port = port_of(server)
        server.close()
        await server.wait_closed()
        conn = CustomConnector(device("tcp-client", port), Sink().reject)
        with pytest.raises(ConnectionLost, match=f"cannot connect to 127.0.0.1:{port}"):
            await conn.connect()
        with pytest.raises(ConnectionLost, match="not connected"):
            await conn.run(Sink().emit)

    asyncio.run(scenario())


def test_client_mode_a_silent_peer_is_connection_lost_after_the_idle_timeout() -> None:
    sink = Sink()
    stop = asyncio.Event()

    async def device_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"TANK1 FS_HI=0 FS_LO=0 T=5.0\n")
        await writer.drain()
        await stop.wait()  # then nothing, connection open
        writer.close()

    async def scenario() -> None:
        server = await serve(device_side)
        conn = CustomConnector(device("tcp-client", port_of(server), idle_timeout_s=0.3), sink.reject)
        try:
            await conn.connect()
            with pytest.raises(ConnectionLost, match=r"no data from 127\.0\.0\.1:\d+ for 0\.3 s"):
                await asyncio.wait_for(conn.run(sink.emit), 5)
        finally:
            stop.set()
            await conn.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
    assert sink.values() == [(ID["TK-1-LVLSTATE"], 0.0), (ID["TK-1-TEMP"], 5.0)]


def test_client_mode_reconnects_after_a_lost_connection() -> None:
    """connect() after ConnectionLost opens a fresh session (the coordinator's retry)."""
    sink = Sink()
    sent = 0

    async def device_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        sent += 1
        writer.write(f"TANK1 FS_HI=0 FS_LO=1 T={sent}.0\n".encode())
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await serve(device_side)
        conn = CustomConnector(device("tcp-client", port_of(server)), sink.reject)
        try:
            for _ in range(2):
                await conn.connect()
                with pytest.raises(ConnectionLost):
                    await asyncio.wait_for(conn.run(sink.emit), 5)
        finally:
            await conn.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
    assert [v for p, v in sink.values() if p == ID["TK-1-TEMP"]] == [1.0, 2.0]


# -- tcp-server: devices connect to PlantGuard and push lines -----------------------------------------------


def test_server_mode_accepts_devices_that_push_lines() -> None:
    sink = Sink()

    async def push(port: int, payload: bytes, linger: float = 0.0) -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        await asyncio.sleep(linger)
        writer.close()
        await writer.wait_closed()

    async def scenario() -> None:
        conn = CustomConnector(device("tcp-server", 0, max_clients=2), sink.reject)
        await conn.connect()
        port = conn.bound_port
        assert port
        run = asyncio.create_task(conn.run(sink.emit))
        try:
            # two devices at once, one of them sending garbage between good lines
            await asyncio.gather(
                push(port, b"TANK1 FS_HI=1 FS_LO=0 T=30.0\n", linger=0.2),
                push(port, b"hello?\nTANK2 FS_HI=0 FS_LO=0 T=-1.5\n", linger=0.2),
            )
            await until(lambda: len(sink.readings) == 4)
            # both went away; the server keeps listening and takes a new connection
            assert not run.done()
            await push(port, b"DIV 5\n")
            await until(lambda: len(sink.readings) == 5)
            # at most max_clients at once: a third concurrent connection is closed at once
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await until(lambda: len(conn._clients) == 2)
            extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(extra_reader.read(), 5) == b""
            extra_writer.close()
            for _r, w in held:
                w.close()
            assert not run.done()
        finally:
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            await conn.close()
        # closed: nobody listens any more
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

    asyncio.run(scenario())
    assert sorted(sink.values()) == sorted([
        (ID["TK-1-LVLSTATE"], 2.0), (ID["TK-1-TEMP"], 30.0), (ID["TK-2-LVLSTATE"], 0.0), (ID["TK-2-TEMP"], -1.5),
        (ID["DIV-X"], 20.0)])
    ((reason, detail, raw, _point),) = sink.rejects
    assert (reason, raw) == ("no_rule", "hello?")
    assert detail.startswith("No rule matched the line (from 127.0.0.1:")


def test_server_mode_a_failing_pipeline_ends_run() -> None:
    class PipelineDown(Exception):
        pass

    async def emit(readings: Sequence[Reading]) -> None:
        raise PipelineDown("buffer full")

    async def scenario() -> None:
        conn = CustomConnector(device("tcp-server", 0), Sink().reject)
        await conn.connect()
        assert conn.bound_port
        run = asyncio.create_task(conn.run(emit))
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", conn.bound_port)
            writer.write(b"DIV 1\n")
            await writer.drain()
            with pytest.raises(PipelineDown):
                await asyncio.wait_for(run, 5)
            writer.close()
        finally:
            await conn.close()

    asyncio.run(scenario())


# -- configuration ---------------------------------------------------------------------------------------------


def test_invalid_rules_are_a_device_config_error() -> None:
    with pytest.raises(DeviceConfigError, match="needs parser rules"):
        CustomConnector(device("tcp-client", 1, rules=()), Sink().reject)
    bad = {**TANK_RULE, "outputs": [{"point": "TK-{tank}-X", "value": "open('/etc/passwd')"}]}
    with pytest.raises(DeviceConfigError, match=r"rules\.0\.outputs\.0\.value: Rule tank-level: open is not allowed"):
        CustomConnector(device("tcp-client", 1, rules=[bad]), Sink().reject)


@pytest.mark.parametrize("settings, fragment", [
    ({"mode": "tcp-client", "port": 4001}, "tcp-client needs the device's host"),
    ({"mode": "tcp-client", "host": "plc", "port": 0}, "needs the device's port"),
    ({"mode": "tcp-server", "port": 70000}, "less than or equal to 65535"),
    ({"host": "plc", "port": 1, "encoding": "klingon"}, "unknown encoding"),
    ({"host": "plc", "port": 1, "encoding": "utf-16"}, "not ASCII-compatible"),
    ({"host": "plc", "port": 1, "encoding": "rot13"}, "not a text encoding"),
    ({"host": "plc", "port": 1, "encoding": "ascii", "line_terminator": "¶"}, "cannot be written in ascii"),
    ({"host": "plc", "port": 1, "max_line_bytes": 10}, "greater than or equal to 16"),
    ({"host": "plc", "port": 1, "baud": 9600}, "Extra inputs are not permitted"),
])
def test_connection_settings_are_validated(settings: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        CustomConnection.model_validate(settings)


def test_the_manifest_is_registered() -> None:
    assert manifest.get("custom") is MANIFEST
    assert MANIFEST.mode == "push" and MANIFEST.connector_class() is CustomConnector
    ok = CustomConnection.model_validate({"host": "10.0.8.21", "port": 4001, "encoding": "GB18030",
                                         "line_terminator": "\r\n"})
    assert (ok.mode, ok.encoding, ok.max_line_bytes) == ("tcp-client", "gb18030", 4096)
    assert CustomPoint.model_validate({"point": "TK-1-TEMP"}).point == "TK-1-TEMP"


# -- splitting lines ---------------------------------------------------------------------------------------------


def test_line_splitter_handles_split_terminators_and_overlong_lines() -> None:
    s = LineSplitter(b"\r\n", max_bytes=8)
    assert s.feed(b"ab\r") == []
    assert s.feed(b"\ncd\r\nef") == [b"ab", b"cd"]
    assert s.feed(b"0123456789") == [Overlong(b"ef0123456789")]  # reported once, as soon as it is too long
    assert s.feed(b"abcdefghijkl") == []  # the rest of it is dropped, the buffer stays small
    assert len(s._buf) <= 8 + 1
    assert s.feed(b"xyz\r\nok\r\n") == [b"ok"]  # the end of the long line, then the next line
    assert s.feed(b"12345678\r\n123456789\r\n") == [b"12345678", Overlong(b"123456789")]
    assert s.feed(b"tail") == [] and s.flush() == [b"tail"] and s.flush() == []
