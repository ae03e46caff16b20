#!/usr/bin/env python
"""Closed-loop latency: from the reading that raises an alarm to the work order existing and the
notification handed to its channel (issue requirement: p99 < 1 s on this machine).

What runs is the product as shipped: ``python -m plantguard.cli.main run`` on a free port against a
fresh database (a temporary SQLite file, or with ``--create-db`` a new PostgreSQL database), with
the in-process bus or, with ``--bus nats://127.0.0.1:4222``, NATS JetStream (on streams and a
subject prefix of its own, deleted afterwards). Before the server starts, the script seeds the demo
plant and its routing rules, adds ``--samples`` (+ ``--warmup``) stamping presses in the stamping
area (one pressure point and one detection rule each: a fixed limit, no hold time, severity
critical), an HTTP-ingest device, and a WeCom-style robot channel whose webhook is a receiver in
this process.

Each chain is one reading over the limit, posted to ``POST /api/v1/ingest`` for its own press, so
every chain opens a new work order:

    reading ─► HTTP ingest ─► buffer ─► store ─► detection stage ─► alarm intake (alarm + outbox)
      ─► relay ─► bus ─► work-order consumer (demo routing: stamping → MNT) ─► work order + outbox
      ─► relay ─► bus ─► notification consumer ─► in-app rows (the feed) and a robot row
      ─► dispatcher ─► webhook POST ─► the receiver here

Stamps: the reading's post time (here), the ``alarm.raised`` outbox row's ``created_at`` (the
alarm's transaction), ``work_order.created_at``, the in-app ``notification.created_at`` of the
order's ``workorder.created`` and of the ``alarm.raised`` event (the row *is* the in-app delivery),
and the webhook's arrival at the receiver. Database stamps are taken just before their
transaction commits (a few ms early at most); the machine's one clock serves both processes.
Chains start ``--interval`` seconds apart, so several are in flight at once.

JSON goes to ``bench/results/loop-<stamp>.json`` and ``bench/results/loop-latest.json``.

    .venv/bin/python bench/loop.py                                   # SQLite, in-process bus, 200 chains
    .venv/bin/python bench/loop.py --bus nats://127.0.0.1:4222
    .venv/bin/python bench/loop.py --database-url postgresql://postgres@127.0.0.1:5432/plantguard_bench_loop --create-db
    .venv/bin/python bench/loop.py --samples 5 --warmup 1 --out /tmp/x    # a smoke run (the test does this)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "bench" / "results"
TARGET_P99_MS = 1000.0
LIMIT = 28.0  # MPa: every press point alarms above this
# In-app rows that count: the alarm's, and the order's first (by the default rules ``created`` goes
# to the order's team leader, ``dispatched`` to its assignee).
WATCHED = ("alarm.raised", "workorder.created", "workorder.dispatched")

STAGES = (
    ("ingest_to_alarm", "reading posted → alarm committed (HTTP ingest, store, detection, intake)"),
    ("alarm_to_workorder", "alarm → work order (relay, bus, routing, order)"),
    ("workorder_to_inapp", "work order → its first in-app notification (relay, bus, notification consumer)"),
    ("alarm_to_alarm_inapp", "alarm → the alarm's in-app notification"),
    ("alarm_to_webhook", "alarm → webhook POST received (consumer, dispatcher, channel)"),
    ("e2e_workorder_inapp", "reading posted → the work order's first in-app notification"),
    ("e2e_webhook", "reading posted → webhook POST received"),
    ("e2e_all", "reading posted → last of: work order, its in-app notification, the webhook"),
)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values_ms: list[float]) -> dict[str, Any]:
    if not values_ms:
        return {"n": 0}
    return {"n": len(values_ms), "p50_ms": round(percentile(values_ms, 50), 1),
            "p95_ms": round(percentile(values_ms, 95), 1), "p99_ms": round(percentile(values_ms, 99), 1),
            "max_ms": round(max(values_ms), 1), "min_ms": round(min(values_ms), 1)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=5).stdout.strip() or None
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src"], cwd=ROOT,
                                 capture_output=True, text=True, timeout=5).stdout.splitlines()
        info["src_uncommitted_changes"] = [line[3:] for line in changed]
    return info


def redact(url: str | None) -> str | None:
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':')[0]}{':***' if ':' in creds else ''}@{host}"


# -- the webhook receiver -------------------------------------------------------------------------


class Receiver:
    """A robot's webhook: records each POST's arrival time and body, answers ``{"errcode": 0}``."""

    def __init__(self) -> None:
        self.hits: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                with outer._lock:
                    outer.hits.append((at, body))
                data = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.hits)


# -- preparing the database -----------------------------------------------------------------------


def code_of(i: int) -> str:
    return f"LOOP-{i:04d}"


def prepare(url: str, n: int, webhook_url: str | None) -> str:
    """Migrate, seed the demo plant and its routing rules, add ``n`` presses with a rule each, an
    HTTP-ingest device and (optionally) a robot channel. Returns the device's ingest token."""
    from sqlalchemy import select

    from plantguard.api.deps import acting
    from plantguard.assets.models import Equipment, MeasurementPoint
    from plantguard.audit import ledger
    from plantguard.core.db import make_engine, make_session_factory
    from plantguard.core.migrate import upgrade
    from plantguard.core.models import import_all
    from plantguard.core.permissions import Actor, Role
    from plantguard.demo.seed import DEMO_ENTERPRISE_CODE, seed_demo
    from plantguard.detection.rules.schemas import RuleCreate
    from plantguard.detection.rules.service import detection_rule_service
    from plantguard.ingest.config import token_digest
    from plantguard.ingest.models import Device
    from plantguard.notifications.models import NotificationChannel
    from plantguard.tenancy.models import Area, Enterprise
    from plantguard.workorders.routing.demo import seed_demo_routing

    import_all()
    ledger.install()
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    seed_demo(factory)
    token = "pgd_" + secrets.token_urlsafe(24)
    with factory() as s:
        ent = s.scalar(select(Enterprise.id).where(Enterprise.code == DEMO_ENTERPRISE_CODE))
        assert ent is not None
        actor = Actor(user_id=0, enterprise_id=ent, role=Role.ADMIN, username="bench", display_name="bench/loop.py")
        acting(s, actor)
        seed_demo_routing(s, actor)
        area = s.scalar(select(Area.id).where(Area.enterprise_id == ent, Area.code == "ST"))
        eqs = [Equipment(enterprise_id=ent, area_id=area, code=code_of(i), name=f"基准压力机 {i}",
                         type="stamping_press", criticality="B") for i in range(n)]
        s.add_all(eqs)
        s.flush()
        points = [MeasurementPoint(enterprise_id=ent, equipment_id=e.id, code=f"{e.code}-HP", name="保护压力",
                                   quantity="pressure", unit="MPa", range_low=0, range_high=35, high_alarm=LIMIT)
                  for e in eqs]
        s.add_all(points)
        s.add(Device(enterprise_id=ent, code="LOOP-HTTP", name="bench/loop.py", protocol="http", connection={},
                     points=[], token_hash=token_digest(token)))
        if webhook_url:
            s.add(NotificationChannel(enterprise_id=ent, kind="wecom", name="bench receiver",
                                      config={"url": webhook_url}))
        s.flush()
        for p in points:
            detection_rule_service.create(s, actor, RuleCreate.model_validate({
                "name": f"{p.code} 超限", "point_id": p.id, "severity": "critical",
                "condition": {"detector": "threshold", "duration_s": 0, "clear_duration_s": 0,
                              "params": {"conditions": [{"signal": "value", "direction": "high", "limit": LIMIT}]}}}))
        s.commit()
    engine.dispose()
    return token


