"""The ``plantguard`` command. Each domain adds its own sub-commands here."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Annotated, Any

import typer

from plantguard.core.settings import Settings, get_settings
from plantguard.detection.cli import detect
from plantguard.detection.evaluation.cli import eval_app
from plantguard.edge.cli import edge
from plantguard.hazards.cli import eval_hazards
from plantguard.ingest.cli import devices_app, ingest_app
from plantguard.simulator.cli import simulate_app
from plantguard.timeseries.cli import timeseries_app

app = typer.Typer(help="PlantGuard: safety-production management (安全生产管理系统).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo plant.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The change ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(devices_app, name="devices")
app.add_typer(ingest_app, name="ingest")
app.add_typer(timeseries_app, name="timeseries")
app.add_typer(simulate_app, name="simulate")
app.add_typer(eval_app, name="eval")
eval_app.command("hazards")(eval_hazards)
app.command("detect")(detect)
app.command("edge")(edge)


def _settings() -> Settings:
    return get_settings()


def _factory(settings: Settings):  # type: ignore[no-untyped-def]
    from plantguard.api.runtime import Runtime
    from plantguard.audit import ledger
    from plantguard.core.models import import_all

    import_all()
    ledger.install()
    return Runtime.build(settings)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations (creates the SQLite file under ./var/ when needed)."""
    from plantguard.core.migrate import upgrade

    settings = _settings()
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}: {_redact(settings.database_url)}")


@demo_app.command("seed")
def demo_seed() -> None:
    """Create the demo vehicle-parts plant and its accounts (does nothing if it exists)."""
    from plantguard.demo.seed import DEMO_PASSWORD, seed_demo

    settings = _settings()
    rt = _factory(settings)
    summary = seed_demo(rt.factory)
    typer.echo("demo plant created" if summary.created else "demo plant already present")
    _seed_dual_prevention(rt, settings)
    _seed_permits(rt)
    _print_accounts([a for a in summary.accounts], DEMO_PASSWORD)


