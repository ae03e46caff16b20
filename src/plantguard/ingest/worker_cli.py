"""``plantguard ingest worker``: one member of the store-worker group (scale-out over NATS).

Run as many as the database can take, on any machine that reaches NATS and the database;
each takes its share of the readings the ingest leader publishes to JetStream (see
:mod:`plantguard.ingest.jetstream`). Also runnable as ``python -m plantguard.ingest.worker_cli``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from typing import Annotated

import typer


def ingest_worker(
    name: Annotated[str, typer.Option(help="Shown in the log (default: host and process id)")] = "",
    fetch: Annotated[int, typer.Option(min=1, max=64, help="Messages fetched and written per transaction")] = 4,
) -> None:
    """Store readings from NATS JetStream (needs PLANTGUARD_BUS_URL=nats://...), until Ctrl-C."""
    from plantguard.core import logs
    from plantguard.core.db import make_engine
    from plantguard.core.settings import get_settings
    from plantguard.ingest.jetstream import ReadingStreamConfig, StoreWorker, is_nats_url

    logs.configure()
    settings = get_settings()
    if not is_nats_url(settings.bus_url):
        typer.echo("PLANTGUARD_BUS_URL must name a NATS server (nats://host:4222) for store workers", err=True)
        raise typer.Exit(2)
    try:
        config = ReadingStreamConfig.from_env(settings.bus_url)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    engine = make_engine(settings.database_url)
    worker = StoreWorker(engine, config, name=name or f"{socket.gethostname()}-{os.getpid()}",
                         fetch_messages=fetch)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()


if __name__ == "__main__":
    typer.run(ingest_worker)
