"""Retention of readings and rollups, per point class.

How long each class of point keeps its raw readings, 1-minute and 1-hour rollups is
configuration (``retention.yaml`` beside this module, or the file named by
``PLANTGUARD_RETENTION_FILE``), not code: plants answer to different rules, and the shipped
figures are defaults, not a statement of any regulation.

Deletion runs point by point in chunks of at most ``chunk`` rows, each chunk its own short
transaction: a prune of months of one-second data never holds SQLite's write lock (or
PostgreSQL row locks) for longer than one chunk takes, so ingest keeps writing meanwhile.
Each chunk is found by its upper time bound on the primary key (point, time), so every
step is an index range, never a scan of the table.

Where ``reading`` is a TimescaleDB hypertable, whole chunks older than the longest raw
retention of any class are dropped first with ``drop_chunks`` (cheap: no row is visited);
the per-point deletes then take care of the classes that keep less.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import ColumnElement, Connection, Engine, delete, func, select, text

from plantguard.assets.models import MeasurementPoint
from plantguard.ingest.reading import to_us
from plantguard.timeseries.models import HOUR, MINUTE, PointLast, ReadingRow, Rollup

ENV_FILE = "PLANTGUARD_RETENTION_FILE"
DEFAULT_CHUNK = 5_000
US = 1_000_000
MAX_DAYS = 36_500


def _days() -> Any:
    return Field(ge=1, le=MAX_DAYS)


def _maybe_days() -> Any:
    return Field(default=None, ge=1, le=MAX_DAYS)


class RetentionConfigError(ValueError):
    """The retention file cannot be used; the message names the file and the field."""


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    raw_days: int = _days()
    minute_days: int = _days()
    hour_days: int = _days()


class PartialSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    raw_days: int | None = _maybe_days()
    minute_days: int | None = _maybe_days()
    hour_days: int | None = _maybe_days()


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    default: Spec
    classes: dict[str, PartialSpec] = {}


@dataclass(frozen=True)
class RetentionPolicy:
    default: Spec
    classes: dict[str, Spec]  # in the file's order
    source: str = "built-in"

    def for_quantity(self, quantity: str | None) -> tuple[str, Spec]:
        """(class name, spec): the exact class, else the first matching pattern, else default."""
        q = quantity or ""
        if q in self.classes:
            return q, self.classes[q]
        for name, spec in self.classes.items():
            if any(c in name for c in "*?[") and fnmatch.fnmatchcase(q, name):
                return name, spec
        return "default", self.default

    @property
    def longest_raw_days(self) -> int:
        return max([self.default.raw_days, *(s.raw_days for s in self.classes.values())])


def policy_from_dict(data: Any, source: str) -> RetentionPolicy:
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors())
        raise RetentionConfigError(f"{source}: {problems}") from None
    base = parsed.default.model_dump()
    classes = {
        name: Spec(**{**base, **{k: v for k, v in spec.model_dump().items() if v is not None}})
        for name, spec in parsed.classes.items()
    }
    return RetentionPolicy(parsed.default, classes, source)


def load_policy(path: str | Path | None = None) -> RetentionPolicy:
    """The policy from ``path``, else ``$PLANTGUARD_RETENTION_FILE``, else the shipped file."""
    chosen = path or os.environ.get(ENV_FILE) or None
    try:
        if chosen:
            source = str(chosen)
            raw = Path(chosen).read_text(encoding="utf-8")
        else:
            ref = resources.files("plantguard.timeseries").joinpath("retention.yaml")
            source = "plantguard/timeseries/retention.yaml"
            raw = ref.read_text(encoding="utf-8")
        data = yaml.safe_load(raw)
    except OSError as exc:
        raise RetentionConfigError(f"{chosen}: cannot read the retention file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise RetentionConfigError(f"{chosen or 'retention.yaml'}: not valid YAML ({exc})") from None
    return policy_from_dict(data, source)


# -- pruning -----------------------------------------------------------------------------------


@dataclass
class RetentionResult:
    readings: int = 0
    minute_rollups: int = 0
    hour_rollups: int = 0
    chunks_dropped: int = 0  # TimescaleDB chunks, whose rows are not counted
    transactions: int = 0  # delete transactions run
    largest_transaction: int = 0  # rows deleted by the largest one (at most ``chunk``)
    by_class: dict[str, int] = field(default_factory=dict)  # raw readings per class
    dry_run: bool = False

    @property
    def total(self) -> int:
        return self.readings + self.minute_rollups + self.hour_rollups


def _classes(engine: Engine, policy: RetentionPolicy) -> dict[int, tuple[str, Spec]]:
    """Every point that has readings (``point_last`` has a row for each; the store writes it
    with the first reading) with its class; deleted points fall back to the default."""
    with _reader(engine) as conn:
        quantities = dict(conn.execute(
            select(PointLast.point_id, MeasurementPoint.quantity)
            .outerjoin(MeasurementPoint, MeasurementPoint.id == PointLast.point_id)
        ).all())
    return {pid: policy.for_quantity(q) for pid, q in quantities.items()}


def _reader(engine: Engine) -> Connection:
    # On SQLite a plain connection would take the write lock (see core.db); reads do not need it.
    return engine.execution_options(plantguard_read_only=True).connect()


def _prune_one(engine: Engine, table: Any, key: list[ColumnElement[bool]], time_col: Any, cutoff: int,
               chunk: int, dry_run: bool, result: RetentionResult) -> int:
    """Delete the rows matching ``key`` older than ``cutoff``, ``chunk`` rows per transaction."""
    older = [*key, time_col < cutoff]
    with _reader(engine) as conn:
        if dry_run:
            return int(conn.scalar(select(func.count()).select_from(table).where(*older)) or 0)
        oldest = conn.scalar(select(func.min(time_col)).where(*key))
    if oldest is None or oldest >= cutoff:
        return 0
    deleted = 0
    while True:
        with _reader(engine) as conn:
            bound = conn.scalar(select(time_col).where(*older).order_by(time_col).offset(chunk).limit(1))
        upper = cutoff if bound is None else bound
        with engine.begin() as conn:
            n = conn.execute(delete(table).where(*key, time_col < upper)).rowcount or 0
        deleted += n
        result.transactions += 1
        result.largest_transaction = max(result.largest_transaction, n)
        if bound is None:
            return deleted


def is_hypertable(engine: Engine, table: str = "reading") -> bool:
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")) is None:
            return False
        return conn.scalar(text(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = :t"), {"t": table}) is not None


def _drop_chunks(engine: Engine, cutoff: int) -> int:
    """TimescaleDB only: drop whole chunks of ``reading`` older than ``cutoff`` (µs)."""
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT drop_chunks('reading', older_than => CAST(:c AS bigint))"),
                            {"c": cutoff}).all()
    return len(rows)


def apply_retention(engine: Engine, now: datetime | None = None, policy: RetentionPolicy | None = None, *,
                    chunk: int = DEFAULT_CHUNK, dry_run: bool = False) -> RetentionResult:
    """Delete what each point's class no longer keeps; returns what was deleted (or, with
    ``dry_run``, what would be)."""
    policy = policy or load_policy()
    chunk = max(1, chunk)
    now_us = to_us(now or datetime.now(UTC))
    result = RetentionResult(dry_run=dry_run)

    def cutoff(days: int) -> int:
        return now_us - int(timedelta(days=days).total_seconds()) * US

    if not dry_run and is_hypertable(engine):
        result.chunks_dropped = _drop_chunks(engine, cutoff(policy.longest_raw_days))
    for pid, (cls, spec) in sorted(_classes(engine, policy).items()):
        n = _prune_one(engine, ReadingRow.__table__, [ReadingRow.point_id == pid], ReadingRow.ts,
                       cutoff(spec.raw_days), chunk, dry_run, result)
        result.readings += n
        result.by_class[cls] = result.by_class.get(cls, 0) + n
        for res, days in ((MINUTE, spec.minute_days), (HOUR, spec.hour_days)):
            # A bucket goes once all of it is older than the cutoff: start + width <= cutoff.
            n = _prune_one(engine, Rollup.__table__, [Rollup.point_id == pid, Rollup.res == res], Rollup.bucket,
                           cutoff(days) - res * US + 1, chunk, dry_run, result)
            if res == MINUTE:
                result.minute_rollups += n
            else:
                result.hour_rollups += n
    return result
