#!/usr/bin/env python
"""Ingest benchmark: readings from MQTT publishers through the real ingest path into the store.

What runs, all on this machine:

* a private Mosquitto on a free port (persistence off, no queue limit), or the broker named by
  ``--mqtt-port`` (e.g. the system one on 1883);
* ``python -m plantguard.cli.main ingest run`` (the product's ingest process: coordinator, the
  MQTT connector, checks, durable buffer, forwarder, ``write_batch``) against a fresh
  database: SQLite under a temporary ``PLANTGUARD_VAR_DIR`` (default) or PostgreSQL
  (``--database-url ... --create-db`` creates the database and drops it afterwards);
* ``--publishers`` publisher processes (this script with ``--role publisher``), each
  publishing batch messages (``{"ts": <µs>, "readings": {"<code>": value, ...}}``,
  ``--per-message`` readings, QoS 1) for its own points, at ``--rate`` readings/s in total
  (several rates, comma-separated, are several runs, each from scratch: a sweep finds the
  ceiling). There is no "as fast as possible" mode: the broker acknowledges QoS 1 messages
  long before they are stored, so a flood only measures how fast queues grow.

How it measures:

* Every message's timestamp is its publish time (µs, taken just before ``publish``), and all
  its readings carry it. A message's readings are stored in one transaction (the connector
  hands whole messages to the pipeline and the forwarder merges whole buffered batches), so
  one *probe* reading per message says when the whole message became visible.
* A sampler thread polls the store every ``--poll`` seconds for new probe readings (the first
  point of each publisher: an index range scan on (point, ts)). Latency = poll time − publish
  time: an upper bound, late by at most one poll interval plus the query.
* Sustained rate = readings of the messages that became visible during the measurement window
  (after ``--warmup`` until the publishers stop), divided by its length; the offered rate is
  counted the same way from the publishers' side.
* At the end the script waits until ``count(*)`` of the reading table equals what the
  publishers had acknowledged by the broker: ``lost`` must be 0 (the table's primary key
  makes a duplicate impossible, so ``count == published`` means exactly once).
* CPU: seconds used during the window by the ingest process, Mosquitto, the PostgreSQL
  backends serving the benchmark database, the publishers, and everything else.

Results: a table, ``bench/results/ingest-<UTC stamp>.json`` and ``ingest-latest.json``.

    .venv/bin/python bench/ingest.py                                  # SQLite, 50,000 readings/s, 30 s
    .venv/bin/python bench/ingest.py --database-url \\
        postgresql://postgres@127.0.0.1:5432/plantguard_bench_ingest --create-db   # PostgreSQL
    .venv/bin/python bench/ingest.py --rate 50000,100000,150000 --duration 20    # a sweep
    .venv/bin/python bench/ingest.py --profile                          # cProfile the ingest process

Exit status: 0 when nothing was lost (1 otherwise; 2 with ``--check`` when the target is missed:
the store did not keep pace with the offered rate (5% tolerance for the window's edges, less
than 2 s of backlog at the end) or the p99 latency is over ``--target-p99-ms``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from web import (  # noqa: E402  (the web benchmark's helpers: same conventions, one implementation)
    free_port,
    fresh_postgres_database,
    machine_busy_seconds,
    machine_info,
    percentile,
    proc_cpu_seconds,
    redact,
)

# -- the publisher role ---------------------------------------------------------------------------


def publisher_main(args: argparse.Namespace) -> int:
    """One publisher process: paced batch messages for its own points; a JSON summary on stdout."""
    import orjson

    from plantguard.ingest.connectors.mqtt.publisher import BatchPublisher

    codes: list[str] = json.loads(Path(args.codes).read_text())
    rng = random.Random(args.index)
    variants = [{c: round(rng.uniform(5, 95), 3) for c in codes} for _ in range(16)]
    pub = BatchPublisher(args.host, args.port, client_id=f"bench-pub-{args.run}-{args.index}", qos=args.qos,
                         max_inflight=args.inflight)
    pub.connect()
    interval = len(codes) / args.pub_rate
    while time.time() < args.start_at:
        time.sleep(min(0.01, max(0.0, args.start_at - time.time())))
    t0 = time.monotonic()
    end = t0 + args.duration
    sent = 0
    last_ts = 0
    behind = 0.0
    stamps: list[int] = []
    cpu0 = time.process_time()
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = t0 + sent * interval
        if due > now:
            time.sleep(due - now)
        else:
            behind = max(behind, now - due)
        ts = max(time.time_ns() // 1000, last_ts + 1)
        last_ts = ts
        pub.publish_raw(args.topic, orjson.dumps({"ts": ts, "readings": variants[sent % 16]}))
        stamps.append(ts)
        sent += 1
    flush_error = ""
    try:
        pub.flush(timeout=300)
    except TimeoutError as exc:
        flush_error = str(exc)
    pub.close()
    out = {"index": args.index, "messages": sent, "readings": sent * len(codes), "behind_max_s": round(behind, 3),
           "cpu_s": round(time.process_time() - cpu0, 3), "flush_error": flush_error}
    Path(args.stamps).write_bytes(orjson.dumps(stamps))
    print(json.dumps(out), flush=True)
    return 0 if not flush_error else 1


# -- the broker -----------------------------------------------------------------------------------


class Mosquitto:
    """A private broker on a free port: no persistence (a benchmark measures the path, not the
    disk), and no limit on the messages queued for a slow subscriber (mosquitto's default of
    1000 would silently drop the surplus when the ingest falls behind)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false",
                "max_queued_messages 0", "max_inflight_messages 0", f"log_dest file {self.dir}/mosquitto.log"]
        if os.geteuid() == 0:
            conf.append("user root")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"mosquitto exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if time.monotonic() > deadline:
                raise SystemExit("mosquitto did not start")
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


