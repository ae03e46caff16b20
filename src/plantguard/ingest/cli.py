"""``plantguard devices``: import, export and list device configuration; ``plantguard ingest``:
run the connectors without the web server (a dedicated ingest process)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from plantguard.ingest.worker_cli import ingest_worker

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from plantguard.api.runtime import Runtime
    from plantguard.core.permissions import Actor

devices_app = typer.Typer(help="Devices: connections and point maps (configuration, never code).",
                          no_args_is_help=True)
ingest_app = typer.Typer(help="Sensing: connectors, buffer and forwarding.", no_args_is_help=True)
ingest_app.command("worker")(ingest_worker)


def _runtime() -> Runtime:
    from plantguard.api.runtime import Runtime
    from plantguard.audit import ledger
    from plantguard.core.models import import_all
    from plantguard.core.settings import get_settings

    import_all()
    ledger.install()
    return Runtime.build(get_settings())


def _system_actor(session: Session, enterprise: str | None) -> Actor:
    """The CLI acts as an administrator of one enterprise (named, or the only one)."""
    from sqlalchemy import select

    from plantguard.core.permissions import Actor, Role
    from plantguard.tenancy.models import Enterprise

    q = select(Enterprise)
    if enterprise:
        q = q.where(Enterprise.code == enterprise)
    ents = session.scalars(q).all()
    if len(ents) != 1:
        typer.echo("name one enterprise with --enterprise CODE" if ents else "no such enterprise", err=True)
        raise typer.Exit(2)
    return Actor(user_id=0, enterprise_id=ents[0].id, role=Role.ADMIN, username="cli", display_name="plantguard CLI")


def _fail(exc: Exception) -> None:
    from plantguard.core.errors import ValidationFailed

    if isinstance(exc, ValidationFailed):
        for e in exc.errors:
            typer.echo(f"{e.field}: {e.message % e.params if e.params else e.message}", err=True)
    else:
        typer.echo(str(exc), err=True)
    raise typer.Exit(2)


@devices_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="YAML file with a top-level 'devices' list ('-' for stdin)")],
    enterprise: Annotated[str | None, typer.Option(help="Enterprise code (default: the only one)")] = None,
) -> None:
    """Create or update devices by code; all or nothing."""
    from plantguard.audit.ledger import bind_actor
    from plantguard.core.errors import ValidationFailed
    from plantguard.ingest.config import import_devices, parse_yaml

    text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    rt = _runtime()
    with rt.factory() as session:
        actor = _system_actor(session, enterprise)
        bind_actor(session, actor)
        try:
            summary = import_devices(session, actor, parse_yaml(text))
        except ValidationFailed as exc:
            _fail(exc)
            return
        session.commit()
    typer.echo(f"devices: {len(summary.created)} created, {len(summary.updated)} updated, "
               f"{len(summary.unchanged)} unchanged")


@devices_app.command("export")
def export_cmd(enterprise: Annotated[str | None, typer.Option(help="Enterprise code")] = None) -> None:
    """Print every device as YAML (the import format)."""
    from plantguard.ingest.config import export_yaml

    rt = _runtime()
    with rt.read_factory() as session:
        typer.echo(export_yaml(session, _system_actor(session, enterprise)), nl=False)


@devices_app.command("list")
def list_cmd(enterprise: Annotated[str | None, typer.Option(help="Enterprise code")] = None) -> None:
    """Devices with their live status."""
    from sqlalchemy import select

    from plantguard.ingest.models import Device, DeviceStatus

    rt = _runtime()
    with rt.read_factory() as session:
        actor = _system_actor(session, enterprise)
        rows = session.execute(select(Device, DeviceStatus).outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
                               .where(Device.enterprise_id == actor.enterprise_id).order_by(Device.code)).all()
        for d, st in rows:
            state = st.state if st else "never run"
            typer.echo(f"{d.code:<24} {d.protocol:<8} {len(d.points):>5} points  {state:<9} "
                       f"{(st.readings if st else 0):>10} readings  {(st.rejected if st else 0):>6} rejected"
                       f"{'  ' + st.last_error[:60] if st and st.last_error else ''}")


@ingest_app.command("run")
def ingest_run() -> None:
    """Run the connectors and the forwarder in this process, until Ctrl-C."""
    from plantguard.core import logs
    from plantguard.ingest.service import IngestService

    logs.configure()
    rt = _runtime()
    service = IngestService(rt.settings, rt.engine, rt.factory)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    asyncio.run(main())