def _seed_dual_prevention(rt: Any, settings: Settings) -> None:
    """The demo's risk register, site plan, inspection plans and hazard history (once per
    database: each part is skipped when present). ``PLANTGUARD_DEMO_DUAL_PREVENTION=0`` skips it:
    writing a year of history through the services takes tens of seconds, which the test
    suite's subprocess runs of ``plantguard run`` must not pay."""
    import os
    import time

    from plantguard.demo.dual_prevention import seed_dual_prevention

    if os.environ.get("PLANTGUARD_DEMO_DUAL_PREVENTION", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    started = time.monotonic()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    dp = seed_dual_prevention(rt.factory, settings.var_dir)
    if not dp.created:
        typer.echo("dual prevention demo data present (kept)")
        return
    typer.echo(f"dual prevention demo data: {dp.points} risk points, {dp.plans} inspection plans with "
               f"{dp.tasks} past tasks, {dp.hazards} hazards over a year "
               f"({time.monotonic() - started:.0f} s; {dp.suppressed_events} historic events not sent)")


def _seed_permits(rt: Any) -> None:
    """The demo's permit approvers and special work permits of every type and state (once per
    database). ``PLANTGUARD_DEMO_PERMITS=0`` skips it (the test suite's subprocess runs)."""
    import os
    import time

    from plantguard.demo.permits import DemoPermitError, seed_permits

    if os.environ.get("PLANTGUARD_DEMO_PERMITS", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    started = time.monotonic()
    try:
        out = seed_permits(rt.factory)
    except DemoPermitError as exc:  # e.g. a demo plant seeded long ago: its certificates have lapsed
        typer.echo(f"demo permits not seeded: {exc}", err=True)
        return
    if not out.permits:
        typer.echo("demo permits present (kept)")
        return
    states = ", ".join(f"{n} {status}" for status, n in sorted(out.by_status.items()))
    typer.echo(f"demo permits: {out.permits} ({states}), {out.approvers} approver assignments "
               f"({time.monotonic() - started:.0f} s; {out.suppressed_events} historic events not sent)")


def _print_accounts(accounts: list[tuple[str, str]], password: str) -> None:
    typer.echo(f"demo accounts (password: {password}):")
    for username, role in accounts:
        typer.echo(f"  {username:<12} {role}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Sign-in name")],
    role: Annotated[str, typer.Option(help="admin, safety_manager, team_leader, worker, contractor, auditor")],
    enterprise: Annotated[str | None, typer.Option(help="Enterprise code (default: the only one)")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the console")] = "",
    password: Annotated[str | None, typer.Option(help="Omit to be asked (not echoed)")] = None,
) -> None:
    """Create an account."""
    from sqlalchemy import select

    from plantguard.core.errors import ValidationFailed
    from plantguard.core.permissions import Role
    from plantguard.tenancy.auth import create_user
    from plantguard.tenancy.models import Enterprise

    try:
        role_value = Role(role)
    except ValueError:
        typer.echo(f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}", err=True)
        raise typer.Exit(2) from None
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        typer.echo("password: at least 10 characters", err=True)
        raise typer.Exit(2)
    rt = _factory(_settings())
    with rt.factory() as session:
        if enterprise:
            ent = session.scalars(select(Enterprise).where(Enterprise.code == enterprise)).first()
        else:
            ents = session.scalars(select(Enterprise)).all()
            if len(ents) > 1:
                typer.echo("several enterprises: name one with --enterprise CODE", err=True)
                raise typer.Exit(2)
            ent = ents[0] if ents else None
        if ent is None:
            typer.echo("no such enterprise (create one with `plantguard demo seed` or name it)", err=True)
            raise typer.Exit(2)
        try:
            user = create_user(session, enterprise_id=ent.id, username=username, password=password,
                               role=role_value, display_name=display_name)
        except ValidationFailed as exc:
            for e in exc.errors:
                typer.echo(f"{e.field}: {e.message % e.params if e.params else e.message}", err=True)
            raise typer.Exit(2) from None
        session.commit()
        typer.echo(f"created user {user.username} ({user.role}) in {ent.code}")


@audit_app.command("verify")
def audit_verify(enterprise_id: Annotated[int | None, typer.Option(help="Only this enterprise")] = None) -> None:
    """Recompute the hash chain; exit 1 naming the first bad entry."""
    from plantguard.audit.verify import verify

    rt = _factory(_settings())
    with rt.read_factory() as session:
        report = verify(session, enterprise_id)
    if report.ok:
        typer.echo(f"ledger intact: {report.checked} entries verified")
        return
    typer.echo(f"ledger BROKEN after {report.checked} entries: {report.problem}", err=True)
    raise typer.Exit(1)


@app.command("run")
def run(
    demo: Annotated[bool, typer.Option(help="Seed the demo plant when the database is empty")] = True,
    host: Annotated[str | None, typer.Option(help="Bind address (PLANTGUARD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PLANTGUARD_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (PLANTGUARD_WORKERS, default 1)")] = None,
    simulate: Annotated[bool, typer.Option(help="Also run the plant simulator; connect the demo plant to it")] = False,
) -> None:
    """Apply migrations, seed the demo plant, and serve the console and API."""
    from plantguard.core import logs
    from plantguard.core.migrate import upgrade

    logs.configure()
    settings = _settings()
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    rt = _factory(settings)
    if demo:
        from plantguard.demo.seed import DEMO_PASSWORD, seed_demo

        summary = seed_demo(rt.factory)
        typer.echo("demo plant created" if summary.created else "demo plant present (data kept)")
        _seed_dual_prevention(rt, settings)
        _seed_permits(rt)
        _print_accounts(summary.accounts, DEMO_PASSWORD)
    simulator = _start_simulator(rt) if simulate and demo else None
    if simulator is not None:
        # uvicorn re-raises SIGTERM after its graceful shutdown; as an exception it lets the
        # ``finally`` below stop the simulator instead of leaving it running.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        _serve(settings, rt, host, port, workers)
    finally:
        if simulator is not None:
            simulator.terminate()
            try:
                simulator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                simulator.kill()


def _start_simulator(rt: Any) -> subprocess.Popen[bytes] | None:
    """Connect the demo enterprise to the simulator (idempotent import of its devices) and
    start it as a child process, so that its protocol servers do not share the web server's
    event loop; it stops with ``plantguard run``."""
    from plantguard.audit.ledger import bind_actor
    from plantguard.core.errors import ValidationFailed
    from plantguard.demo.seed import DEMO_ENTERPRISE_CODE
    from plantguard.ingest.cli import _system_actor
    from plantguard.ingest.config import import_devices, parse_yaml
    from plantguard.simulator.deviceconfig import device_config_yaml
    from plantguard.simulator.plant import load_demo_plant

    with rt.factory() as session:
        actor = _system_actor(session, DEMO_ENTERPRISE_CODE)
        bind_actor(session, actor)
        try:
            summary = import_devices(session, actor, parse_yaml(device_config_yaml(load_demo_plant())))
        except ValidationFailed as exc:
            typer.echo(f"simulator devices not imported: {exc.errors[:3]}", err=True)
            return None
        session.commit()
        from plantguard.detection.rules.demo import seed_demo_rules

        rules = seed_demo_rules(session, actor, load_demo_plant())  # idempotent by name
        session.commit()
        typer.echo(f"detection rules: {len(rules.created)} created, {len(rules.existing)} existing")
        from plantguard.workorders.routing.demo import seed_demo_routing

        routing = seed_demo_routing(session, actor)  # only when the enterprise has no rule set
        session.commit()
        typer.echo("routing rules: demo version saved" if routing is not None else "routing rules: kept")
    typer.echo(f"simulator devices: {len(summary.created)} created, {len(summary.updated)} updated, "
               f"{len(summary.unchanged)} unchanged")
    _demo_history(rt, actor.enterprise_id)
    proc = subprocess.Popen([sys.executable, "-m", "plantguard.cli.main", "simulate", "run",
                             "--fault-time-scale", f"{DEMO_FAULT_TIME_SCALE:g}"],
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
    typer.echo("plant simulator: Modbus TCP 127.0.0.1:5020, OPC UA opc.tcp://127.0.0.1:4840/plantguard/ "
               "(faults: plantguard simulate trigger micro-leak | bearing-wear | gas-leak | sensor-stuck | dropout; "
               f"they run x{DEMO_FAULT_TIME_SCALE:g}: the micro-leak alarm, its work order and notifications "
               "follow in about 1.5 minutes)")
    return proc


DEMO_HISTORY_DAYS = 60
# Faults in the demo run on a clock 60 times the plant's (an hour of a fault per minute): the
# micro-leak's trend alarm then comes about 1.5 minutes after `plantguard simulate trigger
# micro-leak` instead of 11, so the closed loop (alarm → work order → notification) shows within
# two minutes of wall time. `--time-scale 1` on the trigger plays a fault in real time.
DEMO_FAULT_TIME_SCALE = 60.0


def _demo_history(rt: Any, enterprise_id: int) -> None:
    """Once per database: the simulated plant's last 60 days of production (MES phases, PLC
    events, zone entries, ambient readings), imported through the same CSV importers a plant
    would use, so that *Risk by work phase* and the as-of context have data to work on."""
    import tempfile
    from datetime import date, timedelta
    from pathlib import Path

    from sqlalchemy import func, select

    from plantguard.simulator.production import write_history
    from plantguard.timeseries.alignment.importers import Kind, import_file_for
    from plantguard.timeseries.alignment.models import MesPhase

    with rt.read_factory() as session:
        if session.scalar(select(func.count()).select_from(MesPhase).where(MesPhase.enterprise_id == enterprise_id)):
            return
    start = date.today() - timedelta(days=DEMO_HISTORY_DAYS)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_history(tmp, days=DEMO_HISTORY_DAYS, seed=1, first_piece_factor=4.0, start=start)
        counts = []
        for kind in (Kind.MES_PHASES, Kind.PLC_EVENTS, Kind.ZONE_ENTRIES, Kind.ENVIRONMENT):
            path = Path(files.paths[kind.value])
            with rt.factory() as session:
                result = import_file_for(session, enterprise_id, kind, path.read_bytes())
                session.commit()
            refused = f" ({len(result.errors)} refused)" if result.errors else ""
            counts.append(f"{result.imported} {kind.value}{refused}")
    typer.echo(f"simulated production history ({DEMO_HISTORY_DAYS} days): " + ", ".join(counts))


def _die_with_parent() -> None:
    """In the child: get SIGTERM if ``plantguard run`` dies without cleaning up (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _serve(settings: Settings, rt: Any, host: str | None, port: int | None, workers: int | None) -> None:
    import uvicorn

    from plantguard.api.app import create_app

    bind_host = host or settings.host
    bind_port = port or settings.port
    typer.echo(f"PlantGuard console: http://{bind_host}:{bind_port}/   (Ctrl-C stops)")
    typer.echo(f"database: {_redact(settings.database_url)}   bus: {settings.bus_url}")
    sys.stdout.flush()
    n_workers = max(1, workers or settings.workers)
    if n_workers == 1:
        uvicorn.run(create_app(settings, runtime=rt), host=bind_host, port=bind_port, log_level="info",
                    timeout_graceful_shutdown=5)
        return
    # Several processes: each builds its app from the same environment; one of them (the
    # holder of the relay lock) relays the outbox.
    rt.engine.dispose()
    typer.echo(f"{n_workers} worker processes")
    uvicorn.run("plantguard.api.app:create_app", factory=True, workers=n_workers, host=bind_host,
                port=bind_port, log_level="info", timeout_graceful_shutdown=5)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


if __name__ == "__main__":
    app()
