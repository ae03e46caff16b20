"""The demo's closed loop (issue requirement 7), with the real parts and the simulator's fault
model instead of minutes of waiting: the demo plant, its detection and routing rules as
`plantguard run --simulate` seeds them; the first stamping press's readings from the simulator's
model with `plantguard simulate trigger micro-leak` played at the demo's time scale, through a real
Pipeline, the store and the detection stage into the alarm intake; then the app's relay, bus,
work-order consumer and notification consumer. The alarm must come within two minutes of the
trigger (plant time), open a work order routed to the maintenance team MNT, and reach people's
in-app feeds, and the events must read as one Context chain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.api.app import create_app
from plantguard.api.deps import acting
from plantguard.api.runtime import Runtime
from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.cli.main import DEMO_FAULT_TIME_SCALE
from plantguard.core.permissions import Actor, Role
from plantguard.core.settings import Settings
from plantguard.demo.seed import DEMO_ENTERPRISE_CODE, seed_demo
from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.alarms.models import Alarm
from plantguard.detection.rules.demo import seed_demo_rules
from plantguard.detection.rules.stage import DetectionStage
from plantguard.events.models import OutboxMessage
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.connector import BoundPoint, DeviceSpec
from plantguard.ingest.pipeline import Pipeline, StoreForwarder
from plantguard.ingest.reading import Reading
from plantguard.notifications.models import Notification
from plantguard.simulator.faults import MICRO_LEAK, FaultBook, default_target
from plantguard.simulator.model import PlantModel
from plantguard.simulator.plant import load_demo_plant
from plantguard.tenancy.models import Enterprise, Team, User
from plantguard.workorders.models import WorkOrder
from plantguard.workorders.routing.demo import seed_demo_routing
from tests.conftest import Db

T = TypeVar("T")
LEAD_IN_S = 1200  # twenty minutes of normal running before the fault, so the trend knows the press
AFTER_S = 150  # plant seconds of readings after the trigger


def wait_for(fn: Callable[[], T], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def seed(db: Db) -> Actor:
    """What `plantguard run --simulate` seeds: the plant, then its detection and routing rules."""
    seed_demo(db.factory)
    with db.factory() as s:
        ent = s.scalar(select(Enterprise.id).where(Enterprise.code == DEMO_ENTERPRISE_CODE))
        assert ent is not None
        actor = Actor(user_id=0, enterprise_id=ent, role=Role.ADMIN, username="cli")
        acting(s, actor)
        created = seed_demo_rules(s, actor, load_demo_plant())
        assert created.created, "the demo detection rules were not created"
        assert seed_demo_routing(s, actor) is not None
        s.commit()
    return actor


def play_micro_leak(db: Db, tmp_path: Path, ent: int, trigger_at: float) -> dict[str, int]:
    """The press's readings (1 s apart, as the demo's Modbus polling gives) from the simulator's
    model with the micro-leak triggered at ``trigger_at`` at the demo's time scale, through the
    pipeline and the detection stage into the alarm intake. Returns the point ids by code."""
    plant = load_demo_plant()
    press = plant.equipment_of(default_target(plant, MICRO_LEAK))
    assert press is not None
    model, book = PlantModel(plant, 0), FaultBook(plant, 0)
    fault = book.trigger(model, MICRO_LEAK, None, trigger_at, DEMO_FAULT_TIME_SCALE)
    with db.factory() as s:
        ids = dict(s.execute(select(MeasurementPoint.code, MeasurementPoint.id).where(
            MeasurementPoint.enterprise_id == ent, MeasurementPoint.code.in_(fault.points))).all())
        ranges = {c: (lo, hi) for c, lo, hi in s.execute(select(
            MeasurementPoint.code, MeasurementPoint.range_low, MeasurementPoint.range_high).where(
            MeasurementPoint.enterprise_id == ent, MeasurementPoint.code.in_(fault.points)))}
    assert set(ids) == set(fault.points)
    spec = DeviceSpec(device_id=0, enterprise_id=ent, code="SIM", protocol="test", connection=None,
                      points=tuple(BoundPoint(ids[c], c, None, *ranges[c]) for c in ids),
                      known_points={c: (ids[c], *ranges[c]) for c in ids}, version="v1")
    readings = []
    for step in range(-LEAD_IN_S, AFTER_S + 1):
        t = trigger_at + step
        for sp in (p for p in press.points if p.code in ids):
            v = round(sp.clamp(book.apply(model, sp, t, model.value(sp, t))), 4)
            readings.append(Reading(ids[sp.code], datetime.fromtimestamp(t, UTC), v))
    stage = DetectionStage(db.engine, AlarmIntake(db.factory))
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "buffer.sqlite"), StoreForwarder(db.engine),
                    on_forwarded=stage.on_forwarded)
    try:
        assert stage.reload() >= 2  # the press's two rules (and the others of the demo)
        assert pipe.submit(spec, readings) == len(readings)
        while asyncio.run(pipe.forward_once()):
            pass
        stage.drain()
    finally:
        pipe.buffer.close()
    return ids


def test_micro_leak_alarm_opens_an_order_for_mnt_and_notifies_in_one_chain(db: Db, tmp_path: Path) -> None:
    actor = seed(db)
    ent = actor.enterprise_id
    settings = Settings(database_url=db.url, bus_url="inprocess://", var_dir=tmp_path)
    with TestClient(create_app(settings, runtime=Runtime(settings, db.engine, db.factory, db.read_factory))):
        trigger_at = float(int((datetime.now(UTC) - timedelta(seconds=AFTER_S + 5)).timestamp()))
        ids = play_micro_leak(db, tmp_path, ent, trigger_at)

        # The alarm: the press's pressure trend, raised within two minutes of the trigger.
        with db.factory() as s:
            alarms = s.scalars(select(Alarm).where(Alarm.enterprise_id == ent).order_by(Alarm.id)).all()
            press_id = s.scalar(select(Equipment.id).where(Equipment.enterprise_id == ent,
                                                           Equipment.code == "EQ-ST-001"))
        assert alarms, "the micro-leak raised no alarm"
        first = alarms[0]
        assert {a.equipment_id for a in alarms} == {press_id}  # nothing else in the plant alarmed
        delay = first.first_active_at.timestamp() - trigger_at
        assert 0 < delay < 120, f"alarm {delay:.0f} s after the trigger"
        assert first.severity in ("major", "minor") and first.active
        assert first.point_id is None or first.point_id in ids.values()

        # The work order: one for the press, routed by the demo rule for stamping to MNT.
        order = wait_for(lambda: _orders(db, ent))
        assert len(order) == 1, "the alarm opened no work order (or more than one)"
        wo = order[0]
        with db.factory() as s:
            team = s.get(Team, wo.team_id) if wo.team_id else None
            mnt_users = dict(s.execute(select(User.username, User.id).where(
                User.enterprise_id == ent, User.username.in_(["mnt_leader", "mnt_tech", "safety", "leader"]))).all())
        assert team is not None and team.code == "MNT"
        assert wo.routed_rule == "冲压设备报警" and wo.routed_version == 1
        assert wo.alarm_id == first.id and wo.equipment_id == press_id and wo.status == "dispatched"
        # By day the hydraulics technician (液压维修), at night the team's leader: MNT works days.
        assert wo.assignee_id in (mnt_users["mnt_tech"], mnt_users["mnt_leader"])

        # In-app: the safety manager and the stamping area's leader hear of the alarm; the
        # assignee of the order gets it in their feed.
        def feed() -> list[Notification]:
            with db.factory() as s:
                got = list(s.scalars(select(Notification).where(Notification.enterprise_id == ent,
                                                                Notification.channel_kind == "inapp")))
            kinds = {(n.event_type, n.user_id) for n in got}
            want = {("alarm.raised", mnt_users["safety"]), ("alarm.raised", mnt_users["leader"]),
                    ("workorder.dispatched", wo.assignee_id)}
            return got if want <= kinds else []

        notes = wait_for(feed)
        assert notes, "the in-app notifications did not all arrive"
        assert all(n.status == "sent" for n in notes)
        dispatched_note = next(n for n in notes if n.event_type == "workorder.dispatched")
        assert dispatched_note.link == f"/workorders/{wo.id}"
        alarm_note = next(n for n in notes if n.event_type == "alarm.raised" and n.link == f"/alarms/{first.id}")

        # One Context chain: alarm.raised → workorder.created (its child) → workorder.dispatched,
        # and each notification carries the context of the event it tells of.
        with db.factory() as s:
            envs = [m.envelope for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        raised = next(e for e in envs if e["type"] == "alarm.raised" and e["payload"]["alarm_id"] == first.id)
        created = next(e for e in envs if e["type"] == "workorder.created" and e["payload"]["id"] == wo.id)
        dispatched = next(e for e in envs if e["type"] == "workorder.dispatched" and e["payload"]["id"] == wo.id)
        assert raised["context"]["id"] == first.context_id
        assert created["context"]["parent_id"] == raised["context"]["id"]
        assert created["context"]["id"] == wo.context_id
        assert dispatched["context"]["parent_id"] == created["context"]["id"]
        assert alarm_note.context_id == raised["context"]["id"]
        assert dispatched_note.context_id == dispatched["context"]["id"]
        assert dispatched_note.event_id == dispatched["id"] and alarm_note.event_id == raised["id"]


def _orders(db: Db, ent: int) -> list[WorkOrder]:
    with db.factory() as s:
        return list(s.scalars(select(WorkOrder).where(WorkOrder.enterprise_id == ent)))

