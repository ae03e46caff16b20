"""``plantguard timeseries ...``: housekeeping of the readings store.

Mounted by the main command with ``app.add_typer(timeseries_app, name="timeseries")``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

timeseries_app = typer.Typer(help="Readings: retention and housekeeping.", no_args_is_help=True)


@timeseries_app.command("prune")
def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; delete nothing")] = False,
    retention_file: Annotated[Path | None, typer.Option(
        "--retention-file", help="Retention YAML (default: $PLANTGUARD_RETENTION_FILE, else the shipped file)")] = None,
    chunk: Annotated[int, typer.Option(min=100, max=100_000, help="Rows deleted per transaction")] = 5_000,
) -> None:
    """Delete readings and rollups older than their point class keeps (see retention.yaml)."""
    from plantguard.core.db import make_engine
    from plantguard.core.models import import_all
    from plantguard.core.settings import Settings
    from plantguard.timeseries.retention import RetentionConfigError, apply_retention, load_policy

    import_all()
    try:
        policy = load_policy(retention_file)
    except RetentionConfigError as exc:
        typer.echo(f"retention file: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"retention policy: {policy.source}")
    for name, spec in [("default", policy.default), *policy.classes.items()]:
        typer.echo(f"  {name:<12} raw {spec.raw_days} d, 1 min {spec.minute_days} d, 1 h {spec.hour_days} d")
    engine = make_engine(Settings().database_url)
    try:
        result = apply_retention(engine, datetime.now(UTC), policy, chunk=chunk, dry_run=dry_run)
    finally:
        engine.dispose()
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb}: {result.readings} readings, {result.minute_rollups} 1-minute and "
               f"{result.hour_rollups} 1-hour rollups")
    for cls, n in sorted(result.by_class.items()):
        typer.echo(f"  readings of class {cls}: {n}")
    if result.chunks_dropped:
        typer.echo(f"TimescaleDB chunks dropped: {result.chunks_dropped}")
