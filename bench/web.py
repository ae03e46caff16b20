#!/usr/bin/env python
"""Web latency benchmark: the console pages and the list endpoints under concurrent clients.

By default it starts the real server (``python -m plantguard.cli.main run``) on a free port
with a fresh SQLite database under a temporary ``PLANTGUARD_VAR_DIR`` (so the demo plant is
seeded), signs in once for a console session (cookie) and once for an API bearer token, then
for every target runs a warm-up and ``--requests`` GETs from ``--concurrency`` clients
(asyncio tasks, each on a minimal HTTP/1.1 keep-alive connection by default, or with
``--client httpx`` sharing one pooled ``httpx.AsyncClient`` per kind of credential), with a per-target time cap.
Every response must be 200. It prints a table and writes JSON to
``bench/results/web-<timestamp>.json`` and ``bench/results/web-latest.json``.

    .venv/bin/python bench/web.py                                   # SQLite, 50 clients
    .venv/bin/python bench/web.py --database-url \\
        postgresql://postgres@127.0.0.1:5432/plantguard_bench --create-db   # PostgreSQL
    .venv/bin/python bench/web.py --client httpx                    # httpx as the load generator (takes a core)
    .venv/bin/python bench/web.py --workers 2                       # PLANTGUARD_WORKERS for the server
    .venv/bin/python bench/web.py --no-read-cache                   # every request computes its page
    .venv/bin/python bench/web.py --url http://127.0.0.1:8000       # a server already running
    .venv/bin/python bench/web.py --profile /dashboard,/equipment   # cProfile in-process instead

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
import logging
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
from collections.abc import Awaitable, Callable, Iterator
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
    retries: int
    server_cpu_pct: float | None
    server_cpu_ms_per_request: float | None
    client_cpu_pct: float
    other_cpu_pct: float | None
    meets_target: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# -- load generators ----------------------------------------------------------------------------

Fetch = Callable[[str], Awaitable[tuple[int, bytes]]]


class ConnectionClosed(Exception):
    """The server closed a kept-alive connection before answering."""


class HttpxClient:
    """One pooled ``httpx.AsyncClient`` shared by all the load-generating tasks."""

    def __init__(self, base: str, headers: dict[str, str], concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(base_url=base, limits=limits, timeout=httpx.Timeout(60.0),
                                        headers=headers)

    def fetcher(self) -> tuple[Fetch, Callable[[], None]]:
        async def fetch(path: str) -> tuple[int, bytes]:
            resp = await self.client.get(path)  # reads the whole body
            return resp.status_code, resp.content

        return fetch, lambda: None

    async def aclose(self) -> None:
        await self.client.aclose()


RAW_TIMEOUT_S = 60.0  # as the httpx client's timeout


class RawConnection:
    """A minimal HTTP/1.1 keep-alive GET client on one connection (a much cheaper load
    generator than httpx, so that more of the shared CPU is left to the server)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        lines = [f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
        self.tail = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._get(path), RAW_TIMEOUT_S)
        except TimeoutError:
            self.close()
            raise TimeoutError(f"no response within {RAW_TIMEOUT_S:g}s") from None

    async def _get(self, path: str) -> tuple[int, bytes]:
        reused = self.writer is not None
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.reader, self.writer
        try:
            writer.write(b"GET " + path.encode("latin-1") + b" HTTP/1.1\r\n" + self.tail)
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.close()
            if reused:
                raise ConnectionClosed(str(exc)) from exc
            raise
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                chunks.append((await reader.readexactly(size + 2))[:-2])
            body = b"".join(chunks)
        else:
            body = await reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class RawClient:
    def __init__(self, base: str, headers: dict[str, str]) -> None:
        u = httpx.URL(base)
        self.host, self.port, self.headers = u.host, u.port or 80, headers

    def fetcher(self) -> tuple[Fetch, Callable[[], None]]:
        conn = RawConnection(self.host, self.port, self.headers)
        return conn.get, conn.close

    async def aclose(self) -> None:
        return None


LoadClient = HttpxClient | RawClient