def collect(url: str, n: int) -> dict[str, dict[str, float]]:
    """Per press code: the database stamps of its chain (epoch seconds)."""
    from sqlalchemy import select

    from plantguard.assets.models import Equipment
    from plantguard.core.db import make_engine, make_session_factory
    from plantguard.detection.alarms.models import Alarm
    from plantguard.events.models import OutboxMessage
    from plantguard.notifications.models import Notification
    from plantguard.workorders.models import WorkOrder

    engine = make_engine(url)
    out: dict[str, dict[str, float]] = {}
    try:
        with make_session_factory(engine)() as s:
            codes = dict(s.execute(select(Equipment.id, Equipment.code).where(Equipment.code.like("LOOP-%"))).all())
            alarms = {a.id: a for a in s.scalars(select(Alarm).where(Alarm.equipment_id.in_(list(codes))))}
            for m in s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == "alarm.raised")):
                a = alarms.get(int(m.envelope["payload"]["alarm_id"]))
                if a is None:
                    continue
                st = out.setdefault(codes[a.equipment_id], {})
                st["alarm"] = m.created_at.timestamp()
                st["alarm_id"] = float(a.id)
                if m.published_at is not None:
                    st["alarm_published"] = m.published_at.timestamp()
            orders = {o.id: o for o in s.scalars(select(WorkOrder).where(WorkOrder.alarm_id.in_(list(alarms))))}
            for o in orders.values():
                st = out.setdefault(codes[o.equipment_id], {})
                st["workorder"] = o.created_at.timestamp()
                st["workorder_id"] = float(o.id)
            by_link = {f"/workorders/{o.id}": codes[o.equipment_id] for o in orders.values()}
            by_link.update({f"/alarms/{a.id}": codes[a.equipment_id] for a in alarms.values()})
            for note in s.scalars(select(Notification).where(Notification.channel_kind == "inapp",
                                                             Notification.event_type.in_(WATCHED))):
                code = by_link.get(note.link)
                if code is None:
                    continue
                key = "alarm_inapp" if note.event_type == "alarm.raised" else "workorder_inapp"
                st = out.setdefault(code, {})
                st[key] = min(st.get(key, float("inf")), note.created_at.timestamp())
            teams = {o.team_id for o in orders.values()}
            out["_meta"] = {"orders": float(len(orders)), "teams": float(len(teams))}
            from plantguard.tenancy.models import Team
            team_codes = [c for c in s.scalars(select(Team.code).where(Team.id.in_([t for t in teams if t])))]
            out["_teams"] = {c: 1.0 for c in team_codes}
    finally:
        engine.dispose()
    return out


