"""Plans, generation, missed detection, checklists, check-in and results on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.events.models import OutboxMessage
from plantguard.hazards.models import Hazard
from plantguard.inspections import checklists, plans, tags, tasks, ticker
from plantguard.inspections.models import InspectionCheckin, InspectionResult, InspectionTask
from plantguard.risk.models import ControlMeasure
from plantguard.tenancy.models import User
from tests.inspections.conftest import World


def _plan(w: World, s: Session, frequency: str = "day", **kw: Any) -> int:
    actor = w.actor(s, "safety_manager")
    bind_actor(s, actor)
    values = {"name": "冲压日检", "frequency": frequency, "risk_point_ids": [w.p1.id], "team_id": w.t1.team_id}
    values.update(kw)
    plan = plans.create(s, actor, values, now=w.clock())
    s.commit()
    return plan.id


def _tasks(s: Session, plan_id: int) -> list[InspectionTask]:
    return list(s.scalars(select(InspectionTask).where(InspectionTask.plan_id == plan_id)
                          .order_by(InspectionTask.window_start)))


def _events(s: Session, kind: str) -> list[dict[str, Any]]:
    return [dict(m.envelope["payload"]) for m in s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == kind)
                                               .order_by(OutboxMessage.id))]


@pytest.mark.parametrize(("frequency", "step", "labels"), [
    ("shift", timedelta(hours=8), ["shift:2026-11-25/day", "shift:2026-11-25/middle", "shift:2026-11-26/night"]),
    ("quarter", timedelta(days=40), ["quarter:2026-Q4", "quarter:2027-Q1"]),
])
def test_generation_per_window_is_idempotent(world: World, frequency: str, step: timedelta,
                                             labels: list[str]) -> None:
    w = world
    with w.db.factory() as s:
        plan_id = _plan(w, s, frequency)
    for _ in range(len(labels) - 1):
        assert ticker.tick(w.db.factory, w.clock()) == (0, 0)  # same window again: nothing
        w.clock.advance(seconds=step.total_seconds())
        made, _missed = ticker.tick(w.db.factory, w.clock())
        assert made == 1
    with w.db.factory() as s:
        got = _tasks(s, plan_id)
        assert [t.period for t in got] == labels
        # every window but the current one was left undone: missed
        assert [t.status for t in got] == ["missed"] * (len(labels) - 1) + ["open"]
        assert got[0].window_end == got[1].window_start or frequency == "quarter"


def test_missed_task_emits_event_to_the_team(world: World) -> None:
    w = world
    with w.db.factory() as s:
        plan_id = _plan(w, s, "day")
    w.clock.now = datetime.fromisoformat("2026-11-25T16:00:00+00:00")  # 26 Nov 00:00 Shanghai
    made, missed = ticker.tick(w.db.factory, w.clock())
    assert (made, missed) == (1, 1)
    assert ticker.tick(w.db.factory, w.clock()) == (0, 0)
    with w.db.factory() as s:
        first = _tasks(s, plan_id)[0]
        assert first.status == "missed" and first.missed_at == w.clock()
        events = _events(s, "inspection.missed")
        assert len(events) == 1
        ev = events[0]
        assert ev["id"] == first.id and ev["team_id"] == w.t1.team_id
        # team T1: worker, worker2 and the team leader's account
        assert sorted(ev["target_user_ids"]) == sorted([w.ids["worker"], w.ids["worker2"], w.ids["team_leader"]])


def test_role_plan_reminds_every_user_of_the_role(world: World) -> None:
    w = world
    with w.db.factory() as s:
        _plan(w, s, "shift", team_id=None, assignee_role="worker")
    w.clock.advance(hours=6)  # 16:00 local: the day shift has ended
    ticker.tick(w.db.factory, w.clock())
    with w.db.factory() as s:
        ev = _events(s, "inspection.missed")[0]
        assert sorted(ev["target_user_ids"]) == sorted([w.ids["worker"], w.ids["worker2"]])
        assert ev["assignee_role"] == "worker"


def test_plan_validation_names_fields(world: World) -> None:
    w = world
    with w.db.factory() as s:
        actor = w.actor(s, "safety_manager")
        with pytest.raises(ValidationFailed) as e:
            plans.create(s, actor, {"name": "x", "frequency": "hourly", "risk_point_ids": [w.p2.id],
                                    "team_id": w.t1.team_id, "assignee_role": "worker"})
        assert {f.field for f in e.value.errors} == {"frequency", "assignee_role", "risk_point_ids"}
        with pytest.raises(PermissionDenied):
            plans.create(s, w.actor(s, "worker"), {"name": "x", "frequency": "day", "risk_point_ids": [w.p1.id],
                                                   "assignee_role": "worker"})


def test_checklist_regeneration_keeps_manual_edits(world: World) -> None:
    w = world
    with w.db.factory() as s:
        actor = w.actor(s, "safety_manager")
        bind_actor(s, actor)
        items = checklists.regenerate(s, actor, w.p1.id)
        assert [i.measure_id for i in items] == w.p1.measure_ids
        edited = checklists.edit(s, actor, w.p1.id, items[0].id, "光电保护：遮挡后滑块立即停止")
        checklists.remove(s, actor, w.p1.id, items[1].id)
        manual = checklists.add(s, actor, w.p1.id, "地面无油污")
        # the register changes: measure 1 reworded, measure 2 reworded, a new measure added
        for m in s.scalars(select(ControlMeasure).where(ControlMeasure.id.in_(w.p1.measure_ids))):
            m.description = m.description + "（修订）"
        new = ControlMeasure(enterprise_id=w.t1.enterprise_id, hazard_source_id=w.p1.source_id, kind="training",
                             description="新员工三级安全教育合格")
        s.add(new)
        s.flush()
        after = checklists.regenerate(s, actor, w.p1.id)
        assert [i.text for i in after] == ["光电保护：遮挡后滑块立即停止", "地面无油污", "新员工三级安全教育合格"]
        assert after[0].id == edited.id and after[1].id == manual.id
        # reorder, then a measure disappears: its unedited item goes, the edited one stays
        checklists.reorder(s, actor, w.p1.id, [after[2].id, after[0].id, after[1].id])
        new.active = False
        s.get(ControlMeasure, w.p1.measure_ids[0]).active = False  # type: ignore[union-attr]
        final = checklists.regenerate(s, actor, w.p1.id)
        assert [i.text for i in final] == ["光电保护：遮挡后滑块立即停止", "地面无油污"]
        with pytest.raises(ValidationFailed) as e:
            checklists.reorder(s, actor, w.p1.id, [final[0].id])
        assert e.value.errors[0].field == "order"
        with pytest.raises(PermissionDenied):
            checklists.add(s, w.actor(s, "worker"), w.p1.id, "x")
        with pytest.raises(NotFound):
            checklists.regenerate(s, actor, w.p2.id)  # another enterprise's point


def _do(w: World, s: Session, role: str = "worker") -> tuple[Any, InspectionTask, list[Any]]:
    actor = w.actor(s, role)
    bind_actor(s, actor)
    task = s.scalars(select(InspectionTask).where(InspectionTask.enterprise_id == w.t1.enterprise_id)).one()
    return actor, task, checklists.items(s, w.t1.enterprise_id, w.p1.id)


def test_checkin_with_and_without_gps_and_wrong_token(world: World) -> None:
    w = world
    with w.db.factory() as s:
        _plan(w, s)
    with w.db.factory() as s:
        actor, task, _ = _do(w, s)
        token = tags.token_of(s, w.t1.enterprise_id, w.p1.id)
        assert token and len(token) >= 20
        other = tags.token_of(s, w.t2.enterprise_id, w.p2.id)
        with pytest.raises(ValidationFailed) as e:
            tasks.checkin(s, actor, task.id, other or "x", tasks.Geo(), now=w.clock())
        assert e.value.errors[0].field == "token"
        with pytest.raises(ValidationFailed) as e:
            tasks.checkin(s, actor, task.id, token, tasks.Geo("ok"), now=w.clock())
        assert e.value.errors[0].field == "geo_status"
        with pytest.raises(ValidationFailed) as e:
            tasks.checkin(s, actor, task.id, token, tasks.Geo("ok", 91.0, 121.0), now=w.clock())
        assert e.value.errors[0].field == "lat"
        denied = tasks.checkin(s, actor, task.id, token, tasks.Geo("denied"), now=w.clock())
        located = tasks.checkin(s, actor, task.id, token, tasks.Geo("ok", 31.23, 121.47, 12.5), now=w.clock())
        s.commit()
        rows = s.scalars(select(InspectionCheckin).order_by(InspectionCheckin.id)).all()
        assert [(r.geo_status, r.lat, r.lon, r.accuracy_m, r.token_matched) for r in rows] == [
            ("denied", None, None, None, True), ("ok", 31.23, 121.47, 12.5, True)]
        assert denied.at == w.clock() and located.user_id == w.ids["worker"]
        # a worker outside team T1: not theirs; a contractor may not inspect at all
        outsider = User(enterprise_id=w.t1.enterprise_id, username="e1-outsider", password_hash="x", role="worker")
        s.add(outsider)
        s.flush()
        with pytest.raises(Conflict) as c:
            tasks.checkin(s, Actor(outsider.id, w.t1.enterprise_id, Role.WORKER, "e1-outsider"), task.id, token,
                          tasks.Geo(), now=w.clock())
        assert c.value.status_code == 403
        with pytest.raises(PermissionDenied):
            tasks.checkin(s, w.actor(s, "contractor"), task.id, token, tasks.Geo(), now=w.clock())
        # another tenant's user does not see the task at all
        with pytest.raises(NotFound):
            tasks.checkin(s, w.actor(s, "worker", w.t2), task.id, token, tasks.Geo(), now=w.clock())


def test_failed_item_raises_a_hazard_in_the_same_transaction(world: World) -> None:
    w = world
    with w.db.factory() as s:
        _plan(w, s)
    with w.db.factory() as s:
        actor, task, items = _do(w, s)
        token = tags.token_of(s, w.t1.enterprise_id, w.p1.id) or ""
        ci = tasks.checkin(s, actor, task.id, token, tasks.Geo("unavailable"), now=w.clock())
        s.commit()
        with pytest.raises(ValidationFailed) as e:  # missing item, not-ok without a note
            tasks.submit_results(s, actor, task.id, ci.id, [tasks.ItemResult(items[0].id, "not_ok")], now=w.clock())
        assert [f.field for f in e.value.errors] == ["results.0.note"]
        s.rollback()
        with pytest.raises(ValidationFailed) as e:
            tasks.submit_results(s, actor, task.id, ci.id, [tasks.ItemResult(items[0].id, "ok")], now=w.clock())
        assert [f.field for f in e.value.errors] == ["results"]
        s.rollback()
        done = tasks.submit_results(s, actor, task.id, ci.id, [
            tasks.ItemResult(items[0].id, "not_ok", "光电保护失效，遮挡后滑块未停"),
            tasks.ItemResult(items[1].id, "ok")], now=w.clock())
        s.commit()
        assert done.status == "done" and done.done_by == w.ids["worker"]
        results = s.scalars(select(InspectionResult).order_by(InspectionResult.id)).all()
        assert [r.outcome for r in results] == ["not_ok", "ok"]
        hazard = s.get(Hazard, results[0].hazard_id)
        assert hazard is not None and hazard.source == "inspection"
        assert hazard.risk_point_id == w.p1.id and hazard.area_id == w.t1.area_id
        assert "光电保护失效" in hazard.description
        assert results[1].hazard_id is None
        assert _events(s, "inspection.done")[0]["hazard_ids"] == [hazard.id]
        assert len(_events(s, "hazard.reported")) == 1
        with pytest.raises(Conflict):  # done is done
            tasks.checkin(s, actor, task.id, token, tasks.Geo(), now=w.clock())


def test_no_work_after_the_window(world: World) -> None:
    w = world
    with w.db.factory() as s:
        _plan(w, s, "shift")
    with w.db.factory() as s:
        actor, task, _ = _do(w, s)
        token = tags.token_of(s, w.t1.enterprise_id, w.p1.id) or ""
        with pytest.raises(Conflict):
            tasks.checkin(s, actor, task.id, token, tasks.Geo(), now=task.window_end)
        assert s.scalar(select(func.count()).select_from(InspectionCheckin)) == 0


def test_today_panel_counts(world: World) -> None:
    w = world
    with w.db.factory() as s:
        _plan(w, s, "shift")
        empty = tasks.today(s, w.actor(s, "safety_manager", w.t2), now=w.clock())
        assert (empty.due, empty.rate) == (0, None)
    w.clock.advance(hours=6)
    ticker.tick(w.db.factory, w.clock())
    with w.db.factory() as s:
        t = tasks.today(s, w.actor(s, "safety_manager"), now=w.clock())
        assert (t.due, t.done, t.missed, t.open, t.rate) == (2, 0, 1, 1, 0.0)