# The connection closed before any response: the server dropped a keep-alive connection as
# the client reused it. Browsers and proxies retry an idempotent request once in that case
# (RFC 9112 section 9.3.1), and so does the bench; the retries are counted and reported.
RETRYABLE = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, ConnectionClosed)
FAILURES = (httpx.HTTPError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            ConnectionClosed)


async def hammer(client: LoadClient, path: str, total: int, concurrency: int,
                 cap_s: float) -> tuple[list[float], Counter[int], list[str], int, float, bool, int]:
    """``total`` GETs of ``path`` from ``concurrency`` clients; stops early at ``cap_s``."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    nbytes = 0
    retries = 0
    remaining = total
    start = time.perf_counter()
    deadline = start + cap_s
    capped = False

    async def client_loop() -> None:
        nonlocal remaining, nbytes, capped, retries
        fetch, close = client.fetcher()
        try:
            while remaining > 0:
                if time.perf_counter() >= deadline:
                    capped = True
                    return
                remaining -= 1
                t0 = time.perf_counter()
                try:
                    try:
                        status, body = await fetch(path)
                    except RETRYABLE:
                        retries += 1
                        status, body = await fetch(path)
                except FAILURES as exc:
                    now = time.perf_counter()
                    errors.append(f"{type(exc).__name__} after {now - t0:.3f}s, {now - start:.1f}s into the run: "
                                  f"{exc}"[:200])
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1
                nbytes += len(body)
                if status != 200 and len(errors) < 5:
                    errors.append(f"HTTP {status}: {body[:160]!r}")
        finally:
            close()

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return latencies, statuses, errors, nbytes, time.perf_counter() - start, capped, retries


async def bench_target(client: LoadClient, target: Target, args: argparse.Namespace,
                       server_pid: int | None) -> TargetResult:
    if args.warmup:
        _, wstatuses, werrors, *_ = await hammer(client, target.path, args.warmup, args.concurrency, args.time_cap)
        if set(wstatuses) != {200} or werrors:
            raise SystemExit(f"warm-up of {target.path} failed: {dict(wstatuses)} {werrors[:3]}")
    busy0 = machine_busy_seconds()
    cpu_server0 = proc_cpu_seconds(server_pid)
    cpu_client0 = time.process_time()
    lat, statuses, errors, nbytes, wall, capped, retries = await hammer(
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
    failures = done - ok + sum(1 for e in errors if not e.startswith("HTTP "))
    return TargetResult(
        name=target.name, path=target.path, auth=target.kind, requests=done, ok=ok,
        failures=failures, statuses={str(k): v for k, v in sorted(statuses.items())}, errors=errors[:5],
        wall_s=round(wall, 3), capped=capped, throughput_rps=round(done / wall, 1) if wall else 0.0,
        mean_ms=round(sum(ms) / done, 2) if done else float("nan"),
        p50_ms=round(percentile(ms, 50), 2), p95_ms=round(percentile(ms, 95), 2),
        p99_ms=round(percentile(ms, 99), 2), max_ms=round(ms[-1], 2) if ms else float("nan"),
        min_ms=round(ms[0], 2) if ms else float("nan"), bytes_avg=round(nbytes / done) if done else 0,
        retries=retries,
        server_cpu_pct=round(100.0 * server_cpu / wall, 1) if server_cpu is not None and wall else None,
        server_cpu_ms_per_request=round(1000.0 * server_cpu / done, 2) if server_cpu is not None and done else None,
        client_cpu_pct=round(100.0 * cpu_client / wall, 1) if wall else 0.0,
        other_cpu_pct=round(100.0 * other_cpu / wall, 1) if other_cpu is not None and wall else None,
        meets_target=bool(done and not failures and percentile(ms, 95) < args.target_p95_ms),
    )


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``plantguard run`` in a subprocess, with its own temporary var dir and log file."""

    def __init__(self, database_url: str | None, workers: int | None = None, threads: int | None = None,
                 read_cache: bool = True) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="plantguard-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "server.log"
        self.database_url = database_url
        self.workers, self.threads = workers, threads
        self.read_cache = read_cache
        self.proc: subprocess.Popen[bytes] | None = None
        self.save_log_to: Path | None = None  # set to keep the server's log when it is removed

    def start(self) -> None:
        env = dict(os.environ)
        env.update(PLANTGUARD_VAR_DIR=str(self.tmp / "var"), PLANTGUARD_HOST="127.0.0.1",
                   PLANTGUARD_PORT=str(self.port), PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
        if self.workers:
            env["PLANTGUARD_WORKERS"] = str(self.workers)
        if self.threads:
            env["PLANTGUARD_THREADS"] = str(self.threads)
        if not self.read_cache:
            env["PLANTGUARD_READ_CACHE_SIZE"] = "0"
        if self.database_url:
            env["PLANTGUARD_DATABASE_URL"] = self.database_url
        else:
            env.pop("PLANTGUARD_DATABASE_URL", None)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "plantguard.cli.main", "run"], cwd=str(self.tmp),
                                     env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)  # its own process group: workers included
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
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self.save_log_to is not None:
            self.save_log_to.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, self.save_log_to)
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


