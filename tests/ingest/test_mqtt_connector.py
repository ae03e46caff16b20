"""The MQTT connector against real brokers: the shared Mosquitto on 127.0.0.1:1883 and, for
restarts, a private ``mosquitto`` on a free port (the shared one is never restarted here).

Topics and client ids carry a per-run id so parallel runs do not meet on the shared broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from plantguard.ingest.connector import BoundPoint, ConnectionLost, DeviceConfigError, DeviceSpec, Rejects
from plantguard.ingest.connectors.mqtt.connector import MqttConnector
from plantguard.ingest.connectors.mqtt.manifest import MqttConnection, MqttPoint
from plantguard.ingest.connectors.mqtt.publisher import BatchPublisher
from plantguard.ingest.reading import Quality, Reading, ReadingBatch, from_us, to_us
from tests.services import MQTT_URL, require_mqtt

RUN = uuid.uuid4().hex[:10]
HOST, PORT = "127.0.0.1", 1883
POINTS = 50  # readings per message
CODES = {f"P{i:02d}": (1000 + i, None, None) for i in range(POINTS)}
T0_US = 1_714_550_400_000_000


@pytest.fixture(scope="module", autouse=True)
def _shared_broker() -> None:
    require_mqtt()
    global HOST, PORT
    from urllib.parse import urlparse

    u = urlparse(MQTT_URL)
    HOST, PORT = u.hostname or HOST, u.port or PORT


def device(
    name: str, *, port: int | None = None, rules: Sequence[MqttPoint] = (), bound: Sequence[BoundPoint[Any]] = (),
    **conn: Any,
) -> DeviceSpec[MqttConnection, MqttPoint]:
    """A device reading ``<run>/<name>/<equipment>/telemetry`` in the batch format."""
    rules = rules or [MqttPoint(topic=f"{RUN}/{name}/+/telemetry", format="batch")]
    connection = MqttConnection(host=HOST, port=port or PORT, client_id=f"pg-test-{RUN}-{name}", **conn)
    points = (*bound, *(BoundPoint(0, "", r) for r in rules))
    return DeviceSpec(1, 1, f"MQTT-{name}", "mqtt", connection, points, known_points=dict(CODES))


class Sink:
    """The pipeline's ``emit``, counting what it was handed."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.batches: list[ReadingBatch] = []
        self.calls = 0

    async def __call__(self, readings: Sequence[Reading] | ReadingBatch) -> None:
        self.calls += 1
        if isinstance(readings, ReadingBatch):
            self.batches.append(readings)
            readings = [Reading(p, from_us(t), v, Quality(q)) for p, t, v, q in readings.rows()]
        self.readings.extend(readings)

    async def wait(self, n: int, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while len(self.readings) < n and time.monotonic() < end:
            await asyncio.sleep(0.01)
        assert len(self.readings) >= n, f"{len(self.readings)} of {n} readings"

    def keys(self) -> list[tuple[int, int]]:
        return [(r.point_id, to_us(r.ts)) for r in self.readings]


class Collected:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, str]] = []

    def __call__(self, reason: str, detail: str, raw: str, point_code: str) -> None:
        self.items.append((reason, detail, raw, point_code))


def publish(pub: BatchPublisher, name: str, count: int, start: int = 0, qos: int = 1) -> set[tuple[int, int]]:
    """``count`` batch messages of POINTS readings; returns the (point id, ts) keys sent."""
    sent: set[tuple[int, int]] = set()
    for i in range(start, start + count):
        ts = T0_US + i
        pub.publish(f"{RUN}/{name}/EQ{i % 7}/telemetry", {c: float(i) for c in CODES}, ts_us=ts, qos=qos)
        sent.update((pid, ts) for pid, _, _ in CODES.values())
    return sent


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


@contextlib.asynccontextmanager
async def running(conn: MqttConnector, sink: Sink) -> Any:
    await conn.connect()
    task = asyncio.create_task(conn.run(sink))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionLost):
            await task
        await conn.close()