# -- the database ---------------------------------------------------------------------------------


def seed(db_url: str, publishers: int, per_message: int, host: str, port: int, run: str) -> list[list[str]]:
    """A bench enterprise with ``publishers × per_message`` points (range 0–100) and one MQTT
    device reading ``bench-<run>/+/telemetry`` in the batch format; returns each publisher's codes."""
    from sqlalchemy import select

    from plantguard.assets.models import Equipment, MeasurementPoint
    from plantguard.audit import ledger
    from plantguard.audit.ledger import bind_actor
    from plantguard.core.db import make_engine, make_session_factory
    from plantguard.core.migrate import upgrade
    from plantguard.core.models import import_all
    from plantguard.core.permissions import Actor, Role
    from plantguard.ingest.config import import_devices
    from plantguard.tenancy.models import Area, Enterprise, Site

    import_all()
    ledger.install()
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    codes = [[f"B{k}-{j:04d}" for j in range(per_message)] for k in range(publishers)]
    with factory() as s:
        bind_actor(s, None)
        ent = Enterprise(code="BENCH", name="基准测试有限公司")
        s.add(ent)
        s.flush()
        site = Site(enterprise_id=ent.id, code="S1", name="一厂")
        s.add(site)
        s.flush()
        area = Area(enterprise_id=ent.id, site_id=site.id, code="A1", name="冲压车间", kind="stamping",
                    polygon=[[0, 0], [10, 0], [10, 10], [0, 10]])
        s.add(area)
        s.flush()
        eq = Equipment(enterprise_id=ent.id, area_id=area.id, code="BENCH-EQ", name="基准设备", type="press",
                       criticality="A")
        s.add(eq)
        s.flush()
        s.add_all(MeasurementPoint(enterprise_id=ent.id, equipment_id=eq.id, code=c, name=c, unit="MPa",
                                   range_low=0, range_high=100) for group in codes for c in group)
        s.commit()
        ent_id = ent.id
    with factory() as s:
        actor = Actor(user_id=0, enterprise_id=ent_id, role=Role.ADMIN, username="bench", display_name="bench")
        bind_actor(s, actor)
        import_devices(s, actor, [{
            "code": "BENCH-MQTT", "protocol": "mqtt", "name": "基准网关",
            "connection": {"host": host, "port": port, "client_id": f"plantguard-bench-{run}", "qos": 1},
            "points": [{"topic": f"bench-{run}/+/telemetry", "format": "batch", "point": "{key}"}],
        }])
        s.commit()
        ids = dict(s.execute(select(MeasurementPoint.code, MeasurementPoint.id)
                             .where(MeasurementPoint.enterprise_id == ent_id)).all())
    engine.dispose()
    return [[*group, str(ids[group[0]])] for group in codes]  # the probe's id rides at the end