async def run_all(base: str, targets: list[Target], args: argparse.Namespace,
                  server_pid: int | None) -> tuple[list[TargetResult], dict[str, Any]]:
    session = web_session(base, args.username, args.password)
    token = api_token(base, args.username, args.password)
    # The session cookie is sent as a header: the console refuses requests that carry Authorization.
    headers = {"web": {"cookie": f"{SESSION_COOKIE}={session}"}, "api": {"authorization": f"Bearer {token}"}}
    clients: dict[str, LoadClient] = {
        kind: (RawClient(base, h) if args.client == "raw" else HttpxClient(base, h, args.concurrency))
        for kind, h in headers.items()
    }
    results: list[TargetResult] = []
    data: dict[str, Any] = {}
    try:
        for t in targets:
            if t.kind == "api":
                r = await asyncio.to_thread(httpx.get, base + t.path, headers=headers["api"], timeout=30)
                if r.status_code == 200:
                    data[t.path.split("?")[0].rsplit("/", 1)[1]] = r.json().get("total")
            res = await bench_target(clients[t.kind], t, args, server_pid)
            results.append(res)
            notes = (", time cap" if res.capped else "") + (f", {res.retries} retried" if res.retries else "")
            print(f"  {t.name:<17} p50 {res.p50_ms:8.1f} ms  p95 {res.p95_ms:8.1f} ms  "
                  f"{res.throughput_rps:7.1f} req/s  ({res.requests} requests, {res.failures} failed{notes})",
                  flush=True)
    finally:
        for c in clients.values():
            await c.aclose()
    return results, data


# -- in-process profile -------------------------------------------------------------------------


PROFILE_FILTER = (r"src/plantguard/|jinja2/environment\.py:\d+\(render\)|orm/session\.py:\d+\(_execute_internal\)"
                  r"|orm/loading\.py:\d+\(instances\)|pydantic/main\.py:\d+\(model_dump_json\)")