# -- the shared broker ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_batch_messages_arrive_exactly_once(version: str) -> None:
    name = f"exact{version.replace('.', '')}"

    async def scenario() -> None:
        sink, rejects = Sink(), Collected()
        conn = MqttConnector(device(name, mqtt_version=version, clean_start=True), Rejects(rejects))
        async with running(conn, sink):
            with BatchPublisher(HOST, PORT, client_id=f"pub-{RUN}-{name}") as pub:
                sent = await in_thread(publish, pub, name, 300)
                await in_thread(pub.flush)
            await sink.wait(len(sent))
            await asyncio.sleep(0.2)  # nothing more may come
        assert len(sink.readings) == 300 * POINTS
        assert set(sink.keys()) == sent and len(set(sink.keys())) == len(sink.keys())
        assert sink.calls < 300  # many messages go to the pipeline per call
        assert rejects.items == []
        assert sink.batches and {b.enterprise_id for b in sink.batches} == {1}  # columns of the device's enterprise

    asyncio.run(scenario())


def test_persistent_session_keeps_what_was_published_while_away() -> None:
    name = "away"

    async def scenario() -> None:
        spec = device(name)
        first = MqttConnector(spec, Rejects(Collected()))
        await first.connect()  # the broker now has the session and its subscription
        await first.close()
        with BatchPublisher(HOST, PORT, client_id=f"pub-{RUN}-{name}") as pub:
            sent = await in_thread(publish, pub, name, 120)
            await in_thread(pub.flush)
        sink = Sink()
        again = MqttConnector(spec, Rejects(Collected()))
        async with running(again, sink):
            assert again.session_present
            await sink.wait(len(sent))
            await asyncio.sleep(0.2)
        assert sorted(sink.keys()) == sorted(sent)
        # a device removed for good: the broker drops the session instead of queuing forever
        await again.forget_session()
        await again.connect()
        assert not again.session_present
        await again.forget_session()

    asyncio.run(scenario())


def test_messages_not_handed_on_before_a_crash_are_delivered_again() -> None:
    """Acknowledged only after ``emit`` returned: a message stuck in a pipeline that never
    finished (the process died) comes back on the next session; nothing is lost or doubled."""
    name = "crash"

    async def scenario() -> None:
        spec = device(name)
        delivered: list[Reading] = []
        stuck = asyncio.Event()

        async def emit_then_hang(readings: Sequence[Reading] | ReadingBatch) -> None:
            if not delivered:
                if isinstance(readings, ReadingBatch):
                    readings = [Reading(p, from_us(t), v, Quality(q)) for p, t, v, q in readings.rows()]
                delivered.extend(readings)  # the first hand-over succeeds
                return
            stuck.set()
            await asyncio.Event().wait()  # the next one never completes

        first = MqttConnector(spec, Rejects(Collected()))
        await first.connect()
        task = asyncio.create_task(first.run(emit_then_hang))
        with BatchPublisher(HOST, PORT, client_id=f"pub-{RUN}-{name}") as pub:
            sent = await in_thread(publish, pub, name, 1)
            await in_thread(pub.flush)
            for _ in range(500):  # wait until the first message was handed on (and acknowledged)
                if delivered:
                    break
                await asyncio.sleep(0.01)
            sent |= await in_thread(publish, pub, name, 80, 1)
            await in_thread(pub.flush)
        await asyncio.wait_for(stuck.wait(), 10)
        task.cancel()  # the "crash": no acknowledgement for what was in the hung emit
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await first.close()

        sink = Sink()
        second = MqttConnector(spec, Rejects(Collected()))
        async with running(second, sink):
            await sink.wait(len(sent) - len(delivered))
            await asyncio.sleep(0.3)
        await second.forget_session()  # leave nothing behind on the shared broker
        keys = [(r.point_id, to_us(r.ts)) for r in delivered] + sink.keys()
        assert len(delivered) == POINTS
        assert sorted(keys) == sorted(sent)  # every reading once: none lost, none repeated

    asyncio.run(scenario())