class Store:
    """The sampler's own connection: probe readings and row counts, read-only."""

    def __init__(self, db_url: str) -> None:
        self.url = db_url
        self.pg = db_url.startswith("postgres")
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"),
                                             autocommit=True)
        else:
            path = db_url.split("sqlite:///", 1)[1]
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                        check_same_thread=False)

    def probes(self, point_ids: list[int], since: int) -> list[tuple[int, int]]:
        if self.pg:
            return list(self.conn.execute("SELECT point_id, ts FROM reading WHERE point_id = ANY(%s) AND ts > %s",
                                          (point_ids, since)).fetchall())
        marks = ",".join("?" * len(point_ids))
        return list(self.conn.execute(f"SELECT point_id, ts FROM reading WHERE point_id IN ({marks}) AND ts > ?",
                                      (*point_ids, since)).fetchall())

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM reading").fetchone()[0])

    def backend_pids(self) -> list[int]:
        if not self.pg:
            return []
        rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()").fetchall()
        return [int(r[0]) for r in rows]

    def device_state(self) -> str:
        row = self.conn.execute("SELECT state FROM device_status").fetchone()
        return str(row[0]) if row else ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class Sampler(threading.Thread):
    """Polls for probe readings; records when each message's probe became visible."""

    def __init__(self, store: Store, probe_ids: list[int], poll: float) -> None:
        super().__init__(daemon=True)
        self.store, self.probe_ids, self.poll = store, probe_ids, poll
        self.seen: dict[tuple[int, int], int] = {}  # (point, publish ts) -> observed at (µs)
        self.stop_event = threading.Event()
        self.errors = 0
        self.queries = 0
        self.query_s = 0.0

    def run(self) -> None:
        since = time.time_ns() // 1000 - 60_000_000
        while not self.stop_event.is_set():
            t0 = time.perf_counter()
            now_us = time.time_ns() // 1000
            try:
                rows = self.store.probes(self.probe_ids, since)
            except Exception:
                self.errors += 1
                rows = []
            self.queries += 1
            self.query_s += time.perf_counter() - t0
            newest = since
            for pid, ts in rows:
                key = (int(pid), int(ts))
                if key not in self.seen:
                    self.seen[key] = now_us
                newest = max(newest, int(ts))
            # Messages commit in publish order per publisher, but leave 5 s of slack anyway.
            since = max(since, newest - 5_000_000)
            self.stop_event.wait(max(0.0, self.poll - (time.perf_counter() - t0)))


def pg_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        got = proc_cpu_seconds(pid) if Path(f"/proc/{pid}").exists() else None
        total += got or 0.0
    return total


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    offered_rate: int  # the rate asked for
    duration_s: float
    warmup_s: float
    window_s: float
    per_message: int
    publishers: int
    published_readings: int
    stored_readings: int
    lost: int
    offered_per_s: float  # published during the window
    stored_per_s: float  # became visible during the window
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    latency_samples: int
    drain_s: float  # after the publishers stopped, until count(*) == published
    publisher_behind_max_s: float
    cpu_pct: dict[str, float | None] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    meets_target: bool = False