def profile(paths: list[str], n: int, database_url: str | None, top: int, only: str = PROFILE_FILTER) -> int:
    """cProfile ``n`` sequential GETs of each path, in this process, on a fresh demo database.

    Work that the server hands to its thread pool is run inline here, so that cProfile (which
    sees one thread) sees it; the figures are one request at a time, without contention.
    """
    import cProfile
    import io
    import pstats

    import anyio.to_thread

    tmp = Path(tempfile.mkdtemp(prefix="plantguard-profile-"))
    os.environ["PLANTGUARD_VAR_DIR"] = str(tmp / "var")
    if database_url:
        os.environ["PLANTGUARD_DATABASE_URL"] = database_url
    sys.path.insert(0, str(ROOT / "src"))

    async def inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    logging.disable(logging.INFO)

    from plantguard.api.app import create_app
    from plantguard.cli.main import _factory
    from plantguard.core.migrate import upgrade
    from plantguard.core.settings import Settings
    from plantguard.demo.seed import seed_demo

    try:
        settings = Settings()
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
        rt = _factory(settings)
        seed_demo(rt.factory)
        app = create_app(settings, runtime=rt, start_relay=False)

        async def run() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                page = await c.get("/login")
                m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert m is not None
                r = await c.post("/login", data={"username": DEMO_USER, "password": DEMO_PASSWORD,
                                                 "csrf_token": m.group(1), "next": "/dashboard"},
                                 headers={"cookie": f"{LOGIN_CSRF_COOKIE}={page.cookies[LOGIN_CSRF_COOKIE]}"})
                session = r.cookies[SESSION_COOKIE]
                tok = (await c.post("/api/v1/auth/token", data={"username": DEMO_USER,
                                                                "password": DEMO_PASSWORD})).json()["access_token"]
                c.cookies.clear()
                for path in paths:
                    h = ({"authorization": f"Bearer {tok}"} if path.startswith("/api/")
                         else {"cookie": f"{SESSION_COOKIE}={session}"})
                    for _ in range(20):
                        r = await c.get(path, headers=h)
                        if r.status_code != 200:
                            raise SystemExit(f"{path}: HTTP {r.status_code}")
                    t0 = time.perf_counter()
                    for _ in range(n):
                        await c.get(path, headers=h)
                    plain_ms = (time.perf_counter() - t0) / n * 1000
                    prof = cProfile.Profile()
                    prof.enable()
                    for _ in range(n):
                        await c.get(path, headers=h)
                    prof.disable()
                    out = io.StringIO()
                    stats = pstats.Stats(prof, stream=out)
                    stats.sort_stats("cumulative").print_stats(*([only] if only else []), top)
                    print(f"=== {path}: {plain_ms:.2f} ms per request without the profiler "
                          f"(one at a time, in-process)")
                    print(out.getvalue())

        asyncio.run(run())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def print_table(results: list[TargetResult], target_ms: float) -> None:
    head = (f"{'target':<17} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'req/s':>7} {'CPU ms/req':>10} {'srv CPU':>7} {'cli CPU':>7} {'oth CPU':>7}  p95<{target_ms:g}")
    print()
    print(head)
    print("-" * len(head))

    def pct(v: float | None) -> str:
        return f"{v:.0f}%" if v is not None else "-"

    for r in results:
        per = f"{r.server_cpu_ms_per_request:.1f}" if r.server_cpu_ms_per_request is not None else "-"
        met = "yes" if r.meets_target else "NO"
        print(f"{r.name:<17} {r.requests:>8} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.p99_ms:>8.1f} {r.max_ms:>8.1f} "
              f"{r.throughput_rps:>7.1f} {per:>10} {pct(r.server_cpu_pct):>7} {pct(r.client_cpu_pct):>7} "
              f"{pct(r.other_cpu_pct):>7}  {met}")
    print("CPU ms/req: server CPU per request. CPU %: share of one core used by the server, by this load\n"
          "generator and by everything else on the machine during the measured requests (a busy 'oth'\n"
          "column means a noisy run).")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--concurrency", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--requests", type=int, default=2000, help="measured requests per target (default 2000)")
    p.add_argument("--warmup", type=int, default=100, help="unmeasured requests per target first (default 100)")
    p.add_argument("--time-cap", type=float, default=20.0,
                   help="seconds per target before it stops early (default 20)")
    p.add_argument("--client", choices=("httpx", "raw"), default="raw",
                   help="load generator: a minimal raw HTTP/1.1 client (default; it costs far less CPU, and\n"
                        "the server shares the machine with it) or httpx.AsyncClient")
    p.add_argument("--url", help="bench a server already running here instead of starting one")
    p.add_argument("--server-pid", type=int, help="with --url: the server's process id, to report its CPU use")
    p.add_argument("--database-url", help="PLANTGUARD_DATABASE_URL for the started server (default: SQLite)")
    p.add_argument("--workers", type=int, help="PLANTGUARD_WORKERS for the started server (default: its own)")
    p.add_argument("--threads", type=int, help="PLANTGUARD_THREADS for the started server (default: its own)")
    p.add_argument("--no-read-cache", action="store_true",
                   help="PLANTGUARD_READ_CACHE_SIZE=0: every request computes its page (the cache-miss path)")
    p.add_argument("--create-db", action="store_true",
                   help="create the PostgreSQL database named in --database-url first and drop it afterwards")
    p.add_argument("--only", help="comma-separated target names or paths (default: all)")
    p.add_argument("--username", default=DEMO_USER)
    p.add_argument("--password", default=DEMO_PASSWORD)
    p.add_argument("--target-p95-ms", type=float, default=200.0, help="the p95 goal (default 200)")
    p.add_argument("--check", action="store_true", help="exit 2 when a p95 misses the goal")
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--profile", metavar="PATH[,PATH]",
                   help="instead of the load test: cProfile sequential GETs of these paths in-process")
    p.add_argument("--profile-requests", type=int, default=300, help="requests per profiled path")
    p.add_argument("--profile-top", type=int, default=40, help="functions shown per profile")
    p.add_argument("--profile-filter", default=PROFILE_FILTER,
                   help="regular expression the shown functions match ('' shows all)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default bench/results)")
    args = p.parse_args(argv)
    if args.url and (args.database_url or args.create_db or args.workers or args.threads):
        p.error("--url benches a running server; --database-url, --create-db, --workers and --threads are for "
                "the one this starts")
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
    if args.profile:
        with contextlib.ExitStack() as stack:
            if args.create_db:
                stack.enter_context(fresh_postgres_database(args.database_url))
            return profile([x.strip() for x in args.profile.split(",") if x.strip()], args.profile_requests,
                           args.database_url, args.profile_top, args.profile_filter)
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
            server = Server(args.database_url, args.workers, args.threads, read_cache=not args.no_read_cache)
            stack.callback(server.stop)
            t0 = time.perf_counter()
            server.start()
            health = server.wait_healthy(args.startup_timeout)
            print(f"server {server.url} ready in {time.perf_counter() - t0:.1f}s "
                  f"(database: {health.get('database', {}).get('backend')})", flush=True)
            base = server.url
        pid = server.proc.pid if server and server.proc else args.server_pid
        print(f"{len(targets)} targets x {args.requests} requests, {args.concurrency} {args.client} clients "
              f"(warm-up {args.warmup}, cap {args.time_cap:g}s each)", flush=True)
        results, demo_counts = asyncio.run(run_all(base, targets, args, pid))
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        if server and any(r.failures for r in results):
            server.save_log_to = args.out / f"web-{stamp}-server.log"
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
            "concurrency": args.concurrency, "client_kind": args.client,
            "requests_per_target": args.requests, "warmup_per_target": args.warmup,
            "time_cap_s": args.time_cap, "target_p95_ms": args.target_p95_ms,
            "database_backend": health.get("database", {}).get("backend"),
            "database_url": redact(args.database_url) if not args.url else None,
            "server": "started by the bench (plantguard run)" if server else args.url,
            "workers": (args.workers or int(os.environ.get("PLANTGUARD_WORKERS", "1"))) if server else None,
            "read_cache": (not args.no_read_cache) if server else None,
            "threads": (args.threads or os.environ.get("PLANTGUARD_THREADS") or "server default") if server else None,
            "server_version": health.get("version"), "bus": health.get("bus", {}).get("backend"),
            "client": (f"asyncio + httpx {httpx.__version__} AsyncClient" if args.client == "httpx" else
                       "asyncio raw HTTP/1.1 keep-alive client, one connection per task")
                      + ", on the same machine as the server",
        },
        "demo_data_totals": demo_counts,
        "results": [asdict(r) for r in results],
        "all_200": failures == 0,
        "retried_after_closed_connection": sum(r.retries for r in results),
        "p95_target_met": all_met,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    (args.out / f"web-{stamp}.json").write_text(text)
    (args.out / "web-latest.json").write_text(text)
    missed = ", ".join(r.name for r in results if not r.meets_target)
    backend = health.get("database", {}).get("backend")
    print(f"\nbackend {backend}: p95 < {args.target_p95_ms:g} ms "
          f"{'met for every target' if all_met else 'NOT met for: ' + missed}")
    retried = sum(r.retries for r in results)
    if retried:
        print(f"{retried} requests were retried once after the server closed a kept-alive connection")
    print(f"results: {args.out / f'web-{stamp}.json'}")
    if failures:
        print(f"FAILED: {failures} requests got no 200 response", file=sys.stderr)
        if server and server.save_log_to:
            print(f"server log: {server.save_log_to}", file=sys.stderr)
        for r in results:
            for e in r.errors:
                print(f"  {r.path}: {e}", file=sys.stderr)
        return 1
    if args.check and not all_met:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
