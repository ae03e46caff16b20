#!/usr/bin/env python
"""Web latency benchmark: the console pages and the list endpoints under concurrent clients.

By default it starts the real server (``python -m plantguard.cli.main run``) on a free port
with a fresh SQLite database under a temporary ``PLANTGUARD_VAR_DIR`` (so the demo plant is
seeded), signs in once for a console session (cookie) and once for an API bearer token, then
for every target runs a warm-up and ``--requests`` GETs from ``--concurrency`` clients
(asyncio + one pooled ``httpx.AsyncClient`` per kind of credential), with a per-target time
cap. Every response must be 200. It prints a table and writes JSON to
``bench/results/web-<timestamp>.json`` and ``bench/results/web-latest.json``.

    .venv/bin/python bench/web.py                                   # SQLite, 50 clients
    .venv/bin/python bench/web.py --database-url \\
        postgresql://postgres@127.0.0.1:5432/plantguard_bench --create-db   # PostgreSQL
    .venv/bin/python bench/web.py --url http://127.0.0.1:8000       # a server already running

The load generator runs on the same machine as the server and competes with it for CPU;
the JSON records how much CPU each side used per target.

Exit status: 0 when every response was 200 (1 otherwise; 2 with ``--check`` when a p95 is
over ``--target-p95-ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEMO_USER = "safety"
DEMO_PASSWORD = "plantguard-demo"
SESSION_COOKIE = "plantguard_session"
LOGIN_CSRF_COOKIE = "plantguard_login_csrf"


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "web" (session cookie) or "api" (bearer token)
    path: str


TARGETS = (
    Target("dashboard", "web", "/dashboard"),
    Target("equipment ledger", "web", "/equipment"),
    Target("api equipment", "api", "/api/v1/equipment?limit=50"),
    Target("api points", "api", "/api/v1/points?limit=50"),
    Target("api people", "api", "/api/v1/people?limit=50"),
    Target("api teams", "api", "/api/v1/teams"),
    Target("api audit", "api", "/api/v1/audit?limit=50"),
)


# -- measurements -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def proc_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process and its live descendants (uvicorn workers), from
    Linux /proc; None when unavailable."""
    if pid is None:
        return None
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    ticks = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(d.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    if pid not in stats:
        return None
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in stats.items():
            if ppid == parent and child not in family:
                family.add(child)
                frontier.append(child)
    return sum(stats[p][1] for p in family)


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes on the machine spent busy (Linux /proc/stat), None when unavailable."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except OSError:
        return None
    v = [int(x) for x in line.split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is already in user


@dataclass
class TargetResult:
    name: str
    path: str
    auth: str
    requests: int
    ok: int
    failures: int
    statuses: dict[str, int]
    errors: list[str]
    wall_s: float
    capped: bool
    throughput_rps: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float
    bytes_avg: float
    server_cpu_pct: float | None
    client_cpu_pct: float
    other_cpu_pct: float | None
    meets_target: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


async def hammer(client: httpx.AsyncClient, path: str, total: int, concurrency: int,
                 cap_s: float) -> tuple[list[float], Counter[int], list[str], int, float, bool]:
    """``total`` GETs of ``path`` from ``concurrency`` clients; stops early at ``cap_s``."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    nbytes = 0
    remaining = total
    start = time.perf_counter()
    deadline = start + cap_s
    capped = False

    async def client_loop() -> None:
        nonlocal remaining, nbytes, capped
        while remaining > 0:
            if time.perf_counter() >= deadline:
                capped = True
                return
            remaining -= 1
            t0 = time.perf_counter()
            try:
                resp = await client.get(path)  # reads the whole body
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            latencies.append(time.perf_counter() - t0)
            statuses[resp.status_code] += 1
            nbytes += len(resp.content)
            if resp.status_code != 200 and len(errors) < 5:
                errors.append(f"HTTP {resp.status_code}: {resp.text[:160]!r}")

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return latencies, statuses, errors, nbytes, time.perf_counter() - start, capped


async def bench_target(client: httpx.AsyncClient, target: Target, args: argparse.Namespace,
                       server_pid: int | None) -> TargetResult:
    if args.warmup:
        _, wstatuses, werrors, *_ = await hammer(client, target.path, args.warmup, args.concurrency, args.time_cap)
        if set(wstatuses) != {200} or werrors:
            raise SystemExit(f"warm-up of {target.path} failed: {dict(wstatuses)} {werrors[:3]}")
    busy0 = machine_busy_seconds()
    cpu_server0 = proc_cpu_seconds(server_pid)
    cpu_client0 = time.process_time()
    lat, statuses, errors, nbytes, wall, capped = await hammer(
        client, target.path, args.requests, args.concurrency, args.time_cap)
    cpu_client = time.process_time() - cpu_client0
    cpu_server1 = proc_cpu_seconds(server_pid)
    busy1 = machine_busy_seconds()
    server_cpu = (cpu_server1 - cpu_server0) if cpu_server0 is not None and cpu_server1 is not None else None
    other_cpu = None
    if busy0 is not None and busy1 is not None and server_cpu is not None:
        other_cpu = max(0.0, (busy1 - busy0) - server_cpu - cpu_client)
    lat.sort()
    ms = [x * 1000.0 for x in lat]
    ok = statuses.get(200, 0)
    done = len(lat)
    return TargetResult(
        name=target.name, path=target.path, auth=target.kind, requests=done, ok=ok,
        failures=done - ok + sum(1 for e in errors if not e.startswith("HTTP ")),
        statuses={str(k): v for k, v in sorted(statuses.items())}, errors=errors[:5],
        wall_s=round(wall, 3), capped=capped, throughput_rps=round(done / wall, 1) if wall else 0.0,
        mean_ms=round(sum(ms) / done, 2) if done else float("nan"),
        p50_ms=round(percentile(ms, 50), 2), p95_ms=round(percentile(ms, 95), 2),
        p99_ms=round(percentile(ms, 99), 2), max_ms=round(ms[-1], 2) if ms else float("nan"),
        min_ms=round(ms[0], 2) if ms else float("nan"), bytes_avg=round(nbytes / done) if done else 0,
        server_cpu_pct=round(100.0 * server_cpu / wall, 1) if server_cpu is not None and wall else None,
        client_cpu_pct=round(100.0 * cpu_client / wall, 1) if wall else 0.0,
        other_cpu_pct=round(100.0 * other_cpu / wall, 1) if other_cpu is not None and wall else None,
        meets_target=bool(done and ok == done and percentile(ms, 95) < args.target_p95_ms),
    )


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``plantguard run`` in a subprocess, with its own temporary var dir and log file."""

    def __init__(self, database_url: str | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="plantguard-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "server.log"
        self.database_url = database_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env.update(PLANTGUARD_VAR_DIR=str(self.tmp / "var"), PLANTGUARD_HOST="127.0.0.1",
                   PLANTGUARD_PORT=str(self.port), PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
        if self.database_url:
            env["PLANTGUARD_DATABASE_URL"] = self.database_url
        else:
            env.pop("PLANTGUARD_DATABASE_URL", None)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "plantguard.cli.main", "run"], cwd=str(self.tmp),
                                     env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                r = httpx.get(f"{self.url}/healthz", timeout=2)
                if r.status_code == 200:
                    return dict(r.json())
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise SystemExit(f"server not healthy after {timeout:.0f}s ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def fresh_postgres_database(url: str) -> Iterator[None]:
    """Create the database named in ``url`` (it must not exist) and drop it afterwards."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    u = make_url(url)
    name = u.database
    if not name or not u.drivername.startswith("postgres"):
        raise SystemExit("--create-db needs a postgresql:// URL that names a database")
    admin = u.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(f"database {name!r} already exists; --create-db only uses a fresh one")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# -- signing in ---------------------------------------------------------------------------------


def web_session(base: str, username: str, password: str) -> str:
    """The console's form sign-in (CSRF cookie + hidden field); returns the session cookie."""
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as c:
        page = c.get("/login")
        page.raise_for_status()
        m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        csrf_cookie = page.cookies.get(LOGIN_CSRF_COOKIE)
        if not m or not csrf_cookie:
            raise SystemExit("sign-in page: no CSRF token")
        c.cookies.clear()
        r = c.post("/login", data={"username": username, "password": password, "csrf_token": m.group(1),
                                   "next": "/dashboard"},
                   headers={"cookie": f"{LOGIN_CSRF_COOKIE}={csrf_cookie}"})
        token = r.cookies.get(SESSION_COOKIE)
        if r.status_code != 303 or not token:
            raise SystemExit(f"console sign-in failed: HTTP {r.status_code}")
        return token


def api_token(base: str, username: str, password: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": password,
                                                       "grant_type": "password"}, timeout=30)
    if r.status_code != 200:
        raise SystemExit(f"token sign-in failed: HTTP {r.status_code} {r.text[:200]}")
    return str(r.json()["access_token"])


# -- the run ------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    with contextlib.suppress(Exception):
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True, timeout=5).stdout.strip() or None
    return info


def redact(url: str | None) -> str | None:
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':')[0]}{':***' if ':' in creds else ''}@{host}"


