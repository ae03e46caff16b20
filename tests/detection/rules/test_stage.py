"""The detection stage end to end on both databases: readings through a real Pipeline and the
StoreForwarder reach the stage and give signals; rules reload; detectors warm up from history;
a failing detection loses no reading."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from plantguard.api.deps import acting
from plantguard.core.permissions import Actor, Role
from plantguard.core.settings import Settings
from plantguard.detection.rules.schemas import RuleCreate, RuleUpdate
from plantguard.detection.rules.service import detection_rule_service
from plantguard.detection.rules.stage import DetectionStage
from plantguard.detection.signals import ConditionSignal, ListSink
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.connector import BoundPoint, DeviceSpec
from plantguard.ingest.pipeline import Pipeline, StoreForwarder
from plantguard.ingest.reading import Reading, ReadingBatch, to_us
from plantguard.tenancy.models import User
from plantguard.timeseries.models import ReadingRow
from plantguard.timeseries.store import write_batch
from tests.conftest import Db
from tests.factories import Tenant, make_tenant

HP = "EQ-1-HP"  # range 0..35 MPa


def admin(db: Db, t: Tenant) -> Actor:
    with db.factory() as s:
        uid = s.scalar(select(User.id).where(User.username == t.users["admin"]))
    assert uid is not None
    return Actor(user_id=uid, enterprise_id=t.enterprise_id, role=Role.ADMIN, username=t.users["admin"])


def create_rule(db: Db, t: Tenant, condition: dict[str, Any], name: str = "high pressure", **kw: Any) -> int:
    actor = admin(db, t)
    with db.factory() as s:
        obj = detection_rule_service.create(acting(s, actor), actor, RuleCreate(
            name=name, point_id=t.point_id, condition=condition, severity="major", **kw))
        s.commit()
        return obj.id


def update_rule(db: Db, t: Tenant, rule_id: int, **values: Any) -> None:
    actor = admin(db, t)
    with db.factory() as s:
        detection_rule_service.update(acting(s, actor), actor, rule_id, RuleUpdate(**values))
        s.commit()


def high(limit: float = 28.0, duration_s: float = 20.0) -> dict[str, Any]:
    return {"detector": "threshold", "params": {"conditions": [{"signal": "value", "limit": limit}]},
            "duration_s": duration_s}


def spec(t: Tenant) -> DeviceSpec[Any, Any]:
    return DeviceSpec(device_id=1, enterprise_id=t.enterprise_id, code="PLC", protocol="test", connection=None,
                      points=(BoundPoint(t.point_id, HP, None, 0.0, 35.0),),
                      known_points={HP: (t.point_id, 0.0, 35.0)}, version="v1")


def readings(t: Tenant, start: datetime, values: list[float], step_s: float = 10.0) -> list[Reading]:
    return [Reading(t.point_id, start + timedelta(seconds=i * step_s), v) for i, v in enumerate(values)]


def stored(db: Db) -> int:
    with db.factory() as s:
        return int(s.scalar(select(func.count()).select_from(ReadingRow)) or 0)


def test_readings_through_the_pipeline_reach_the_stage(db: Db, tmp_path: Path) -> None:
    t = make_tenant(db.factory, "E1")
    rule_id = create_rule(db, t, high())
    sink = ListSink()
    stage = DetectionStage(db.engine, sink)
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite"), StoreForwarder(db.engine),
                    on_forwarded=stage.on_forwarded)
    assert stage.reload() == 1
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    assert pipe.submit(spec(t), readings(t, start, [20, 21, 30, 31, 32, 33, 20, 20])) == 8
    assert asyncio.run(pipe.forward_once()) == 8
    assert stage.drain() == 1
    assert [(s.active, s.ts) for s in sink.signals] == [(True, start + timedelta(seconds=40)),
                                                          (False, start + timedelta(seconds=60))]
    s = sink.signals[0]
    assert (s.source, s.rule_id, s.enterprise_id, s.point_id, s.equipment_id) == (
        f"rule:{rule_id}", rule_id, t.enterprise_id, t.point_id, t.equipment_id)
    assert s.severity == "major" and s.kind == "threshold" and s.title == "high pressure"
    assert s.contributions[0].name == HP and s.contributions[0].value == 32.0
    assert stored(db) == 8


def test_rules_reload_changed_rules_restart_and_disabled_ones_stop(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    sink = ListSink()
    stage = DetectionStage(db.engine, sink, warmup_s=1.0)
    assert stage.reload() == 0
    rule_id = create_rule(db, t, high(duration_s=0))
    assert stage.reload() == 1
    assert stage.reload() == 0  # unchanged: kept, with its state
    base = to_us(datetime(2026, 1, 1, tzinfo=UTC))

    def feed(i: int, v: float) -> list[ConditionSignal]:
        b = ReadingBatch(t.enterprise_id)
        b.append(t.point_id, base + i * 10_000_000, v)
        return stage.process(b)

    assert [s.active for s in feed(0, 30.0)] == [True]
    update_rule(db, t, rule_id, condition=high(limit=33.0, duration_s=0))
    assert stage.reload() == 1  # recompiled, its state reset
    assert feed(1, 30.0) == []  # 30 is below the new limit, and nothing carried over
    assert [s.active for s in feed(2, 34.0)] == [True]
    update_rule(db, t, rule_id, enabled=False)
    stage.reload()
    assert stage.engine.rules == {}
    assert feed(3, 34.0) == []
    other = create_rule(db, t, high(duration_s=0), name="second")
    stage.reload()
    assert set(stage.engine.rules) == {other}


def test_detectors_warm_up_from_stored_history(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    create_rule(db, t, {"detector": "robust_z", "params": {"window": 50, "min_samples": 20, "threshold": 4.0}})
    now = datetime.now(UTC).replace(microsecond=0)
    history = ReadingBatch(t.enterprise_id)
    for i in range(60):  # ten minutes of normal running, already stored
        history.append(t.point_id, to_us(now - timedelta(seconds=600 - i * 10)), 20.0 + (i % 5) * 0.1)
    write_batch(db.engine, history)
    spike = ReadingBatch(t.enterprise_id)
    spike.append(t.point_id, to_us(now), 30.0)

    warm, cold = ListSink(), ListSink()
    warmed = DetectionStage(db.engine, warm, clock=lambda: now.timestamp())
    blind = DetectionStage(db.engine, cold, warmup_s=1.0, clock=lambda: now.timestamp())
    warmed.reload()
    blind.reload()
    assert warm.signals == [] and cold.signals == []  # warm-up itself tells nothing
    warmed.process(spike)
    blind.process(spike)
    assert [s.active for s in warm.signals] == [True]  # knows normal, sees the spike at once
    assert cold.signals == []  # still learning what normal is


def test_an_active_condition_found_in_history_is_told_after_warm_up(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    create_rule(db, t, high(duration_s=0))
    now = datetime.now(UTC).replace(microsecond=0)
    b = ReadingBatch(t.enterprise_id)
    for i in range(5):
        b.append(t.point_id, to_us(now - timedelta(seconds=50 - 10 * i)), 30.0)
    write_batch(db.engine, b)
    sink = ListSink()
    stage = DetectionStage(db.engine, sink, clock=lambda: now.timestamp())
    stage.reload()
    nxt = ReadingBatch(t.enterprise_id)
    nxt.append(t.point_id, to_us(now), 31.0)
    stage.process(nxt)
    assert [s.active for s in sink.signals] == [True]


class Boom(Exception):
    pass


def test_a_failing_detection_loses_no_reading(db: Db, tmp_path: Path) -> None:
    t = make_tenant(db.factory, "E1")
    create_rule(db, t, high(duration_s=0))

    class RaisingSink:
        calls = 0

        def apply(self, signals: Any) -> None:
            RaisingSink.calls += 1
            raise Boom("alarm service down")

    stage = DetectionStage(db.engine, RaisingSink())
    stage.reload()
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite"), on_forwarded=stage.on_forwarded)
    start = datetime.now(UTC) - timedelta(minutes=5)
    pipe.submit(spec(t), readings(t, start, [30, 31, 32]))
    assert asyncio.run(pipe.forward_once()) == 3
    stage.drain()
    assert RaisingSink.calls == 1 and stage.errors == 1

    def broken(batch: ReadingBatch) -> list[ConditionSignal]:
        raise Boom("detector bug")

    stage.engine.feed_batch = broken  # type: ignore[method-assign]
    pipe.submit(spec(t), readings(t, start + timedelta(minutes=1), [30, 31]))
    asyncio.run(pipe.forward_once())
    assert stage.drain() == 1 and stage.errors == 2

    def hook_raises(batch: ReadingBatch) -> None:
        raise Boom("hook bug")

    pipe.on_forwarded = hook_raises
    pipe.submit(spec(t), readings(t, start + timedelta(minutes=2), [30, 31]))
    assert asyncio.run(pipe.forward_once()) == 2
    assert pipe.buffer.pending == 0 and stored(db) == 7


def test_stage_runs_beside_the_pipeline(db: Db, tmp_path: Path) -> None:
    """The background tasks as the ingest leader runs them: readings submitted while both run."""
    t = make_tenant(db.factory, "E1")
    create_rule(db, t, high(duration_s=0))
    sink = ListSink()
    stage = DetectionStage(db.engine, sink, reload_s=0.2)
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite"), on_forwarded=stage.on_forwarded,
                    linger_s=0.0)
    start = datetime.now(UTC) - timedelta(minutes=5)

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(pipe.run(stop)), asyncio.create_task(stage.run(stop))]
        await asyncio.sleep(0.5)  # the stage has loaded the rule
        pipe.submit(spec(t), readings(t, start, [20, 30, 20]))
        for _ in range(100):
            if len(sink.signals) >= 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert [s.active for s in sink.signals] == [True, False]


def test_ingest_service_wires_the_stage_with_the_callers_sink(db: Db, tmp_path: Path) -> None:
    from plantguard.ingest.service import IngestService

    sink = ListSink()
    svc = IngestService(Settings(database_url=db.url, var_dir=tmp_path), db.engine, db.factory, sink=sink)
    try:
        assert svc.detection is not None and svc.detection.sink is sink
        # The hook is shared with the permits' live gas link (ingest/service.fan_out): a stored
        # batch reaches the stage's queue through it.
        assert svc.pipeline.on_forwarded is not None
        svc.pipeline.on_forwarded(ReadingBatch(1))
        assert len(svc.detection._queue) == 1
    finally:
        svc.buffer.close()
    off = IngestService(Settings(database_url=db.url, var_dir=tmp_path / "2"), db.engine, db.factory,
                        detection=False, permits=False)
    try:
        assert off.detection is None and off.pipeline.on_forwarded is None
    finally:
        off.buffer.close()


def test_signals_the_sink_refused_are_delivered_when_it_is_back(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    create_rule(db, t, high(duration_s=0))

    class FlakySink(ListSink):
        down = True

        def apply(self, signals: Any) -> None:
            if self.down:
                raise Boom("alarm database away")
            super().apply(signals)

    sink = FlakySink()
    stage = DetectionStage(db.engine, sink)
    stage.reload()
    base = to_us(datetime(2026, 1, 1, tzinfo=UTC))
    b = ReadingBatch(t.enterprise_id)
    b.append(t.point_id, base, 30.0)
    assert [s.active for s in stage.process(b)] == [True]
    assert sink.signals == [] and stage.errors == 1
    sink.down = False
    stage.cycle()  # nothing new to detect: the kept signal goes out on its own
    assert [s.active for s in sink.signals] == [True]
    stage.cycle()
    assert len(sink.signals) == 1  # sent once
