"""Conflicts (issue 7 point 5) on both backends: each clash is flagged with its reason (hot work
near open confined-space work, two lifts in one zone, two blind-plate points on one line —
blocking, §7 —, hot work within 30 m of blind-plate work, two permits at one equipment) and each
near miss is not (another area or over 30 m away, windows not overlapping, a finished permit, a
linked permit, another zone, another line, another tenant). The same-line refusal at start, the
``permit.submitted`` event carrying the flags, and ``GET /permits/{id}/conflicts`` in en and zh-CN."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.core.errors import Conflict
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Role
from plantguard.events.models import OutboxMessage
from plantguard.permits import conflicts, service
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit
from plantguard.tenancy.models import User
from tests.api.conftest import Env, build_app
from tests.conftest import Db
from tests.factories import make_tenant
from tests.permits.conftest import World
from tests.permits.factories import DAY, approve_now, make_active, make_approved, make_permit, make_ready

LATER = {"planned_start": DAY + timedelta(hours=4), "planned_end": DAY + timedelta(hours=6)}


def permit(w: World, type_code: str, status: str = "pending", actor: Actor | None = None, **kw: Any) -> int:
    """A permit of ``type_code`` in ``status`` (draft, pending, approved, active, cancelled)."""
    actor = actor or w.actor("safety_manager")

    def make(s: Any) -> Permit:
        if status == "approved":
            return make_approved(s, actor, type_code, **kw)
        if status == "active":
            return make_active(s, actor, type_code, **kw)
        p = make_permit(s, actor, type_code, **kw)
        if status in ("pending", "cancelled"):
            service.submit(s, actor, p.id, now=DAY - timedelta(hours=1))
        if status == "cancelled":
            service.cancel(s, actor, p.id, "计划取消", now=DAY - timedelta(minutes=50))
        return p

    pid = int(w.run(make, actor=actor))
    assert w.permit(pid).status == {"draft": S.DRAFT, "pending": S.PENDING}.get(status, status)
    return pid


@contextmanager
def app_env(db: Db, tmp_path: Path) -> Iterator[Env]:
    """An app on the test database with the two tenants (what tests/api's ``env`` fixture gives)."""
    t1, t2 = make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")
    with build_app(db, tmp_path) as client:
        yield Env(db, client, t1, t2, {})


def world_of(env: Env) -> World:
    """The permits test world on an API test's tenants (``env`` makes E1 and E2 itself)."""
    with env.db.factory() as s:
        ents = [env.t1.enterprise_id, env.t2.enterprise_id]
        users = list(s.scalars(select(User).where(User.enterprise_id.in_(ents))))
    actors = {u.role: Actor(u.id, u.enterprise_id, Role(u.role), u.username, u.display_name)
              for u in users if u.enterprise_id == env.t1.enterprise_id}
    other = next(Actor(u.id, u.enterprise_id, Role(u.role), u.username, u.display_name)
                 for u in users if u.enterprise_id == env.t2.enterprise_id and u.role == Role.SAFETY_MANAGER)
    return World(env.db, env.t1, env.t2, actors, other)


def found(w: World, pid: int) -> list[dict[str, Any]]:
    with w.db.factory() as s:
        p = s.get(Permit, pid)
        assert p is not None
        return conflicts.find(s, p)


def reasons(w: World, pid: int) -> list[tuple[str, int]]:
    return [(c["reason"], c["permit_id"]) for c in found(w, pid)]


def test_hot_work_near_open_confined_space_is_flagged_both_ways(world: World) -> None:
    cs = permit(world, "confined_space")
    hw = permit(world, "hot_work", "draft")
    got = found(world, hw)
    assert [(c["reason"], c["permit_id"], c["type_code"], c["status"], c["blocking"]) for c in got] == [
        (conflicts.HOT_NEAR_CONFINED, cs, "confined_space", S.PENDING, False)]
    assert got[0]["params"] == {"number": world.permit(cs).number}
    assert "HW12" in gettext(got[0]["reason"], "en", **got[0]["params"])
    # Seen from the confined space, once the hot work is live too.
    world.do(world.actor("safety_manager"), service.submit, hw, now=DAY - timedelta(hours=1))
    assert reasons(world, cs) == [(conflicts.HOT_NEAR_CONFINED, hw)]


def test_hot_work_elsewhere_later_or_beside_a_finished_job_is_not_flagged(world: World) -> None:
    permit(world, "confined_space", area_id=world.t.area2_id)  # another area, no positions
    permit(world, "confined_space", **LATER)  # same area, windows do not overlap
    permit(world, "confined_space", "cancelled")  # same area, finished
    permit(world, "confined_space", "draft")  # same area, not applied for yet
    hw = permit(world, "hot_work", "draft")
    assert found(world, hw) == []


def test_thirty_metres_on_the_site_plan_count_across_areas(world: World) -> None:
    cs = permit(world, "confined_space", area_id=world.t.area2_id, plan_x=65.0, plan_y=10.0)
    permit(world, "confined_space", area_id=world.t.area2_id, plan_x=100.0, plan_y=10.0)  # 55 m away
    hw = permit(world, "hot_work", "draft", plan_x=45.0, plan_y=10.0)  # 20 m from the first
    assert reasons(world, hw) == [(conflicts.HOT_NEAR_CONFINED, cs)]


def test_hot_work_inside_its_linked_confined_space_is_not_a_conflict(world: World) -> None:
    cs = permit(world, "confined_space")
    hw = permit(world, "hot_work", "draft", fields={"in_confined_space": True}, links=[cs])
    assert found(world, hw) == []


def test_two_lifts_in_one_zone(world: World) -> None:
    a = permit(world, "lifting", fields={"zone": "A区"})
    permit(world, "lifting", fields={"zone": "B区"})  # same area, another zone
    b = permit(world, "lifting", "draft", fields={"zone": " a区 "})
    assert reasons(world, b) == [(conflicts.TWO_LIFTS, a)]
    # Without zones the area decides.
    c = permit(world, "lifting", "draft", area_id=world.t.area2_id)
    assert found(world, c) == []
    d = permit(world, "lifting", area_id=world.t.area2_id)
    assert reasons(world, c) == [(conflicts.TWO_LIFTS, d)]


def test_blind_plates_on_one_line_are_blocking_and_refused_at_start(world: World) -> None:
    first = permit(world, "blind_plate", "active")
    permit(world, "blind_plate", fields={"line_no": "P-3001-50", "plate_no": "MB-08"})  # another line
    second = permit(world, "blind_plate", "draft", fields={"line_no": "p-2001-80 ", "plate_no": "MB-09"},
                    area_id=world.t.area2_id)
    got = found(world, second)
    assert [(c["reason"], c["permit_id"], c["blocking"]) for c in got] == [(conflicts.SAME_LINE, first, True)]
    assert "§7" in gettext(got[0]["reason"], "en", **got[0]["params"])

    # Approved while the first is under way: starting it is refused, citing §7, nothing changes.
    sm = world.actor("safety_manager")
    world.do(sm, service.submit, second, now=DAY - timedelta(hours=1))
    world.run(lambda s: approve_now(s, s.get(Permit, second), DAY - timedelta(hours=1)))
    with world.db.factory() as s:
        p = s.get(Permit, second)
        assert p is not None
        with pytest.raises(Conflict) as refused:
            conflicts.refuse_start(s, p)
    number = world.permit(first).number
    assert gettext(refused.value.message, "en", **refused.value.params) == (
        f"Blind-plate work {number} on line P-2001-80 is under way: only one blind-plate point of a line may be "
        "worked at a time (GB 30871-2022 §7)")
    assert gettext(refused.value.message, "zh_CN", **refused.value.params) == (
        f"管道 P-2001-80 上的盲板抽堵作业 {number} 正在进行：同一管道同一时间只能进行一处盲板抽堵作业"
        "（GB 30871-2022 §7）")
    # Another line, or the first finished: no refusal.
    with world.db.factory() as s:
        other = s.scalars(select(Permit).where(Permit.type_code == "blind_plate", Permit.status == S.PENDING)).one()
        conflicts.refuse_start(s, other)
    # The service's start refuses it before anything else, leaving everything as it was.
    world.run(lambda s: make_ready(s, sm, s.get(Permit, second), at=DAY + timedelta(minutes=40)), actor=sm)
    before = world.footprint(second)
    with pytest.raises(Conflict):
        world.do(sm, service.start, second, now=DAY + timedelta(minutes=20))
    assert world.footprint(second) == before
    world.do(sm, service.cancel, first, "作业取消", now=DAY + timedelta(minutes=30))
    with world.db.factory() as s:
        p = s.get(Permit, second)
        assert p is not None
        conflicts.refuse_start(s, p)
    world.do(sm, service.start, second, now=DAY + timedelta(minutes=40))
    assert world.permit(second).status == S.ACTIVE


def test_hot_work_within_thirty_metres_of_blind_plate_work(world: World) -> None:
    bp = permit(world, "blind_plate", plan_x=10.0, plan_y=10.0)
    hw = permit(world, "hot_work", "draft", area_id=world.t.area2_id, plan_x=30.0, plan_y=30.0)  # 28.3 m
    got = found(world, hw)
    assert [(c["reason"], c["permit_id"]) for c in got] == [(conflicts.HOT_NEAR_BLIND, bp)]
    assert "BP02" in gettext(got[0]["reason"], "en", **got[0]["params"])
    far = permit(world, "hot_work", "draft", area_id=world.t.area2_id, plan_x=40.0, plan_y=40.0)  # 42.4 m
    assert found(world, far) == []


def test_two_permits_at_one_equipment(world: World) -> None:
    eq = world.t.equipment_id
    a = permit(world, "work_at_height", equipment_id=eq, area_id=world.t.area2_id)
    permit(world, "road_breaking", area_id=world.t.area2_id)  # same area, no equipment, no rule
    b = permit(world, "excavation", "draft", equipment_id=eq)
    assert reasons(world, b) == [(conflicts.SAME_EQUIPMENT, a)]
    c = permit(world, "excavation", "draft")
    assert found(world, c) == []


def test_other_tenants_permits_never_conflict(world: World) -> None:
    permit(world, "confined_space", actor=world.other)
    hw = permit(world, "hot_work", "draft")
    assert found(world, hw) == []


def test_submitted_event_carries_the_flags(world: World) -> None:
    cs = permit(world, "confined_space")
    hw = permit(world, "hot_work")
    with world.db.factory() as s:
        env = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == "permit.submitted")
                        .order_by(OutboxMessage.id.desc())).first()
        assert env is not None
    payload = env.envelope["payload"]
    assert payload["id"] == hw
    assert [(c["permit_id"], c["reason"]) for c in payload["conflicts"]] == [(cs, conflicts.HOT_NEAR_CONFINED)]


