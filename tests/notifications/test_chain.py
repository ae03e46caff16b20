"""The real path: an alarm through the alarm intake → outbox → relay → bus → the notification
consumer → an in-app row, in a running app (SQLite and PostgreSQL); and the message
templates of every work-order event in both languages from synthetic envelopes (the work-order
engine emits them in parallel)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from plantguard.core.i18n import gettext
from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.alarms.models import Alarm
from plantguard.detection.signals import ConditionSignal, Severity
from plantguard.notifications.consumer import NotificationConsumer
from plantguard.notifications.messages import TITLES, render
from plantguard.workorders.contract import WORKORDER_EVENTS
from tests.api.conftest import Env, env  # noqa: F401  (the shared fixture)
from tests.notifications.helpers import AT, consume, give_person, rows, user_id, wo_env


def test_alarm_intake_to_inapp_row(env: Env) -> None:  # noqa: F811
    sig = ConditionSignal(enterprise_id=env.t1.enterprise_id, source="rule:leak", kind="threshold", active=True,
                          ts=datetime.now(UTC), severity=Severity.MAJOR, equipment_id=env.t1.equipment_id,
                          point_id=env.t1.point_id, title="液压油微泄漏")
    AlarmIntake(env.db.factory).apply([sig])
    with env.db.factory() as s:
        alarm = s.scalars(select(Alarm).where(Alarm.source == "rule:leak")).one()
    sm = user_id(env.db.factory, env.t1.users["safety_manager"])
    deadline = time.monotonic() + 20
    found = []
    while time.monotonic() < deadline and not found:
        found = [r for r in rows(env.db.factory, channel_kind="inapp", user_id=sm)]
        time.sleep(0.2)
    assert len(found) == 1, "the in-app notification did not arrive"
    n = found[0]
    assert n.link == f"/alarms/{alarm.id}" and n.event_type == "alarm.raised"
    assert n.title == gettext("Alarm: %(title)s", "zh_CN", title="液压油微泄漏")
    assert "EQ-1 1号压力机" in n.body
    # The notification's event is the alarm's: its context is the raise's (one chain).
    assert n.context_id == alarm.context_id
    feed = env.client.get("/api/v1/me/notifications", headers=env.as_role("safety_manager")).json()
    assert feed["unread"] == 1 and feed["items"][0]["link"] == f"/alarms/{alarm.id}"
    # Nobody in the other enterprise heard of it.
    assert not [r for r in rows(env.db.factory) if r.enterprise_id == env.t2.enterprise_id]


@pytest.mark.parametrize("event_type", WORKORDER_EVENTS)
@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_workorder_templates(event_type: str, locale: str) -> None:
    payload = {"id": 41, "number": "WO-1", "title": "1号压力机漏油", "priority": "p1", "team_id": 3,
               "due_at": "2026-11-28T08:00:00+00:00", "level": 2, "reason": "overdue", "note": "换密封圈"}
    r = render(event_type, payload, AT, locale=locale, tz="Asia/Shanghai", equipment="EQ-1 1号压力机")
    params = {"title": "1号压力机漏油", "number": "WO-1", "level": "2"}
    assert r.title == gettext(TITLES[event_type], locale, **params)
    assert "WO-1" in r.title and "1号压力机漏油" in r.title
    assert r.link == "/workorders/41" and r.level == "P1"
    assert gettext("Time: %(value)s", locale, value="2026-11-28 14:00 (CST)") in r.body.splitlines()
    assert gettext("Due: %(value)s", locale, value="2026-11-28 16:00 (CST)") in r.body.splitlines()
    assert gettext("Equipment: %(value)s", locale, value="EQ-1 1号压力机") in r.body.splitlines()


def test_english_recipient_and_utc_timezone() -> None:
    r = render("alarm.raised", {"alarm_id": 5, "severity": "critical", "title": "Gas"}, AT, locale="en", tz="UTC")
    assert r.title == "Alarm: Gas" and r.link == "/alarms/5"
    assert r.body.splitlines() == ["Severity: Critical", "Time: 2026-11-28 06:00 (UTC)"]


def test_workorder_events_target_assignee_and_team_leader(db) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_tenant

    t = make_tenant(db.factory, "W1")
    leader = give_person(db.factory, t, "team_leader", "l@x.cn", leader=True)
    worker = user_id(db.factory, t.users["worker"])
    consumer = NotificationConsumer()
    consume(db.factory, consumer, wo_env(t, "workorder.created"))
    consume(db.factory, consumer, wo_env(t, "workorder.dispatched", assignee_user_id=worker))
    admin = user_id(db.factory, t.users["admin"])
    consume(db.factory, consumer, wo_env(t, "workorder.escalated", assignee_user_id=worker, level=1,
                                         reason="unacknowledged", target_user_ids=[admin]))
    got = sorted((r.event_type, r.user_id) for r in rows(db.factory, channel_kind="inapp"))
    sm = user_id(db.factory, t.users["safety_manager"])
    assert got == sorted([("workorder.created", leader), ("workorder.dispatched", worker),
                          ("workorder.escalated", leader), ("workorder.escalated", sm),
                          ("workorder.escalated", admin)])
