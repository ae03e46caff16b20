"""The whole early-warning path on both databases, with no stand-ins: readings go through a real
Pipeline and the StoreForwarder, the detection stage runs the tenant's rule on what was stored,
and the alarm lifecycle (AlarmIntake, the sink IngestService wires by default) opens an alarm
with its explanation and puts ``alarm.raised`` in the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from plantguard.core.settings import Settings
from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.alarms.models import Alarm
from plantguard.detection.rules.stage import DetectionStage
from plantguard.events.models import OutboxMessage
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.pipeline import Pipeline, StoreForwarder
from plantguard.ingest.service import IngestService
from tests.conftest import Db
from tests.detection.rules.test_stage import create_rule, high, readings, spec
from tests.factories import make_tenant


def test_a_reading_over_the_limit_opens_an_explained_alarm(db: Db, tmp_path: Path) -> None:
    t = make_tenant(db.factory, "E1")
    other = make_tenant(db.factory, "E2")
    rule_id = create_rule(db, t, high(limit=28.0, duration_s=20.0))
    stage = DetectionStage(db.engine, AlarmIntake(db.factory))
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite"), StoreForwarder(db.engine),
                    on_forwarded=stage.on_forwarded)
    assert stage.reload() == 1
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    pipe.submit(spec(t), readings(t, start, [20, 21, 30, 31, 32, 33, 34]))
    assert asyncio.run(pipe.forward_once()) == 7
    stage.drain()

    with db.factory() as s:
        alarms = s.scalars(select(Alarm)).all()
        assert len(alarms) == 1
        a = alarms[0]
        assert (a.enterprise_id, a.source, a.rule_id, a.kind, a.severity) == (
            t.enterprise_id, f"rule:{rule_id}", rule_id, "threshold", "major")
        assert a.active and not a.acknowledged and a.title == "high pressure"
        assert a.point_id == t.point_id and a.equipment_id == t.equipment_id
        # Raised when the limit had held for 20 s of reading time: the 5th reading (40 s).
        assert a.first_active_at == start + timedelta(seconds=40)
        names = [c["name"] for c in a.explanation.get("contributions", [])]
        assert names == ["EQ-1-HP"], a.explanation
        raised = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == "alarm.raised")).all()
        assert [e.enterprise_id for e in raised] == [t.enterprise_id]
        assert not s.scalars(select(Alarm).where(Alarm.enterprise_id == other.enterprise_id)).all()


def test_ingest_service_sends_signals_to_the_alarm_lifecycle_by_default(db: Db, tmp_path: Path) -> None:
    settings = Settings(database_url=db.url, var_dir=tmp_path, bus_url="inprocess://")
    service = IngestService(settings, db.engine, db.factory)
    try:
        assert service.detection is not None
        assert isinstance(service.detection.sink, AlarmIntake)
    finally:
        service.buffer.close()
