#!/usr/bin/env python
"""Edge footprint benchmark: ``plantguard edge`` with 200 Modbus points and detectors,
forwarding to a real Mosquitto; reports peak RSS, readings/s forwarded and end-to-end latency.

What runs, all on this machine:

* a pymodbus TCP server (in this process, on its own event loop thread) with ``--points``
  holding registers whose values move every 100 ms (a slow sine per register, so the detectors
  have something to chew on);
* ``python -m plantguard.edge --config <tmp>/edge.yaml`` (the product's edge process):
  ``--devices`` Modbus devices splitting the points, polled every ``--poll`` seconds, ``--rules``
  detection rules (threshold, robust_z, ewma, rate in turn), the durable buffer in a temporary
  directory, publishing QoS 1 to the broker (``--mqtt-host``/``--mqtt-port``, default the
  system Mosquitto on 127.0.0.1:1883) under a per-run topic prefix;
* a subscriber in this process on ``<prefix>/<edge_id>/#``.

How it measures:

* Peak RSS: ``VmHWM`` of the edge process from ``/proc/<pid>/status`` at the end of the run
  (the kernel's high-water mark of resident memory, so no sampling is missed).
* Readings/s forwarded: distinct readings received by the subscriber during the window after
  ``--warmup``, divided by its length; also the readings the edge polled (points / poll).
* Latency: receive time at the subscriber − the reading's timestamp (stamped by the edge when it
  polled), so it covers poll → checks → detection → buffer → publish → broker → subscriber.
* CPU: the edge process's user+system seconds during the window, as a share of one core.

Results: printed as JSON and written to ``bench/results/edge-<UTC stamp>.json`` and
``edge-latest.json``.

    .venv/bin/python bench/edge.py                         # 200 points, 0.5 s poll, 20 rules, 30 s
    .venv/bin/python bench/edge.py --poll 0.1 --duration 20  # 2,000 readings/s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import paho.mqtt.client as mqtt  # noqa: E402
import yaml  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

DETECTORS: list[tuple[str, dict[str, Any]]] = [
    ("threshold", {"conditions": [{"signal": "value", "direction": "high", "limit": 900}]}),
    ("robust_z", {"window": 200}),
    ("ewma", {"alpha": 0.05}),
    ("rate", {"max_rate": 50.0}),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Plc:
    """pymodbus server with ``n`` holding registers, refreshed every 100 ms from a sine per register."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.port = free_port()
        self.regs = [0] * n
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: Any = None
        self.wave: Any = None

    async def _action(self, _fc: int, _start: int, _address: int, _count: int, registers: list[int],
                      _set: Any) -> None:
        registers[: self.n] = self.regs

    async def _wave(self) -> None:
        while True:
            t = time.time()
            self.regs[:] = [int(500 + 300 * math.sin(t / 20 + i)) for i in range(self.n)]
            await asyncio.sleep(0.1)

    def start(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def go() -> Any:
            device = SimDevice(id=1, simdata=[SimData(address=0, values=[0] * self.n, datatype=DataType.REGISTERS)],
                               action=partial(self._action))
            server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            await server.serve_forever(background=True)
            self.wave = asyncio.get_running_loop().create_task(self._wave())
            return server

        self.server = asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)

    def stop(self) -> None:
        async def down() -> None:
            self.wave.cancel()
            await asyncio.gather(self.wave, return_exceptions=True)
            await self.server.shutdown()

        asyncio.run_coroutine_threadsafe(down(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


class Subscriber:
    def __init__(self, host: str, port: int, topic: str) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[float, str, str]] = []  # (receive time, point, ts)
        self.signals = 0
        self.messages = 0
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("no SUBACK from the broker")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        now = time.time()
        doc = json.loads(msg.payload)
        with self.lock:
            self.messages += 1
            if msg.topic.endswith("/alarms"):
                self.signals += len(doc["signals"])
                return
            self.received.extend((now, r["point"], r["ts"]) for r in doc["readings"])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def edge_config(args: argparse.Namespace, plc_port: int, tmp: Path, prefix: str) -> dict[str, Any]:
    per = math.ceil(args.points / args.devices)
    devices = []
    for d in range(args.devices):
        idx = range(d * per, min(args.points, (d + 1) * per))
        devices.append({"code": f"PLC-{d + 1}", "protocol": "modbus", "poll_interval_s": args.poll,
                        "connection": {"host": "127.0.0.1", "port": plc_port},
                        "points": [{"point": f"B{i:04d}", "address": i} for i in idx]})
    rules = []
    for r in range(args.rules):
        name, params = DETECTORS[r % len(DETECTORS)]
        rules.append({"name": f"rule-{r}", "points": [f"B{(r * 7) % args.points:04d}"], "detector": name,
                      "params": params, "threshold": 0.5, "duration_s": 2, "severity": "warning"})
    return {"edge_id": "bench", "enterprise_id": 1,
            "upstream": {"kind": "mqtt", "host": args.mqtt_host, "port": args.mqtt_port, "topic_prefix": prefix},
            "buffer": {"path": str(tmp / "buffer.sqlite")},
            "points": [{"code": f"B{i:04d}", "range_low": 0, "range_high": 1000} for i in range(args.points)],
            "devices": devices, "rules": rules}


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(rest.split()[0])  # kB
    return out


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--rules", type=int, default=20)
    ap.add_argument("--poll", type=float, default=0.5, help="poll interval, s")
    ap.add_argument("--duration", type=float, default=30.0, help="measured window, s")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--mqtt-host", default="127.0.0.1")
    ap.add_argument("--mqtt-port", type=int, default=1883)
    ap.add_argument("--max-rss-mb", type=float, default=200.0, help="exit 2 when the peak RSS is above")
    args = ap.parse_args()

    prefix = f"pgbench/{uuid.uuid4().hex[:8]}"
    plc = Plc(args.points)
    plc.start()
    sub = Subscriber(args.mqtt_host, args.mqtt_port, f"{prefix}/bench/#")
    with tempfile.TemporaryDirectory(prefix="pg-edge-bench-") as tmpdir:
        tmp = Path(tmpdir)
        cfg = tmp / "edge.yaml"
        cfg.write_text(yaml.safe_dump(edge_config(args, plc.port, tmp, prefix)))
        log = (tmp / "edge.log").open("wb")
        edge = subprocess.Popen([sys.executable, "-m", "plantguard.edge", "--config", str(cfg)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        try:
            time.sleep(args.warmup)
            if edge.poll() is not None:
                print((tmp / "edge.log").read_text()[-3000:], file=sys.stderr)
                raise SystemExit("the edge process died")
            t0, c0 = time.time(), cpu_s(edge.pid)
            with sub.lock:
                n0 = len(sub.received)
            rss_samples = []
            while time.time() - t0 < args.duration:
                time.sleep(1)
                rss_samples.append(proc_status(edge.pid)["VmRSS"])
            t1, c1 = time.time(), cpu_s(edge.pid)
            status = proc_status(edge.pid)
            with sub.lock:
                window = sub.received[n0:]
                signals = sub.signals
        finally:
            edge.send_signal(signal.SIGTERM)
            try:
                edge.wait(20)
            except subprocess.TimeoutExpired:
                edge.kill()
            log.close()
            sub.close()
            plc.stop()
        latencies = [(rx - datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()) * 1000
                     for rx, _, ts in window]
        distinct = len({(p, ts) for _, p, ts in window})
        span = t1 - t0
        result = {
            "benchmark": "edge",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "loadavg": os.getloadavg()},
            "settings": {k: getattr(args, k) for k in ("points", "devices", "rules", "poll", "duration", "warmup",
                                                        "mqtt_host", "mqtt_port")},
            "peak_rss_mb": round(status["VmHWM"] / 1024, 1),
            "rss_mb_end": round(status["VmRSS"] / 1024, 1),
            "rss_mb_min_in_window": round(min(rss_samples) / 1024, 1),
            "readings_polled_per_s": round(args.points / args.poll, 1),
            "readings_forwarded_per_s": round(distinct / span, 1),
            "duplicates": len(window) - distinct,
            "signals_received": signals,
            "latency_ms": {"p50": round(pct(latencies, 0.5), 1), "p95": round(pct(latencies, 0.95), 1),
                           "p99": round(pct(latencies, 0.99), 1), "max": round(max(latencies, default=math.nan), 1)},
            "edge_cpu_pct_of_one_core": round(100 * (c1 - c0) / span, 1),
            "exit_code": edge.returncode,
        }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(result, indent=2)
    (out_dir / f"edge-{stamp}.json").write_text(text)
    (out_dir / "edge-latest.json").write_text(text)
    print(text)
    if result["readings_forwarded_per_s"] < 0.9 * result["readings_polled_per_s"]:
        return 1
    return 2 if result["peak_rss_mb"] > args.max_rss_mb else 0


if __name__ == "__main__":
    raise SystemExit(main())
