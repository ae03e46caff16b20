"""The alarm lifecycle driven by signals and an injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from plantguard.assets.models import Equipment
from plantguard.core.errors import Conflict, PermissionDenied
from plantguard.core.permissions import Actor, Role
from plantguard.detection.alarms import service
from plantguard.detection.alarms.models import Alarm, AlarmEvent, AlarmSilence
from plantguard.detection.signals import Severity
from plantguard.ingest.models import Device, DeviceStatus
from plantguard.ingest.reading import ReadingBatch
from plantguard.tenancy.models import Area, Person
from plantguard.timeseries.alignment.models import MesPhase, MesWorkOrder, ZoneEntry
from plantguard.timeseries.store import write_batch
from tests.detection.alarms.conftest import T0, World

US = 1_000_000


def actor(w: World, role: Role = Role.WORKER, user_id: int = 1, tenant: int | None = None) -> Actor:
    return Actor(user_id=user_id, enterprise_id=tenant or w.t1.enterprise_id, role=role, username=f"u-{role}",
                 display_name=f"{role.value} person")


def user_id(w: World, role: str) -> int:
    from plantguard.tenancy.models import User

    with w.db.factory() as s:
        return int(s.scalar(select(User.id).where(User.username == w.t1.users[role])) or 0)


def test_raise_repeat_and_replay(world: World) -> None:
    w = world
    w.send(w.signal())
    a = w.one()
    assert (a.status, a.severity, a.initial_severity, a.occurrences) == ("active_unack", "warning", "warning", 1)
    assert a.equipment_id == w.t1.equipment_id and a.point_id == w.t1.point_id and a.first_active_at == T0
    ex = a.explanation
    assert ex["detector"] == "threshold" and ex["predicted_minutes"] == 12 and ex["threshold"] == 28.0
    assert ex["contributions"][0] == {"point_id": w.t1.point_id, "name": "EQ-1-HP", "value": 29.5, "score": 0.8,
                                      "unit": "MPa"}
    raised = w.new_events()
    assert [e["type"] for e in raised] == ["alarm.raised"]
    assert raised[0]["payload"]["notify"] is True and raised[0]["enterprise_id"] == w.t1.enterprise_id

    # The same signal again (a replay) and a refresh while the condition holds: same alarm, one occurrence.
    w.send(w.signal(), w.signal(at=T0 + timedelta(seconds=5)))
    a = w.one()
    assert a.occurrences == 1 and a.last_active_at == T0 + timedelta(seconds=5)
    assert w.new_events() == []

    # The condition ends and comes back, more severe: one more occurrence, severity raised.
    w.send(w.signal(active=False, at=T0 + timedelta(seconds=10)))
    assert w.one().condition_ended_at == T0 + timedelta(seconds=10)
    w.send(w.signal(at=T0 + timedelta(seconds=20), severity=Severity.MAJOR))
    a = w.one()
    assert (a.occurrences, a.severity, a.initial_severity, a.condition_ended_at) == (2, "major", "warning", None)
    assert w.history(a.id) == ["raised", "condition_ended", "repeated", "severity_up"]
    kinds = [(e["type"], e["payload"]["notify"]) for e in w.new_events()]
    assert kinds == [("alarm.condition_ended", False), ("alarm.repeated", False), ("alarm.severity_changed", True)]
    # An inactive signal never clears.
    w.send(w.signal(active=False, at=T0 + timedelta(seconds=30)))
    assert w.one().active


def test_events_form_one_context_chain(world: World) -> None:
    w = world
    w.send(w.signal())
    a = w.one()
    leader = user_id(w, "team_leader")
    with w.db.factory() as s:
        service.acknowledge(s, actor(w, Role.TEAM_LEADER, leader), a.id, "on my way", now=T0 + timedelta(minutes=1))
        s.commit()
    raised, acked = w.events()
    assert raised["context"]["id"] == a.context_id and raised["context"]["user_id"] is None
    assert acked["type"] == "alarm.acknowledged"
    assert acked["context"]["parent_id"] == a.context_id and acked["context"]["user_id"] == leader
    assert acked["payload"]["by_user_id"] == leader and acked["payload"]["status"] == "active_ack"
    assert acked["payload"]["note"] == "on my way"


def test_ack_and_manual_clear_record_who_and_when(world: World) -> None:
    w = world
    w.send(w.signal())
    a = w.one()
    leader = user_id(w, "team_leader")
    with w.db.factory() as s:
        service.acknowledge(s, actor(w, Role.TEAM_LEADER, leader), a.id, now=T0 + timedelta(minutes=2))
        s.commit()
        with pytest.raises(Conflict):
            service.acknowledge(s, actor(w, Role.TEAM_LEADER, leader), a.id)
        s.rollback()
        service.clear(s, actor(w, Role.WORKER, leader), a.id, "valve closed", now=T0 + timedelta(minutes=5))
        s.commit()
    a = w.one()
    assert (a.status, a.acked_by, a.acked_at) == ("cleared_ack", leader, T0 + timedelta(minutes=2))
    assert (a.cleared_by, a.cleared_at, a.clear_reason, a.open_key) == (leader, T0 + timedelta(minutes=5), "manual",
                                                                         None)
    with w.db.factory() as s:
        rows = s.execute(select(AlarmEvent.kind, AlarmEvent.user_id, AlarmEvent.actor_name, AlarmEvent.note)
                         .where(AlarmEvent.alarm_id == a.id).order_by(AlarmEvent.id)).all()
    assert [tuple(r) for r in rows] == [("raised", None, "", ""), ("acked", leader, "team_leader person", ""),
                                        ("cleared", leader, "worker person", "valve closed")]


def test_roles_and_tenancy_in_the_service(world: World) -> None:
    w = world
    w.send(w.signal())
    a = w.one()
    with w.db.factory() as s:
        for role in (Role.AUDITOR, Role.CONTRACTOR):
            with pytest.raises(PermissionDenied):
                service.acknowledge(s, actor(w, role), a.id)
        from plantguard.core.errors import NotFound

        other = actor(w, Role.ADMIN, tenant=w.t2.enterprise_id)
        with pytest.raises(NotFound):
            service.acknowledge(s, other, a.id)
        assert service.list_alarms(s, other).total == 0


def test_auto_clear_after_quiet_period_and_escalations(world: World) -> None:
    w = world
    w.policy(auto_clear_after_s=300, escalate_after_s=60, unack_escalate_after_s=600)
    w.send(w.signal())
    a = w.one()
    w.clock.advance(seconds=59)
    w.intake.tick()
    assert w.one().severity == "warning"
    w.clock.advance(seconds=2)  # 61 s: one step
    w.intake.tick()
    assert w.one().severity == "minor"
    w.clock.advance(seconds=125)  # 186 s: three periods since the raise -> critical
    w.intake.tick()
    w.intake.tick()  # the same moment again changes nothing
    a = w.one()
    assert a.severity == "critical" and w.history(a.id).count("severity_up") == 2
    # Nobody acknowledges: escalated at 10 min and again at 20 min (repeating), once per period.
    w.clock.now = T0 + timedelta(minutes=10, seconds=1)
    w.intake.tick()
    assert w.one().escalation_level == 1
    w.clock.now = T0 + timedelta(minutes=20, seconds=1)
    w.intake.tick()
    w.intake.tick()
    assert w.one().escalation_level == 2
    esc = [e for e in w.events() if e["type"] == "alarm.escalated"]
    assert [e["payload"]["level"] for e in esc] == [1, 2] and all(e["payload"]["notify"] for e in esc)
    # The condition ends; auto-clear five minutes later if it does not come back.
    w.send(w.signal(active=False, at=w.clock.now))
    w.clock.advance(seconds=299)
    w.intake.tick()
    assert w.one().active
    w.clock.advance(seconds=2)
    w.intake.tick()
    a = w.one()
    assert (a.status, a.clear_reason, a.cleared_by) == ("cleared_unack", "auto", None)
    # Cleared alarms do not escalate any more.
    w.clock.advance(hours=2)
    w.intake.tick()
    assert w.one().escalation_level == 2


def test_recurrence_resets_auto_clear(world: World) -> None:
    w = world
    w.policy(auto_clear_after_s=300)
    w.send(w.signal(), w.signal(active=False, at=T0 + timedelta(seconds=10)))
    w.clock.now = T0 + timedelta(seconds=200)
    w.send(w.signal(at=w.clock.now))  # back before the five minutes are up
    w.clock.now = T0 + timedelta(seconds=400)
    w.intake.tick()
    assert w.one().active and w.one().occurrences == 2


def test_downgrade_when_condition_ended(world: World) -> None:
    w = world
    w.policy(downgrade_after_s=120)
    w.send(w.signal(severity=Severity.CRITICAL), w.signal(active=False, at=T0 + timedelta(minutes=1)))
    w.clock.now = T0 + timedelta(minutes=3, seconds=1)  # one period after the end
    w.intake.tick()
    assert w.one().severity == "major"
    w.clock.now = T0 + timedelta(minutes=30)
    w.intake.tick()
    a = w.one()
    assert a.severity == "warning" and a.active  # floor: warning; still not cleared
    changed = [e["payload"] for e in w.events() if e["type"] == "alarm.severity_changed"]
    assert [(p["previous"], p["severity"], p["direction"], p["notify"]) for p in changed] == [
        ("critical", "major", "down", False), ("major", "warning", "down", False)]


def test_throttle_reopens_the_same_alarm_without_notifying(world: World) -> None:
    w = world
    w.policy(throttle_s=600)
    w.send(w.signal())
    a = w.one()
    with w.db.factory() as s:
        service.clear(s, actor(w, user_id=user_id(w, "worker")), a.id, now=T0 + timedelta(minutes=1))
        s.commit()
    w.new_events()
    w.send(w.signal(at=T0 + timedelta(minutes=5)))  # within 10 min of the clear
    a = w.one()
    assert a.active and a.occurrences == 2 and a.clear_reason == "" and a.cleared_at is None
    [reopened] = w.new_events()
    assert reopened["type"] == "alarm.repeated" and reopened["payload"]["reopened"] is True
    assert reopened["payload"]["notify"] is False
    # Beyond the window: a new alarm, notified.
    with w.db.factory() as s:
        service.clear(s, actor(w, user_id=user_id(w, "worker")), a.id, now=T0 + timedelta(minutes=6))
        s.commit()
    w.send(w.signal(at=T0 + timedelta(minutes=17)))
    assert len(w.alarms("rule:1")) == 2
    assert [e["type"] for e in w.new_events()] == ["alarm.cleared", "alarm.raised"]


def test_silence_records_but_does_not_notify(world: World) -> None:
    w = world
    with w.db.factory() as s:
        s.add(AlarmSilence(enterprise_id=w.t1.enterprise_id, scope="equipment", target_id=w.t1.equipment_id,
                           starts_at=T0, ends_at=T0 + timedelta(hours=1), reason="die change"))
        s.commit()
    w.send(w.signal(), w.signal("rule:2", equipment_id=None, point_id=None),
           w.signal("rule:3", at=T0 + timedelta(hours=2)))
    silenced, other, after = w.one("rule:1"), w.one("rule:2"), w.one("rule:3")
    assert silenced.silenced and not other.silenced and not after.silenced
    assert w.history(silenced.id) == ["raised", "silenced"]
    notify = {e["payload"]["source"]: e["payload"]["notify"] for e in w.events() if e["type"] == "alarm.raised"}
    assert notify == {"rule:1": False, "rule:2": True, "rule:3": True}


def test_no_data_alarm_repeats_and_clears_when_data_returns(world: World) -> None:
    w = world
    w.policy(no_data_after_s=600, repeat_no_data_s=1800)
    pid = w.t1.point_id
    b = ReadingBatch(w.t1.enterprise_id)
    b.append(pid, int(T0.timestamp() * US), 21.0)
    write_batch(w.db.engine, b)
    w.clock.advance(seconds=590)
    w.intake.tick()
    assert w.alarms() == []
    w.clock.advance(seconds=20)  # 610 s without data
    w.intake.tick()
    a = w.one(f"nodata:{pid}")
    assert (a.kind, a.severity, a.point_id, a.equipment_id) == ("no_data", "minor", pid, w.t1.equipment_id)
    assert a.explanation["details"]["silent_s"] == pytest.approx(610)
    w.clock.advance(seconds=1799)
    w.intake.tick()
    w.clock.advance(seconds=2)  # 30 min after the raise: reminded
    w.intake.tick()
    w.clock.advance(seconds=1800)
    w.intake.tick()
    w.intake.tick()
    reminders = [e for e in w.events() if e["type"] == "alarm.repeated"]
    assert len(reminders) == 2 and all(e["payload"]["notify"] for e in reminders)
    # Data returns: cleared automatically.
    b = ReadingBatch(w.t1.enterprise_id)
    b.append(pid, int(w.clock.now.timestamp() * US), 22.0)
    write_batch(w.db.engine, b)
    w.clock.advance(seconds=5)
    w.intake.tick()
    a = w.one(f"nodata:{pid}")
    assert (a.active, a.clear_reason) == (False, "auto")
    assert w.history(a.id) == ["raised", "repeated", "repeated", "cleared"]


def test_no_data_is_not_an_alarm_on_equipment_under_maintenance(world: World) -> None:
    w = world
    w.policy(no_data_after_s=600)
    pid = w.t1.point_id
    with w.db.factory() as s:
        s.get(Equipment, w.t1.equipment_id).status = "maintenance"  # type: ignore[union-attr]
        s.commit()
    b = ReadingBatch(w.t1.enterprise_id)
    b.append(pid, int(T0.timestamp() * US), 21.0)
    write_batch(w.db.engine, b)
    w.clock.advance(seconds=3600)
    w.intake.tick()
    assert w.alarms() == []
    with w.db.factory() as s:
        s.get(Equipment, w.t1.equipment_id).status = "in_service"  # type: ignore[union-attr]
        s.commit()
    w.intake.tick()
    assert w.one(f"nodata:{pid}").kind == "no_data"


def test_offline_device_alarm(world: World) -> None:
    w = world
    with w.db.factory() as s:
        d = Device(enterprise_id=w.t1.enterprise_id, code="PLC-1", name="冲压线PLC", protocol="modbus")
        s.add(d)
        s.flush()
        s.add(DeviceStatus(device_id=d.id, enterprise_id=w.t1.enterprise_id, state="offline", last_seen=T0))
        s.commit()
        did = d.id
    w.intake.tick()
    a = w.one(f"offline:{did}")
    assert (a.kind, a.severity, a.device_id, a.title) == ("offline", "major", did, "PLC-1 冲压线PLC")
    w.clock.advance(hours=2)
    w.intake.tick()  # built-in reminder: every hour
    with w.db.factory() as s:
        s.get(DeviceStatus, did).state = "online"  # type: ignore[union-attr]
        s.commit()
    w.intake.tick()
    a = w.one(f"offline:{did}")
    assert not a.active and a.clear_reason == "auto"
    assert w.history(a.id) == ["raised", "repeated", "cleared"]


def test_aligned_context_is_frozen_into_the_alarm(world: World) -> None:
    w = world
    at_us = int(T0.timestamp() * US)
    with w.db.factory() as s:
        wo = MesWorkOrder(enterprise_id=w.t1.enterprise_id, order_no="WO-42", product="车门内板")
        s.add(wo)
        s.flush()
        s.add(MesPhase(enterprise_id=w.t1.enterprise_id, equipment_id=w.t1.equipment_id, work_order_id=wo.id,
                       phase="changeover", start_ts=at_us - 600 * US))
        person = s.get(Person, w.t1.person_id)
        assert person is not None and s.get(Area, w.t1.area_id) is not None
        s.add(ZoneEntry(enterprise_id=w.t1.enterprise_id, area_id=w.t1.area_id, person_id=person.id,
                        badge="P001", entered_ts=at_us - 300 * US))
        s.commit()
    w.send(w.signal())
    ctx = w.one().explanation["context"]
    assert ctx["work_order"]["order_no"] == "WO-42" and ctx["phase"]["phase"] == "changeover"
    assert [p["name"] for p in ctx["people"]] == ["张伟"]
    assert ctx["equipment"]["code"] == "EQ-1" and ctx["area"]["code"] == "ST"


def test_foreign_references_are_dropped_and_batches_are_atomic(world: World) -> None:
    w = world
    # A signal of enterprise 1 naming enterprise 2's equipment: the alarm is raised, unlinked.
    w.send(w.signal(equipment_id=w.t2.equipment_id, point_id=w.t2.point_id))
    a = w.one()
    assert a.equipment_id is None and a.point_id is None and a.enterprise_id == w.t1.enterprise_id
    with w.db.factory() as s:
        assert s.scalar(select(Alarm.id).where(Alarm.enterprise_id == w.t2.enterprise_id)) is None