# -- the server -----------------------------------------------------------------------------------


class Server:
    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "plantguard.cli.main", "run", "--port", str(port)],
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT,
                                     start_new_session=True)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not become healthy within {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def create_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(f"--create-db: database {name!r} already exists; drop it or name another")
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_streams(servers: str, names: list[str]) -> None:
    import asyncio

    import nats

    async def run() -> None:
        nc = await nats.connect(servers)
        try:
            js = nc.jetstream()
            for name in names:
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(run())


# -- the run --------------------------------------------------------------------------------------


def post_reading(client: httpx.Client, token: str, code: str) -> float:
    """Post one reading over the limit; returns the time it was sent."""
    t0 = time.time()
    r = client.post("/api/v1/ingest", headers={"Authorization": f"Bearer {token}"},
                    json={"readings": [{"point": f"{code}-HP", "ts": t0, "value": LIMIT + 2.0}]})
    if r.status_code != 200 or r.json().get("accepted") != 1:
        raise RuntimeError(f"ingest refused the reading for {code}: {r.status_code} {r.text[:300]}")
    return t0


def chain_times(posted: float, st: dict[str, float], hook: float | None) -> dict[str, float]:
    """Stage durations of one chain in ms (only the stages whose both ends were seen)."""
    out: dict[str, float] = {}

    def put(name: str, a: float | None, b: float | None) -> None:
        if a is not None and b is not None:
            out[name] = (b - a) * 1000.0

    alarm, wo, wo_in, al_in = st.get("alarm"), st.get("workorder"), st.get("workorder_inapp"), st.get("alarm_inapp")
    put("ingest_to_alarm", posted, alarm)
    put("alarm_to_workorder", alarm, wo)
    put("workorder_to_inapp", wo, wo_in)
    put("alarm_to_alarm_inapp", alarm, al_in)
    put("alarm_to_webhook", alarm, hook)
    put("e2e_workorder_inapp", posted, wo_in)
    put("e2e_webhook", posted, hook)
    ends = [wo, wo_in, hook]
    if all(e is not None for e in ends):
        put("e2e_all", posted, max(e for e in ends if e is not None))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=200, help="measured chains (each its own press)")
    p.add_argument("--warmup", type=int, default=5, help="chains run first and not counted")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between the starts of two chains")
    p.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary var dir")
    p.add_argument("--create-db", action="store_true", help="create the PostgreSQL database, drop it afterwards")
    p.add_argument("--bus", default="inprocess://", help="inprocess:// or nats://127.0.0.1:4222")
    p.add_argument("--no-webhook", action="store_true", help="no robot channel: in-app only")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the last chains to finish")
    p.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    p.add_argument("--check", action="store_true", help="exit 2 when the end-to-end p99 misses the target")
    p.add_argument("--keep", action="store_true", help="keep the temporary var dir (database, server log)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.samples < 1 or args.warmup < 0 or args.interval < 0:
        p.error("--samples must be at least 1, --warmup and --interval not negative")
    if args.create_db and not (args.database_url or "").startswith("postgresql"):
        p.error("--create-db needs a postgresql:// --database-url")
    started = datetime.now(UTC)
    var_dir = Path(tempfile.mkdtemp(prefix="plantguard-bench-loop-"))
    url = args.database_url or f"sqlite:///{var_dir / 'plantguard.db'}"
    total = args.warmup + args.samples
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANTGUARD_")}
    # The alarm loop only: no dual-prevention history (a year of hazards whose overdue ones would
    # open work orders of their own during the run) and no classifier training beside it.
    env.update(PLANTGUARD_VAR_DIR=str(var_dir), PLANTGUARD_DATABASE_URL=url, PYTHONUNBUFFERED="1",
               PLANTGUARD_DEMO_DUAL_PREVENTION="0", PLANTGUARD_DEMO_PERMITS="0",
               PLANTGUARD_WARM_UP_CLASSIFIER="0",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    streams: list[str] = []
    bus = args.bus
    if bus.startswith(("nats://", "tls://")):
        tag = f"PGLOOP{os.getpid()}"
        streams = [tag, f"{tag}_READINGS"]
        sep = "&" if "?" in bus else "?"
        bus = f"{bus}{sep}stream={tag}&prefix=pgloop{os.getpid()}"
        env.update(PLANTGUARD_INGEST_STREAM=streams[1], PLANTGUARD_INGEST_SUBJECT=f"pgloop{os.getpid()}_readings",
                   PLANTGUARD_INGEST_CONSUMER=f"pgloop{os.getpid()}_store")
    env["PLANTGUARD_BUS_URL"] = bus
    os.environ.update({k: v for k, v in env.items() if k.startswith("PLANTGUARD_")})
    port = free_port()
    server: Server | None = None
    created_db = False
    ok = False
    try:
        if args.create_db:
            create_database(url)
            created_db = True
        with Receiver() as receiver:
            hook_url = None if args.no_webhook else f"http://127.0.0.1:{receiver.port}/cgi-bin/webhook/send?key=bench"
            t_prep = time.monotonic()
            token = prepare(url, total, hook_url)
            print(f"prepared {total} presses and rules in {time.monotonic() - t_prep:.1f} s; starting the server")
            server = Server(env, port, var_dir / "server.log")
            server.wait_healthy(120)
            time.sleep(2.0)  # let the detection stage load its rules (it reloads every 5 s, first at once)
            posted: dict[str, float] = {}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                next_at = time.monotonic()
                for i in range(total):
                    now = time.monotonic()
                    if next_at > now:
                        time.sleep(next_at - now)
                    next_at += args.interval
                    posted[code_of(i)] = post_reading(client, token, code_of(i))
            print(f"posted {total} readings; waiting for the chains to finish")
            deadline = time.monotonic() + args.timeout
            stamps: dict[str, dict[str, float]] = {}
            hooks: dict[str, float] = {}
            while True:
                stamps = collect(url, total)
                alarm_codes = {f"/alarms/{int(st['alarm_id'])}": c for c, st in stamps.items()
                               if not c.startswith("_") and "alarm_id" in st}
                hooks = {}
                for at, body in receiver.snapshot():
                    for link, code in alarm_codes.items():
                        if link + ")" in body or link + '"' in body or body.endswith(link):
                            hooks.setdefault(code, at)
                done = [c for c in posted if {"workorder", "workorder_inapp", "alarm_inapp"} <= set(stamps.get(c, {}))
                        and (hook_url is None or c in hooks)]
                if len(done) == total or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        measured = [code_of(i) for i in range(args.warmup, total)]
        per_chain = {c: chain_times(posted[c], stamps.get(c, {}), hooks.get(c)) for c in measured}
        stages = {name: summary([t[name] for t in per_chain.values() if name in t]) for name, _ in STAGES}
        incomplete = [c for c in measured if "e2e_workorder_inapp" not in per_chain[c]
                      or (hook_url is not None and "e2e_webhook" not in per_chain[c])]
        key = "e2e_all" if hook_url else "e2e_workorder_inapp"
        p99 = stages[key].get("p99_ms")
        ok = not incomplete
        meets = ok and p99 is not None and p99 < args.target_p99_ms
        teams = sorted(stamps.get("_teams", {}))
        print(f"\n{'stage':<22} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, _ in STAGES:
            s = stages[name]
            if s["n"]:
                print(f"{name:<22} {s['n']:>4} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} {s['p99_ms']:>8.1f} "
                      f"{s['max_ms']:>8.1f}")
        print(f"\nwork orders routed to: {', '.join(teams) or '-'}; incomplete chains: {len(incomplete)}")
        print(f"end-to-end ({key}) p99 {p99} ms: {'meets' if meets else 'MISSES'} the {args.target_p99_ms:g} ms target")
        report = {
            "benchmark": "loop", "started_at": started.isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine_info(),
            "settings": {"samples": args.samples, "warmup": args.warmup, "interval_s": args.interval,
                         "database": redact(url) if args.database_url else "sqlite (temporary file)",
                         "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
                         "bus": redact(bus), "webhook": hook_url is not None},
            "stage_descriptions": dict(STAGES),
            "stages": stages,
            "end_to_end_key": key, "target_p99_ms": args.target_p99_ms, "meets_target": meets,
            "incomplete_chains": incomplete, "routed_teams": teams,
            "chains": per_chain,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        (args.out / f"loop-{stamp}.json").write_text(text)
        (args.out / "loop-latest.json").write_text(text)
        print(f"results: {args.out / f'loop-{stamp}.json'}")
    finally:
        if server is not None:
            server.stop()
            if not ok:
                print(f"server log: {server.log_path}")
        if streams:
            with contextlib.suppress(Exception):
                delete_streams(args.bus.split("?", 1)[0], streams)
        if created_db:
            drop_database(url)
        if not args.keep and ok:
            shutil.rmtree(var_dir, ignore_errors=True)
        elif args.keep:
            print(f"kept {var_dir}")
    if not ok:
        return 1
    return 2 if args.check and not meets else 0


if __name__ == "__main__":
    raise SystemExit(main())