def test_conflicts_api_in_both_languages(db: Db, tmp_path: Path) -> None:
    with app_env(db, tmp_path) as env:
        conflicts_api(env)


def conflicts_api(env: Env) -> None:
    w = world_of(env)
    cs = permit(w, "confined_space")
    hw = permit(w, "hot_work", "draft")
    number = w.permit(cs).number
    headers = env.as_role("worker")
    r = env.client.get(f"/api/v1/permits/{hw}/conflicts", headers=headers)
    assert r.status_code == 200, r.text
    [item] = r.json()
    assert (item["permit_id"], item["number"], item["blocking"]) == (cs, number, False)
    assert item["message"] == (f"Hot work and open confined-space work at the same place in the same period (with "
                               f"{number}): name a coordinator for the cross work (checklist HW12)")
    zh = env.client.get(f"/api/v1/permits/{hw}/conflicts", headers=env.as_role("worker", lang="zh-CN")).json()
    assert zh[0]["message"] == (f"动火作业与未结束的受限空间作业在同一地点、同一时段（{number}）："
                                "交叉作业须明确协调人（检查表 HW12）")
    # Another enterprise's permit is not found.
    other = env.client.get(f"/api/v1/permits/{hw}/conflicts", headers=env.as_role("worker", env.t2))
    assert other.status_code == 404
