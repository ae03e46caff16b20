"""Real parts for the edge tests: a pymodbus server whose registers the test sets, a subscriber
on the shared Mosquitto, an HTTP receiver, and the edge runner on its own event loop."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from plantguard.edge.config import EdgeConfig, parse_config
from plantguard.edge.runner import EdgeRunner

T = TypeVar("T")
RUN = uuid.uuid4().hex[:8]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class LoopThread:
    """An event loop in a daemon thread (servers and the edge runner outlive one call)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Plc:
    """A pymodbus TCP server with ``n`` holding registers (uint16) the test sets with ``regs[i] = v``."""

    def __init__(self, n: int, port: int | None = None) -> None:
        self.n = n
        self.port = port or free_port()
        self.regs = [0] * n
        self.lt = LoopThread()
        self.server: Any = None

    async def _action(self, _fc: int, _start: int, _address: int, _count: int, registers: list[int],
                      _set: Any) -> None:
        registers[: self.n] = self.regs

    def start(self) -> Plc:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def go() -> Any:
            device = SimDevice(id=1, simdata=[SimData(address=0, values=[0] * self.n, datatype=DataType.REGISTERS)],
                               action=partial(self._action))
            server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            await server.serve_forever(background=True)
            return server

        self.server = self.lt.run(go())
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.lt.run(self.server.shutdown())
            self.server = None
        self.lt.stop()


class Watcher:
    """Subscribes on the real broker and keeps every message's decoded JSON, by topic suffix."""

    def __init__(self, topic: str, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-test-watch-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise AssertionError("no SUBACK from the broker")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((msg.topic.rsplit("/", 1)[-1], json.loads(msg.payload)))

    def docs(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for k, d in self.messages if k == kind]

    def readings(self) -> list[dict[str, Any]]:
        return [r for d in self.docs("readings") for r in d["readings"]]

    def signals(self) -> list[dict[str, Any]]:
        return [s for d in self.docs("alarms") for s in d["signals"]]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Receiver:
    """A real HTTP server standing in for PlantGuard's API: records every POST; answers 503
    while ``failing`` is set."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.failing = False
        self.refused_503 = 0
        self.status_by_path: dict[str, int] = {}  # answer these paths with this status
        self.refused_by_path = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.failing:
                    outer.refused_503 += 1
                    self._answer(503, {"error": "maintenance"})
                    return
                status = outer.status_by_path.get(self.path)
                if status is not None:
                    outer.refused_by_path += 1
                    self._answer(status, {"error": "no such endpoint"})
                    return
                doc = json.loads(body)
                outer.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, doc))
                n = len(doc.get("readings", doc.get("signals", [])))
                self._answer(200, {"accepted": n, "refused": 0, "errors": []})

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def docs(self, path: str) -> list[dict[str, Any]]:
        return [d for p, _, d in list(self.posts) if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config(buffer: Path, plc_port: int, n: int, upstream: dict[str, Any], **kw: Any) -> EdgeConfig:
    return parse_config(config_doc(buffer, plc_port, n, upstream, **kw))


def config_doc(buffer: Path, plc_port: int, n: int, upstream: dict[str, Any], *,
               rules: Sequence[dict[str, Any]] = (), edge_id: str | None = None, poll_s: float = 0.1,
               batch: int = 2000) -> dict[str, Any]:
    """An edge.yaml document: one Modbus device with ``n`` points P000... on registers 0..n-1."""
    return {
        "edge_id": edge_id or f"t-{RUN}",
        "enterprise_id": 1,
        "upstream": upstream,
        "buffer": {"path": str(buffer), "max_readings": 100_000, "batch_max_readings": batch},
        "points": [{"code": f"P{i:03d}", "range_low": 0, "range_high": 1000} for i in range(n)],
        "devices": [{"code": "PLC-1", "protocol": "modbus", "poll_interval_s": poll_s,
                     "connection": {"host": "127.0.0.1", "port": plc_port, "timeout_s": 1},
                     "points": [{"point": f"P{i:03d}", "address": i} for i in range(n)]}],
        "rules": list(rules),
    }


def delivered_once_in_order(readings: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Deduplicated (point, ts) keys (the dedup key of at-least-once delivery); asserts that per
    point the first arrivals come in time order."""
    seen: set[tuple[str, str]] = set()
    last: dict[str, str] = {}
    for r in readings:
        key = (r["point"], r["ts"])
        if key in seen:
            continue
        seen.add(key)
        assert r["ts"] > last.get(r["point"], ""), f"{r['point']} out of order at {r['ts']}"
        last[r["point"]] = r["ts"]
    return seen


class EdgeThread:
    """The edge runner on its own loop, as the process would run it (stop = SIGTERM)."""

    def __init__(self, cfg: EdgeConfig) -> None:
        self.runner = EdgeRunner(cfg, min_backoff_s=0.2, status_every_s=1.0, drain_timeout_s=5.0)
        self.loop = asyncio.new_event_loop()
        self.stop_event = asyncio.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self.runner.run(self.stop_event))
        except BaseException as exc:
            self.error = exc
        finally:
            self.loop.close()

    def __enter__(self) -> EdgeThread:
        self.thread.start()
        wait_until(lambda: self.runner.pipeline is not None, 10, "the edge to start")
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(20)
        assert not self.thread.is_alive(), "the edge did not stop"
        if self.error is not None:
            raise self.error

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def accepted(self) -> int:
        p = self.runner.pipeline
        assert p is not None
        return sum(c.readings for c in p.board.devices.values())