async def run_all(base: str, targets: list[Target], args: argparse.Namespace,
                  server_pid: int | None) -> tuple[list[TargetResult], dict[str, Any]]:
    session = web_session(base, args.username, args.password)
    token = api_token(base, args.username, args.password)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(60.0)
    clients = {
        # Cookie set as a header: the console refuses requests that carry Authorization.
        "web": httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout,
                                 headers={"cookie": f"{SESSION_COOKIE}={session}"}),
        "api": httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout,
                                 headers={"authorization": f"Bearer {token}"}),
    }
    results: list[TargetResult] = []
    data: dict[str, Any] = {}
    try:
        for t in targets:
            if t.kind == "api":
                r = await clients["api"].get(t.path)
                if r.status_code == 200:
                    data[t.path.split("?")[0].rsplit("/", 1)[1]] = r.json().get("total")
            res = await bench_target(clients[t.kind], t, args, server_pid)
            results.append(res)
            print(f"  {t.name:<17} p50 {res.p50_ms:8.1f} ms  p95 {res.p95_ms:8.1f} ms  "
                  f"{res.throughput_rps:7.1f} req/s  ({res.requests} requests, {res.failures} failed"
                  f"{', time cap' if res.capped else ''})", flush=True)
    finally:
        for c in clients.values():
            await c.aclose()
    return results, data


