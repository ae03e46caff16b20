"""``plantguard edge --config edge.yaml``: run the edge process (no web server, no database).

Also ``python -m plantguard.edge --config edge.yaml``, which imports nothing but the edge.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer


def edge(
    config: Annotated[Path, typer.Option("--config", "-c", help="The edge configuration (YAML)")],
    check: Annotated[bool, typer.Option("--check", help="Validate the configuration and exit")] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Run connectors and detectors on an edge box and forward readings and alarm signals
    upstream (MQTT or HTTP) through a durable local buffer."""
    from plantguard.edge.config import EdgeConfigError, load_config

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(config)
    except EdgeConfigError as exc:
        for field, message in exc.errors:
            typer.echo(f"{config}: {field}: {message}", err=True)
        raise typer.Exit(2) from None
    if check:
        typer.echo(f"{config}: valid ({len(cfg.devices)} devices, {len(cfg.point_codes())} points, "
                   f"{len(cfg.rules)} rules, upstream {cfg.upstream.kind})")
        return
    asyncio.run(_run(cfg))


async def _run(cfg: object) -> None:
    from plantguard.edge.config import EdgeConfig
    from plantguard.edge.runner import EdgeRunner

    assert isinstance(cfg, EdgeConfig)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await EdgeRunner(cfg).run(stop)


def main() -> None:
    typer.run(edge)