def run(args: argparse.Namespace, rate: int, db_url: str, tmp: Path) -> tuple[Result, dict[str, Any]]:
    run_id = uuid.uuid4().hex[:8]
    broker: Mosquitto | None = None
    ingest: subprocess.Popen[bytes] | None = None
    publishers: list[subprocess.Popen[bytes]] = []
    store: Store | None = None
    sampler: Sampler | None = None
    log_path = tmp / "ingest.log"
    try:
        if args.mqtt_port:
            host, port = "127.0.0.1", args.mqtt_port
        else:
            broker = Mosquitto(tmp / "mosquitto")
            broker.start()
            host, port = "127.0.0.1", broker.port
        print(f"seeding {args.publishers * args.per_message} points and an MQTT device ...", flush=True)
        groups = seed(db_url, args.publishers, args.per_message, host, port, run_id)
        probe_ids = [int(g[-1]) for g in groups]
        env = dict(os.environ)
        env.update(PLANTGUARD_DATABASE_URL=db_url, PLANTGUARD_VAR_DIR=str(tmp / "var"), PLANTGUARD_BUS_URL="inprocess://",
                   PLANTGUARD_INGEST="1", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(args.src), env.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable, "-m", "plantguard.cli.main", "ingest", "run"]
        prof_path = None
        if args.profile:
            prof_path = tmp / "ingest.prof"
            cmd = [sys.executable, "-m", "cProfile", "-o", str(prof_path), *cmd[1:]]
        with log_path.open("wb") as log:
            ingest = subprocess.Popen(cmd, cwd=str(tmp), env=env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        store = Store(db_url)
        deadline = time.monotonic() + 60
        while store.device_state() != "online":
            if ingest.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the ingest process did not bring the device online:\n{_tail(log_path)}")
            time.sleep(0.2)
        sampler = Sampler(store, probe_ids, args.poll)
        sampler.start()
        start_at = time.time() + 1.0
        for k, group in enumerate(groups):
            codes_file = tmp / f"codes-{k}.json"
            codes_file.write_text(json.dumps(group[:-1]))
            publishers.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--role", "publisher", "--index", str(k),
                 "--run", run_id, "--host", host, "--port", str(port), "--topic", f"bench-{run_id}/pub{k}/telemetry",
                 "--codes", str(codes_file), "--stamps", str(tmp / f"stamps-{k}.json"),
                 "--pub-rate", str(rate / args.publishers), "--duration", str(args.duration),
                 "--start-at", repr(start_at), "--qos", str(args.qos), "--inflight", str(args.inflight)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL))
        print(f"publishing for {args.duration:g} s ({rate:,} readings/s, {args.publishers} publishers × "
              f"{args.per_message} readings per message) ...", flush=True)
        # The measurement window: after the warm-up, until the publishers stop.
        w0, w1 = start_at + args.warmup, start_at + args.duration
        time.sleep(max(0.0, w0 - time.time()))
        pg_pids = store.backend_pids()
        cpu0 = _cpu(ingest.pid, broker.pid if broker else None, pg_pids)
        time.sleep(max(0.0, w1 - time.time()))
        cpu1 = _cpu(ingest.pid, broker.pid if broker else None, pg_pids)
        outs = []
        for p in publishers:
            out, err = p.communicate(timeout=args.duration + 400)
            if p.returncode != 0 and not out.strip():
                raise SystemExit(f"publisher failed ({p.returncode}): {err.decode(errors='replace')[-2000:]}")
            outs.append(json.loads(out.decode().strip().splitlines()[-1]))
        published = sum(o["readings"] for o in outs)
        t_end = time.monotonic()
        stored = store.count()
        progress = time.monotonic()
        while stored < published and time.monotonic() - t_end < args.drain_timeout:
            if ingest.poll() is not None or time.monotonic() - progress > 30:
                break  # the ingest process died, or nothing was stored for 30 s
            time.sleep(0.5)
            now_stored = store.count()
            if now_stored != stored:
                progress = time.monotonic()
            stored = now_stored
        drain_s = time.monotonic() - t_end
        time.sleep(2 * args.poll)
        sampler.stop_event.set()
        sampler.join(5)
        stamps = [json.loads((tmp / f"stamps-{k}.json").read_text()) for k in range(len(groups))]
        result = summarise(args, rate, db_url, sampler, probe_ids, stamps, outs, published, stored, drain_s,
                           w0, w1, cpu0, cpu1)
        extra: dict[str, Any] = {"ingest_log_tail": _tail(log_path, 15)}
        if prof_path is not None:
            _stop(ingest)
            extra["profile"] = _profile_text(prof_path, args.profile_top)
            shutil.copyfile(prof_path, args.out / "ingest-latest.prof")
        return result, extra
    finally:
        if sampler is not None:
            sampler.stop_event.set()
        for p in publishers:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        if ingest is not None:
            _stop(ingest)
        if store is not None:
            store.close()
        if broker is not None:
            broker.stop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _cpu(ingest_pid: int, broker_pid: int | None, pg_pids: list[int]) -> dict[str, float | None]:
    return {"ingest": proc_cpu_seconds(ingest_pid), "mosquitto": proc_cpu_seconds(broker_pid),
            "postgres": pg_cpu_seconds(pg_pids) if pg_pids else None, "machine": machine_busy_seconds(),
            "bench": time.process_time(), "wall": time.monotonic()}


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def summarise(args: argparse.Namespace, rate: int, db_url: str, sampler: Sampler, probe_ids: list[int],
              stamps: list[list[int]], outs: list[dict[str, Any]], published: int, stored: int, drain_s: float,
              w0: float, w1: float, cpu0: dict[str, float | None], cpu1: dict[str, float | None]) -> Result:
    w0_us, w1_us = int(w0 * 1e6), int(w1 * 1e6)
    window = w1 - w0
    pm = args.per_message
    offered = sum(1 for group in stamps for ts in group if w0_us <= ts < w1_us) * pm / window
    visible = sum(1 for seen_at in sampler.seen.values() if w0_us <= seen_at < w1_us) * pm / window
    lat = sorted((seen_at - ts) / 1000.0 for (pid, ts), seen_at in sampler.seen.items() if w0_us <= ts < w1_us)
    published_in_window = sum(1 for group in stamps for ts in group if w0_us <= ts < w1_us)
    wall = (cpu1["wall"] or 0) - (cpu0["wall"] or 0)

    def pct(key: str) -> float | None:
        a, b = cpu0.get(key), cpu1.get(key)
        return round(100.0 * (b - a) / wall, 1) if a is not None and b is not None and wall else None

    cpu = {k: pct(k) for k in ("ingest", "mosquitto", "postgres", "machine", "bench")}
    publishers = round(100.0 * sum(o["cpu_s"] for o in outs) / args.duration, 1)
    cpu["publishers_whole_run"] = publishers
    known = sum(v for k, v in cpu.items() if k not in ("machine", "publishers_whole_run") and v is not None)
    machine = cpu["machine"]
    if machine is not None:
        cpu["other"] = round(max(0.0, machine - known - publishers), 1)
    backend = "postgresql" if db_url.startswith("postgres") else "sqlite"
    r = Result(
        backend=backend, offered_rate=rate, duration_s=args.duration, warmup_s=args.warmup,
        window_s=round(window, 2), per_message=pm, publishers=args.publishers, published_readings=published,
        stored_readings=stored, lost=published - stored, offered_per_s=round(offered), stored_per_s=round(visible),
        latency_p50_ms=round(percentile(lat, 50), 1), latency_p90_ms=round(percentile(lat, 90), 1),
        latency_p99_ms=round(percentile(lat, 99), 1), latency_max_ms=round(lat[-1], 1) if lat else float("nan"),
        latency_samples=len(lat), drain_s=round(drain_s, 2),
        publisher_behind_max_s=max(o["behind_max_s"] for o in outs), cpu_pct=cpu,
        sampler={"poll_s": args.poll, "queries": sampler.queries, "errors": sampler.errors,
                 "mean_query_ms": round(1000 * sampler.query_s / max(1, sampler.queries), 2),
                 "messages_published_in_window": published_in_window, "probe_points": probe_ids},
    )
    # Sustained: nothing lost, the p99 within the target, the store kept pace with what was
    # offered (within 5%: the window's edges) and was not left with a backlog at the end.
    r.meets_target = bool(r.lost == 0 and len(lat) > 0 and r.latency_p99_ms < args.target_p99_ms
                          and r.stored_per_s >= 0.95 * r.offered_per_s and r.drain_s < 2.0
                          and r.offered_per_s >= 0.98 * rate)
    return r