def print_table(results: list[TargetResult], target_ms: float) -> None:
    head = (f"{'target':<17} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'req/s':>7} {'srv CPU':>7} {'cli CPU':>7} {'oth CPU':>7}  p95<{target_ms:g}")
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        srv = f"{r.server_cpu_pct:.0f}%" if r.server_cpu_pct is not None else "-"
        oth = f"{r.other_cpu_pct:.0f}%" if r.other_cpu_pct is not None else "-"
        met = "yes" if r.meets_target else "NO"
        print(f"{r.name:<17} {r.requests:>8} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.p99_ms:>8.1f} {r.max_ms:>8.1f} "
              f"{r.throughput_rps:>7.1f} {srv:>7} {r.client_cpu_pct:>6.0f}% {oth:>7}  {met}")
    print("CPU columns: % of one core used by the server, by this load generator, and by everything else\n"
          "on the machine during the measured requests (a busy 'oth' column means a noisy run).")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--concurrency", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--requests", type=int, default=2000, help="measured requests per target (default 2000)")
    p.add_argument("--warmup", type=int, default=100, help="unmeasured requests per target first (default 100)")
    p.add_argument("--time-cap", type=float, default=20.0,
                   help="seconds per target before it stops early (default 20)")
    p.add_argument("--url", help="bench a server already running here instead of starting one")
    p.add_argument("--server-pid", type=int, help="with --url: the server's process id, to report its CPU use")
    p.add_argument("--database-url", help="PLANTGUARD_DATABASE_URL for the started server (default: SQLite)")
    p.add_argument("--create-db", action="store_true",
                   help="create the PostgreSQL database named in --database-url first and drop it afterwards")
    p.add_argument("--only", help="comma-separated target names or paths (default: all)")
    p.add_argument("--username", default=DEMO_USER)
    p.add_argument("--password", default=DEMO_PASSWORD)
    p.add_argument("--target-p95-ms", type=float, default=200.0, help="the p95 goal (default 200)")
    p.add_argument("--check", action="store_true", help="exit 2 when a p95 misses the goal")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default bench/results)")
    args = p.parse_args(argv)
    if args.url and (args.database_url or args.create_db):
        p.error("--url benches a running server; --database-url/--create-db are for the one this starts")
    if args.create_db and not args.database_url:
        p.error("--create-db needs --database-url")
    if args.concurrency < 1 or args.requests < 1:
        p.error("--concurrency and --requests must be positive")
    return args