def test_bad_messages_are_rejected_and_the_connector_keeps_running() -> None:
    name = "bad"
    fixed = MqttPoint(topic=f"{RUN}/{name}/single/{{equipment}}", field="v", point="FIX-1", ts="t")
    batch = MqttPoint(topic=f"{RUN}/{name}/+/telemetry", format="batch")

    async def scenario() -> None:
        sink, rejects = Sink(), Collected()
        spec = device(name, rules=[batch], bound=[BoundPoint(77, "FIX-1", fixed)], clean_start=True)
        async with running(MqttConnector(spec, Rejects(rejects)), sink):
            with BatchPublisher(HOST, PORT, client_id=f"pub-{RUN}-{name}") as pub:
                pub.publish_raw(f"{RUN}/{name}/EQ1/telemetry", b"{broken")
                pub.publish(f"{RUN}/{name}/EQ1/telemetry", {"P01": "high", "NOPE": 1.0, "P02": 2.0}, ts_us=T0_US)
                pub.publish_raw(f"{RUN}/{name}/single/x", b'{"v": "7.5", "t": "2024-05-01T08:00:00Z"}')
                pub.publish_raw(f"{RUN}/{name}/single/x", b'{"v": [1], "t": 1714550400}')
                sent = await in_thread(publish, pub, name, 10, 100)
                await in_thread(pub.flush)
            await sink.wait(len(sent) + 2)
            await asyncio.sleep(0.2)
        good = {(r.point_id, r.value) for r in sink.readings if to_us(r.ts) < T0_US + 100}
        assert good == {(1002, 2.0), (77, 7.5)}
        assert set(sink.keys()) - {(1002, T0_US), (77, 1714550400_000_000)} == sent
        assert sorted((r, code) for r, _, _, code in rejects.items) == [
            ("malformed", ""), ("unknown_point", "NOPE"), ("wrong_type", "FIX-1"), ("wrong_type", "P01")
        ]

    asyncio.run(scenario())


def test_nothing_listening_is_connection_lost() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused

        async def scenario() -> None:
            conn = MqttConnector(device("nobody", port=port, timeout_s=2), Rejects(Collected()))
            with pytest.raises(ConnectionLost):
                await conn.connect()
            with pytest.raises(ConnectionLost):
                await conn.run(Sink())
            await conn.close()

        asyncio.run(scenario())


# -- a private broker that can be restarted ---------------------------------------------------