def _profile_text(path: Path, top: int) -> str:
    import io
    import pstats

    buf = io.StringIO()
    st = pstats.Stats(str(path), stream=buf)
    st.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def print_table(results: list[Result]) -> None:
    print()
    print(f"{'backend':<11} {'asked/s':>8} {'offered/s':>10} {'stored/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'published':>10} {'lost':>5} {'drain s':>8}  target")
    for r in results:
        print(f"{r.backend:<11} {r.offered_rate:>8,} {r.offered_per_s:>10,.0f} {r.stored_per_s:>10,.0f} "
              f"{r.latency_p50_ms:>8.0f} {r.latency_p99_ms:>8.0f} {r.latency_max_ms:>8.0f} "
              f"{r.published_readings:>10,} {r.lost:>5} {r.drain_s:>8.1f}  {'met' if r.meets_target else 'MISSED'}")
    for r in results:
        cpu = ", ".join(f"{k} {v:.0f}%" for k, v in r.cpu_pct.items() if v is not None)
        print(f"{r.offered_rate:>8,}/s CPU (100% = one core): {cpu}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", help="PLANTGUARD_DATABASE_URL (default: SQLite under a temporary var dir)")
    p.add_argument("--create-db", action="store_true",
                   help="create the PostgreSQL database named in --database-url (must not exist); drop it after")
    p.add_argument("--rate", default="50000",
                   help="readings/s offered in total (default 50000); several, comma-separated, run one after another")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of publishing (default 30)")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds at the start not measured (default 5)")
    p.add_argument("--publishers", type=int, default=2, help="publisher processes (default 2)")
    p.add_argument("--per-message", type=int, default=500, help="readings per MQTT message (default 500)")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1)
    p.add_argument("--inflight", type=int, default=100, help="a publisher's unacknowledged QoS 1 messages")
    p.add_argument("--mqtt-port", type=int, help="use the broker on 127.0.0.1:PORT instead of a private one")
    p.add_argument("--poll", type=float, default=0.05, help="sampler interval, seconds (default 0.05)")
    p.add_argument("--drain-timeout", type=float, default=300.0)
    p.add_argument("--target-p99-ms", type=float, default=1000.0)
    p.add_argument("--check", action="store_true", help="exit 2 when the target is missed")
    p.add_argument("--profile", action="store_true", help="run the ingest process under cProfile (slower)")
    p.add_argument("--profile-top", type=int, default=35)
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default bench/results)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, SQLite file)")
    p.add_argument("--src", type=Path, default=ROOT / "src",
                   help="the source tree the ingest process and publishers run (default: this checkout's src);\n"
                        "another tree, e.g. with a patch applied, gives an A/B comparison")
    # the publisher role (internal)
    p.add_argument("--role", choices=("main", "publisher"), default="main", help=argparse.SUPPRESS)
    for name, kind in (("--index", int), ("--run", str), ("--host", str), ("--port", int), ("--topic", str),
                       ("--codes", str), ("--stamps", str), ("--start-at", float), ("--pub-rate", float)):
        p.add_argument(name, type=kind, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "main":
        try:
            args.rates = [int(float(x)) for x in str(args.rate).split(",") if x.strip()]
        except ValueError:
            p.error(f"--rate: {args.rate!r} is not a list of numbers")
        if not args.rates or min(args.rates) <= 0:
            p.error("--rate: every rate must be above 0")
    return args


@contextlib.contextmanager
def _maybe_fresh(url: str | None, create: bool) -> Iterator[None]:
    if url and create:
        with fresh_postgres_database(url):
            yield
    else:
        if create:
            raise SystemExit("--create-db needs --database-url")
        yield


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "publisher":
        return publisher_main(args)
    if not args.mqtt_port and not Path(MOSQUITTO).exists():
        raise SystemExit(f"{MOSQUITTO} not found (or name a running broker with --mqtt-port)")
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    started = datetime.now(UTC)
    results: list[Result] = []
    extras: list[dict[str, Any]] = []
    for rate in args.rates:
        tmp = Path(tempfile.mkdtemp(prefix="plantguard-bench-ingest-"))
        (tmp / "var").mkdir()
        db_url = args.database_url or f"sqlite:///{tmp / 'var' / 'plantguard.db'}"
        try:
            with _maybe_fresh(args.database_url, args.create_db):  # each rate from scratch
                result, extra = run(args, rate, db_url, tmp)
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
        results.append(result)
        extras.append(extra)
        if "profile" in extra:
            print(extra["profile"])
    print_table(results)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    internal = ("role", "index", "run", "host", "port", "topic", "codes", "stamps", "start_at", "pub_rate")
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in internal}
    settings["database_url"] = redact(args.database_url) or "sqlite (temporary var dir)"
    doc = {
        "benchmark": "ingest", "started": started.isoformat(), "machine": info, "settings": settings,
        "runs": [{**asdict(r), "ingest_log_tail": e.get("ingest_log_tail", "")} for r, e in zip(results, extras,
                                                                                               strict=True)],
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    (args.out / f"ingest-{stamp}.json").write_text(text)
    (args.out / "ingest-latest.json").write_text(text)
    print(f"results: {args.out / f'ingest-{stamp}.json'}")
    lost = sum(r.lost for r in results)
    if lost:
        print(f"LOST {lost} readings", file=sys.stderr)
        return 1
    return 2 if args.check and not all(r.meets_target for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