def select_targets(only: str | None) -> list[Target]:
    if not only:
        return list(TARGETS)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    chosen = [t for t in TARGETS if t.name in wanted or t.path in wanted or t.path.split("?")[0] in wanted]
    if not chosen:
        raise SystemExit(f"--only matched no target; names: {', '.join(t.name for t in TARGETS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = select_targets(args.only)
    started = datetime.now(UTC)
    machine = machine_info()
    server: Server | None = None
    with contextlib.ExitStack() as stack:
        if args.create_db:
            stack.enter_context(fresh_postgres_database(args.database_url))
        if args.url:
            base = args.url.rstrip("/")
            health = httpx.get(f"{base}/healthz", timeout=10).json()
        else:
            server = Server(args.database_url)
            stack.callback(server.stop)
            t0 = time.perf_counter()
            server.start()
            health = server.wait_healthy(args.startup_timeout)
            print(f"server {server.url} ready in {time.perf_counter() - t0:.1f}s "
                  f"(database: {health.get('database', {}).get('backend')})", flush=True)
            base = server.url
        pid = server.proc.pid if server and server.proc else args.server_pid
        print(f"{len(targets)} targets x {args.requests} requests, {args.concurrency} clients "
              f"(warm-up {args.warmup}, cap {args.time_cap:g}s each)", flush=True)
        results, demo_counts = asyncio.run(run_all(base, targets, args, pid))
    finished = datetime.now(UTC)
    with contextlib.suppress(OSError):
        machine["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]

    print_table(results, args.target_p95_ms)
    failures = sum(r.failures for r in results)
    all_met = all(r.meets_target for r in results)
    report = {
        "benchmark": "web",
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine,
        "settings": {
            "concurrency": args.concurrency, "requests_per_target": args.requests, "warmup_per_target": args.warmup,
            "time_cap_s": args.time_cap, "target_p95_ms": args.target_p95_ms,
            "database_backend": health.get("database", {}).get("backend"),
            "database_url": redact(args.database_url) if not args.url else None,
            "server": "started by the bench (plantguard run, 1 uvicorn process)" if server else args.url,
            "server_version": health.get("version"), "bus": health.get("bus", {}).get("backend"),
            "client": f"asyncio + httpx {httpx.__version__} AsyncClient, same machine as the server",
        },
        "demo_data_totals": demo_counts,
        "results": [asdict(r) for r in results],
        "all_200": failures == 0,
        "p95_target_met": all_met,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    (args.out / f"web-{stamp}.json").write_text(text)
    (args.out / "web-latest.json").write_text(text)
    missed = ", ".join(r.name for r in results if not r.meets_target)
    backend = health.get("database", {}).get("backend")
    print(f"\nbackend {backend}: p95 < {args.target_p95_ms:g} ms "
          f"{'met for every target' if all_met else 'NOT met for: ' + missed}")
    print(f"results: {args.out / f'web-{stamp}.json'}")
    if failures:
        print(f"FAILED: {failures} responses were not 200", file=sys.stderr)
        for r in results:
            for e in r.errors:
                print(f"  {r.path}: {e}", file=sys.stderr)
        return 1
    if args.check and not all_met:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
