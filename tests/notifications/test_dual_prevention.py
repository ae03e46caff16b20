"""Dual-prevention events that need a person: a new hazard reaches the safety managers and the
team leader of the hazard's area; a missed inspection reaches its assignees; links open the
right page."""

from __future__ import annotations

from plantguard.events.envelope import Context, Envelope
from plantguard.notifications.consumer import NotificationConsumer
from tests.conftest import Db
from tests.factories import make_tenant
from tests.notifications.conftest import Clock
from tests.notifications.helpers import AT, consume, give_person, rows, user_id


def test_new_hazard_and_missed_inspection_notify_in_app(db: Db, clock: Clock) -> None:
    t = make_tenant(db.factory, "E1")
    other = make_tenant(db.factory, "E2")
    give_person(db.factory, t, "team_leader", "leader@e1.test", leader=True)
    consumer = NotificationConsumer(clock=clock)
    hazard = Envelope(type="hazard.reported", enterprise_id=t.enterprise_id, occurred_at=AT, context=Context(),
                      payload={"id": 5, "number": "YH-20261128-0001", "title": "配电柜门未关", "status": "reported",
                               "grade": None, "area_id": t.area_id, "source": "report"})
    assert consume(db.factory, consumer, hazard)
    got = rows(db.factory)
    by_user = {r.user_id: r for r in got if r.channel_kind == "inapp"}
    safety, leader = user_id(db.factory, t.users["safety_manager"]), user_id(db.factory, t.users["team_leader"])
    assert set(by_user) == {safety, leader}
    assert by_user[safety].link == "/hazards/5" and "YH-20261128-0001" in by_user[safety].title
    assert all(r.enterprise_id == t.enterprise_id for r in got)

    worker = user_id(db.factory, t.users["worker"])
    missed = Envelope(type="inspection.missed", enterprise_id=t.enterprise_id, occurred_at=AT, context=Context(),
                      payload={"id": 9, "plan_id": 1, "plan_name": "班前检查", "risk_point_id": 3, "period": "shift",
                               "window_start": AT.isoformat(), "window_end": AT.isoformat(), "status": "missed",
                               "team_id": t.team_id, "title": "班前检查 · 1号压力机", "target_user_ids": [worker]})
    assert consume(db.factory, consumer, missed)
    new = [r for r in rows(db.factory) if r.event_type == "inspection.missed" and r.channel_kind == "inapp"]
    assert {r.user_id for r in new} == {worker, leader}
    assert all(r.link == "/inspections" for r in new)
    # another enterprise's users are never reached, even when an id is named
    foreign = user_id(db.factory, other.users["worker"])
    stray = Envelope(type="inspection.missed", enterprise_id=t.enterprise_id, occurred_at=AT, context=Context(),
                     payload={**missed.payload, "id": 10, "target_user_ids": [foreign], "team_id": None})
    assert consume(db.factory, consumer, stray)
    assert not [r for r in rows(db.factory) if r.user_id == foreign]