class PrivateBroker:
    def __init__(self, directory: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = directory
        self.conf = directory / "mosquitto.conf"
        # persistence: the session and its queue survive a restart; no cap on queued messages
        # (Mosquitto's default of 1000 drops QoS 1 messages for a slow or absent client).
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {directory}/\nmax_queued_messages 0\nlog_dest file {directory}/broker.log\n"
            # started as root, Mosquitto would switch to its own user, who cannot write here
            f"user {getpass.getuser()}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("private mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: Mosquitto writes its persistence file on the way out
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    if shutil.which("mosquitto") is None:
        pytest.skip("no mosquitto binary to run a private broker")
    b = PrivateBroker(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


def test_broker_restart_loses_nothing(broker: PrivateBroker) -> None:
    """A restart while messages are on their way to us (emitted, not yet acknowledged) and one
    while messages wait in our session: the connector reports the loss, reconnects when told
    to, and every reading arrives exactly once."""
    name = "restart"

    async def scenario() -> None:
        sink = Sink()
        hold = asyncio.Event()
        hold.set()

        async def emit(readings: Sequence[Reading]) -> None:
            await hold.wait()
            await sink(readings)

        conn = MqttConnector(device(name, port=broker.port, inflight=50), Rejects(Collected()))
        pub = BatchPublisher("127.0.0.1", broker.port, client_id=f"pub-{RUN}-{name}").connect()
        try:
            await conn.connect()
            task = asyncio.create_task(conn.run(emit))
            sent = await in_thread(publish, pub, name, 20)
            await in_thread(pub.flush)
            await sink.wait(len(sent))

            # 1. messages in our pipeline, not acknowledged, when the broker goes down
            hold.clear()
            sent |= await in_thread(publish, pub, name, 20, 20)
            await in_thread(pub.flush)
            await asyncio.sleep(0.3)  # they reach us and wait in the held emit
            await in_thread(broker.stop)
            hold.set()  # the pipeline takes them; the acknowledgements have no connection to go to
            with pytest.raises(ConnectionLost):
                await asyncio.wait_for(task, 10)
            held = len(sink.readings)

            # 2. published while the broker is down (the publisher keeps them), then a second
            #    restart while they wait in our session on the broker
            sent |= await in_thread(publish, pub, name, 20, 40)
            await in_thread(broker.start)
            await in_thread(pub.flush)
            await in_thread(broker.stop)
            await in_thread(broker.start)
            await in_thread(pub.flush)

            await conn.connect()  # what the coordinator does after its back-off
            assert conn.session_present
            task = asyncio.create_task(conn.run(emit))
            await sink.wait(len(sent))
            await asyncio.sleep(0.3)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await conn.close()
            pub.close()
        assert held == 40 * POINTS
        assert sorted(sink.keys()) == sorted(sent)  # exactly once, across two restarts

    asyncio.run(scenario())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    """A private broker that wants a password: a plain listener and a TLS one (own test CA)."""
    if not all(shutil.which(b) for b in ("mosquitto", "mosquitto_passwd", "openssl")):
        pytest.skip("needs mosquitto, mosquitto_passwd and openssl")
    d = tmp_path_factory.mktemp("mosquitto-secured")

    def run(*cmd: str) -> None:
        subprocess.run(cmd, cwd=d, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca")
    run("openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "1", "-extfile", "san.ext")
    run("openssl", "req", "-x509", *ec, "-keyout", "other.key", "-out", "other-ca.crt", "-days", "1", "-subj", "/CN=x")
    run("mosquitto_passwd", "-b", "-c", str(d / "passwords"), "plant", "s3cret")
    plain, tls = _free_port(), _free_port()
    (d / "mosquitto.conf").write_text(
        f"user {getpass.getuser()}\nallow_anonymous false\npassword_file {d}/passwords\n"
        f"listener {plain} 127.0.0.1\n"
        f"listener {tls} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n"
    )
    proc = subprocess.Popen(["mosquitto", "-c", str(d / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", tls), 0.2).close()
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        yield plain, tls, d
    finally:
        proc.terminate()
        proc.wait(10)


def test_password_from_the_environment_and_tls(
    secured: tuple[int, int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, tls, d = secured
    monkeypatch.setenv("PG_TEST_MQTT_PW", "s3cret")
    monkeypatch.setenv("PG_TEST_MQTT_WRONG", "guess")
    auth: dict[str, Any] = {"username": "plant", "password_env": "PG_TEST_MQTT_PW", "clean_start": True}

    async def scenario() -> None:
        extras: list[tuple[int, dict[str, Any]]] = [(plain, {}), (tls, {"tls": True, "ca_file": str(d / "ca.crt")})]
        for port, extra in extras:
            conn = MqttConnector(device("secured", port=port, **auth, **extra), Rejects(Collected()))
            await conn.connect()
            await conn.close()
        wrong = MqttConnector(device("secured", port=plain, **{**auth, "password_env": "PG_TEST_MQTT_WRONG"}),
                              Rejects(Collected()))
        with pytest.raises(DeviceConfigError, match=r"Bad user name or password|Not authorized"):
            await wrong.connect()
        unset = MqttConnector(device("secured", port=plain, **{**auth, "password_env": "PG_TEST_MQTT_UNSET"}),
                              Rejects(Collected()))
        with pytest.raises(DeviceConfigError, match="PG_TEST_MQTT_UNSET"):
            await unset.connect()
        untrusted = MqttConnector(
            device("secured", port=tls, **auth, tls=True, ca_file=str(d / "other-ca.crt")), Rejects(Collected())
        )
        with pytest.raises(ConnectionLost, match="certificate"):
            await untrusted.connect()

    asyncio.run(scenario())
