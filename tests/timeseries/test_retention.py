"""Retention per point class: only what is older than its class keeps goes, in bounded
chunks, raw readings and rollups alike; the policy is a validated, overridable file."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from plantguard.assets.models import MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.ingest.reading import ReadingBatch, from_us, now_us
from plantguard.timeseries.cli import timeseries_app
from plantguard.timeseries.models import HOUR, MINUTE, ReadingRow, Rollup
from plantguard.timeseries.retention import (
    RetentionConfigError,
    Spec,
    apply_retention,
    load_policy,
    policy_from_dict,
)
from plantguard.timeseries.store import write_batch
from tests.conftest import Db
from tests.factories import make_tenant

S = 1_000_000
DAY = 86_400 * S
NOW_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
NOW = from_us(NOW_US)

POLICY = policy_from_dict({
    "version": 1,
    "default": {"raw_days": 10, "minute_days": 20, "hour_days": 40},
    "classes": {"gas_*": {"raw_days": 30}, "pressure": {"raw_days": 5, "hour_days": 60}},
}, "test")


def _points(db: Db) -> dict[str, int]:
    """Three points of one tenant: gas, pressure, and one of no class."""
    t = make_tenant(db.factory, "E1", roles=())
    with db.factory() as s:
        bind_actor(s, None)
        s.get(MeasurementPoint, t.point_id).quantity = "pressure"  # type: ignore[union-attr]
        gas = MeasurementPoint(enterprise_id=t.enterprise_id, equipment_id=t.equipment_id, code="EQ-1-LEL",
                               name="可燃气体", quantity="gas_lel", unit="%LEL")
        other = MeasurementPoint(enterprise_id=t.enterprise_id, equipment_id=t.equipment_id, code="EQ-1-RPM",
                                 name="转速", quantity="speed", unit="rpm")
        s.add_all([gas, other])
        s.commit()
        return {"pressure": t.point_id, "gas": gas.id, "other": other.id, "enterprise": t.enterprise_id}


def _daily(db: Db, ent: int, point_id: int, days: int, per_day: int = 4, now_us: int = NOW_US) -> None:
    """``per_day`` readings on each of the last ``days`` days (oldest first)."""
    b = ReadingBatch(ent)
    for d in range(days, 0, -1):
        for i in range(per_day):
            b.append(point_id, now_us - d * DAY + i * 3600 * S, float(d), 0)
    write_batch(db.engine, b)


def _count(db: Db, model: type, point_id: int, **where: int) -> int:
    with db.read_factory() as s:
        q = select(func.count()).select_from(model).where(model.point_id == point_id)  # type: ignore[attr-defined]
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return int(s.scalar(q) or 0)


def _oldest(db: Db, point_id: int) -> int:
    with db.read_factory() as s:
        return int(s.scalar(select(func.min(ReadingRow.ts)).where(ReadingRow.point_id == point_id)) or 0)


def test_each_class_keeps_its_own_days_and_nothing_newer_goes(db: Db) -> None:
    p = _points(db)
    for key in ("pressure", "gas", "other"):
        _daily(db, p["enterprise"], p[key], 50)
    deleted_point = 999_999  # readings of a point that no longer exists: the default applies
    _daily(db, p["enterprise"], deleted_point, 50)

    preview = apply_retention(db.engine, NOW, POLICY, dry_run=True)
    result = apply_retention(db.engine, NOW, POLICY, chunk=25)

    # Raw: pressure keeps 5 days, gas 30, the unclassified and the deleted point 10 (default).
    kept = {"pressure": 5, "gas": 30, "other": 10}
    for key, days in kept.items():
        assert _count(db, ReadingRow, p[key]) == days * 4, key
        assert _oldest(db, p[key]) >= NOW_US - days * DAY
    assert _count(db, ReadingRow, deleted_point) == 40
    assert result.by_class == {"pressure": 45 * 4, "gas_*": 20 * 4, "default": 2 * 40 * 4}
    assert result.readings == sum(result.by_class.values())
    # Minute buckets (one per reading here) keep 20 days everywhere (no class overrides them);
    # hour buckets 40 days, pressure 60 (it has only 50).
    assert _count(db, Rollup, p["gas"], res=MINUTE) == 20 * 4
    assert _count(db, Rollup, p["pressure"], res=HOUR) == 50 * 4
    assert _count(db, Rollup, p["other"], res=HOUR) == 40 * 4
    assert result.minute_rollups == 4 * 30 * 4 and result.hour_rollups == 3 * 10 * 4
    # The dry run counted exactly what the real run then deleted, and deleted nothing itself.
    assert (preview.readings, preview.minute_rollups, preview.hour_rollups) == (
        result.readings, result.minute_rollups, result.hour_rollups)
    assert preview.dry_run and preview.transactions == 0
    # Chunked: at most 25 rows per delete transaction (the 180 old pressure readings alone took 8).
    assert result.total == 1180 and result.transactions >= 1180 // 25 and result.largest_transaction == 25

    again = apply_retention(db.engine, NOW, POLICY)
    assert again.total == 0 and again.transactions == 0


def test_a_reading_exactly_at_the_cutoff_stays(db: Db) -> None:
    p = _points(db)
    b = ReadingBatch(p["enterprise"])
    cutoff = NOW_US - 10 * DAY  # the default class keeps 10 days
    for ts in (cutoff - 1, cutoff, cutoff + 1):
        b.append(p["other"], ts, 1.0, 0)
    write_batch(db.engine, b)
    result = apply_retention(db.engine, NOW, POLICY)
    assert result.readings == 1 and _oldest(db, p["other"]) == cutoff


def test_a_bucket_goes_only_once_all_of_it_is_older(db: Db) -> None:
    p = _points(db)
    now_us = NOW_US + 30 * S  # half-way through a minute
    cutoff = now_us - 20 * DAY  # minute rollups: 20 days
    b = ReadingBatch(p["enterprise"])
    b.append(p["other"], cutoff - 61 * S, 1.0, 0)  # its minute [cutoff-90 s, cutoff-30 s) is all older
    b.append(p["other"], cutoff - 10 * S, 1.0, 0)  # its minute [cutoff-30 s, cutoff+30 s) straddles the cutoff
    write_batch(db.engine, b)
    result = apply_retention(db.engine, from_us(now_us), POLICY)
    with db.read_factory() as s:
        buckets = s.scalars(select(Rollup.bucket).where(Rollup.point_id == p["other"], Rollup.res == MINUTE)).all()
    assert buckets == [cutoff - 30 * S] and result.minute_rollups == 1


def test_the_shipped_policy_and_its_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = load_policy()
    assert shipped.default.raw_days == 90
    assert shipped.for_quantity("gas_lel")[1].raw_days == 365
    assert shipped.for_quantity("gas_h2s")[0] == "gas_*"
    assert shipped.for_quantity("pressure") == ("default", shipped.default)
    assert shipped.for_quantity(None)[0] == "default"

    own = tmp_path / "retention.yaml"
    own.write_text("version: 1\ndefault: {raw_days: 7, minute_days: 8, hour_days: 9}\n"
                   "classes:\n  gas_lel: {raw_days: 700}\n  'gas_*': {raw_days: 70}\n", encoding="utf-8")
    monkeypatch.setenv("PLANTGUARD_RETENTION_FILE", str(own))
    policy = load_policy()
    assert policy.source == str(own)
    assert policy.for_quantity("gas_lel") == ("gas_lel", Spec(raw_days=700, minute_days=8, hour_days=9))
    assert policy.for_quantity("gas_co")[1].raw_days == 70
    assert policy.longest_raw_days == 700


@pytest.mark.parametrize(("text", "problem"), [
    ("version: 2\ndefault: {raw_days: 1, minute_days: 1, hour_days: 1}\n", "version"),
    ("version: 1\ndefault: {raw_days: 0, minute_days: 1, hour_days: 1}\n", "default.raw_days"),
    ("version: 1\ndefault: {raw_days: 1, minute_days: 1}\n", "default.hour_days"),
    ("version: 1\ndefault: {raw_days: 1, minute_days: 1, hour_days: 1}\nclasses: {gas: {raw_dayz: 3}}\n",
     "classes.gas.raw_dayz"),
    ("version: 1\ndefault: [\n", "not valid YAML"),
    ("", "(file)"),
])
def test_a_bad_policy_file_is_refused_naming_the_field(tmp_path: Path, text: str, problem: str) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(RetentionConfigError) as exc:
        load_policy(f)
    assert str(f) in str(exc.value) and problem in str(exc.value)
    with pytest.raises(RetentionConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_prune_command(db: Db, tmp_path: Path) -> None:
    p = _points(db)
    # The command prunes as of its own now: an hour of slack keeps the day-10 reading inside.
    _daily(db, p["enterprise"], p["other"], 50, per_day=1, now_us=now_us() + 3600 * S)
    policy = tmp_path / "r.yaml"
    policy.write_text("version: 1\ndefault: {raw_days: 10, minute_days: 20, hour_days: 30}\n", encoding="utf-8")
    env = {"PLANTGUARD_DATABASE_URL": db.url, "PLANTGUARD_RETENTION_FILE": str(policy)}
    runner = CliRunner()
    cli = typer.Typer()
    cli.add_typer(timeseries_app, name="timeseries")  # as the main command mounts it
    dry = runner.invoke(cli, ["timeseries", "prune", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"retention policy: {policy}" in dry.output and "would delete: 40 readings" in dry.output
    assert _count(db, ReadingRow, p["other"]) == 50
    run = runner.invoke(cli, ["timeseries", "prune", "--chunk", "100"], env=env)
    assert run.exit_code == 0, run.output
    assert "deleted: 40 readings, 30 1-minute and 20 1-hour rollups" in run.output
    assert _count(db, ReadingRow, p["other"]) == 10
    bad = runner.invoke(cli, ["timeseries", "prune", "--retention-file", str(tmp_path / "nope.yaml")], env=env)
    assert bad.exit_code == 2 and "cannot read" in bad.output
