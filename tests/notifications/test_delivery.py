"""Events → rows → channels, on SQLite and PostgreSQL, with real local receivers: retries,
dead letter, quiet hours, throttling, preferences, targeting and tenancy."""

from __future__ import annotations

from datetime import timedelta

from plantguard.notifications import service
from plantguard.notifications.consumer import NotificationConsumer
from plantguard.notifications.dispatcher import Dispatcher
from plantguard.notifications.policy import Throttle
from tests.conftest import Db
from tests.factories import make_tenant
from tests.notifications.conftest import Clock, Mailbox, Receiver
from tests.notifications.helpers import actor_of, add_channel, alarm_env, consume, give_person, rows, set_pref, user_id


def test_receiver_down_for_a_while_loses_nothing(db: Db, receiver: Receiver, clock: Clock) -> None:
    t = make_tenant(db.factory, "N1")
    add_channel(db.factory, t, "wecom", {"url": receiver.url + "/wecom"})
    consumer = NotificationConsumer(clock=clock)
    disp = Dispatcher(db.factory, clock=clock, base_delay_s=1, max_delay_s=30, base_url="http://pg.local")
    receiver.fail_next = 4
    for i in range(3):
        assert consume(db.factory, consumer, alarm_env(t, alarm_id=100 + i))
    # Redelivery of the same event by the bus adds nothing.
    env = alarm_env(t, alarm_id=200)
    assert consume(db.factory, consumer, env) and not consume(db.factory, consumer, env)
    for _ in range(30):
        disp.run_once()
        clock.advance(5)
    titles = [h.body["markdown"]["content"] for h in receiver.hits]
    assert len(receiver.hits) == 4 and receiver.refused == 4
    assert sorted(c.split("/alarms/")[1].rstrip(")") for c in titles) == ["100", "101", "102", "200"]
    sent = rows(db.factory, channel_kind="wecom")
    assert {r.status for r in sent} == {"sent"} and max(r.attempts for r in sent) >= 2
    assert all(r.last_error == "" for r in sent)


def test_dead_letter_after_max_attempts_then_retry(db: Db, receiver: Receiver, clock: Clock) -> None:
    t = make_tenant(db.factory, "N2")
    add_channel(db.factory, t, "dingtalk", {"url": receiver.url + "/robot/send?access_token=x"}, secret="SECx")
    consumer = NotificationConsumer(clock=clock)
    disp = Dispatcher(db.factory, clock=clock, max_attempts=3, base_delay_s=1, base_url="")
    receiver.fail_next = 100
    consume(db.factory, consumer, alarm_env(t))
    for _ in range(10):
        disp.run_once()
        clock.advance(10)
    (row,) = rows(db.factory, channel_kind="dingtalk")
    assert row.status == "dead" and row.attempts == 3 and row.last_error == "HTTP 503"
    assert "SECx" not in row.last_error and "access_token" not in row.last_error
    receiver.fail_next = 0
    with db.factory() as s:
        service.retry_dead(s, actor_of(db, t, "safety_manager"), row.id, now=clock())
        s.commit()
    disp.run_once()
    assert len(receiver.hits) == 1 and rows(db.factory, channel_kind="dingtalk")[0].status == "sent"


def test_max_age_moves_to_dead_letter(db: Db, receiver: Receiver, clock: Clock) -> None:
    t = make_tenant(db.factory, "N3")
    add_channel(db.factory, t, "feishu", {"url": receiver.url})
    consume(db.factory, NotificationConsumer(clock=clock), alarm_env(t))
    disp = Dispatcher(db.factory, clock=clock, max_attempts=100, max_age=timedelta(minutes=5), base_delay_s=60)
    receiver.fail_next = 100
    for _ in range(10):
        disp.run_once()
        clock.advance(120)
    (row,) = rows(db.factory, channel_kind="feishu")
    assert row.status == "dead" and row.attempts < 100


def test_role_targeting_email_and_notify_false(db: Db, smtp: Mailbox, clock: Clock) -> None:
    t = make_tenant(db.factory, "N4")
    sm = give_person(db.factory, t, "safety_manager", "anquan@plant.example")
    leader = give_person(db.factory, t, "team_leader", "banzhang@plant.example", leader=True)
    add_channel(db.factory, t, "email", {"host": smtp.host, "port": smtp.port, "security": "none",
                                         "sender": "pg@plant.example"})
    consumer = NotificationConsumer(clock=clock)
    consume(db.factory, consumer, alarm_env(t, severity="minor", alarm_id=1))
    consume(db.factory, consumer, alarm_env(t, severity="major", alarm_id=2))
    consume(db.factory, consumer, alarm_env(t, severity="critical", alarm_id=3, notify=False))
    inapp = rows(db.factory, channel_kind="inapp")
    # Defaults: every alarm to safety managers and the area's team leader in-app; major also by email.
    assert sorted((r.user_id, r.link) for r in inapp) == sorted(
        [(sm, "/alarms/1"), (leader, "/alarms/1"), (sm, "/alarms/2"), (leader, "/alarms/2")])
    worker = user_id(db.factory, t.users["worker"])
    assert worker not in {r.user_id for r in inapp}
    Dispatcher(db.factory, clock=clock).run_once()
    assert [(m[1], "/alarms/2" in m[2].get_content()) for m in smtp.messages] == [(["anquan@plant.example"], True)]


def test_quiet_hours_hold_until_morning_and_critical_bypasses(db: Db, smtp: Mailbox, clock: Clock) -> None:
    t = make_tenant(db.factory, "N5")
    sm = give_person(db.factory, t, "safety_manager", "q@plant.example")
    add_channel(db.factory, t, "email", {"host": smtp.host, "port": smtp.port, "security": "none",
                                         "sender": "pg@plant.example"})
    set_pref(db.factory, t, sm, quiet_start="22:00", quiet_end="07:00", timezone="Asia/Shanghai")
    clock.now = clock.now.replace(hour=15, minute=30)  # 23:30 in Shanghai
    consumer = NotificationConsumer(clock=clock)
    consume(db.factory, consumer, alarm_env(t, severity="major", alarm_id=1))
    consume(db.factory, consumer, alarm_env(t, severity="critical", alarm_id=2))
    disp = Dispatcher(db.factory, clock=clock)
    disp.run_once()
    assert len(smtp.messages) == 1 and "/alarms/2" in smtp.messages[0][2].get_content()
    held = [r for r in rows(db.factory, channel_kind="email") if r.status == "pending"]
    assert len(held) == 1 and held[0].held_until is not None
    assert held[0].held_until.hour == 23 and held[0].held_until.minute == 0  # 07:00 Shanghai = 23:00 UTC
    clock.advance(7 * 3600)  # 06:30 Shanghai: still quiet
    disp.run_once()
    assert len(smtp.messages) == 1
    clock.advance(1800)
    disp.run_once()
    assert len(smtp.messages) == 2
    # the in-app feed item was not held
    assert len([r for r in rows(db.factory, channel_kind="inapp", user_id=sm)]) == 2


def test_throttle_folds_into_one_digest(db: Db, receiver: Receiver, clock: Clock) -> None:
    t = make_tenant(db.factory, "N6")
    add_channel(db.factory, t, "wecom", {"url": receiver.url})
    throttle = Throttle(3, timedelta(minutes=10))
    consumer = NotificationConsumer(clock=clock, throttle=throttle)
    disp = Dispatcher(db.factory, clock=clock, throttle=throttle, base_url="")
    for i in range(7):
        consume(db.factory, consumer, alarm_env(t, alarm_id=i + 1))
        clock.advance(10)
    consume(db.factory, consumer, alarm_env(t, alarm_id=99, severity="critical"))  # urgent: never folded
    disp.run_once()
    assert len(receiver.hits) == 4
    clock.advance(600)
    disp.run_once()
    assert len(receiver.hits) == 5
    digest = receiver.hits[-1].body["markdown"]["content"]
    assert "4" in digest.splitlines()[0] and digest.count("\n- ") + digest.startswith("- ") >= 3
    assert {r.status for r in rows(db.factory, channel_kind="wecom")} == {"sent", "folded"}


def test_preferences_mute_a_channel_per_event(db: Db, clock: Clock) -> None:
    t = make_tenant(db.factory, "N7")
    sm = give_person(db.factory, t, "safety_manager", "m@plant.example")
    add_channel(db.factory, t, "email", {"host": "127.0.0.1", "port": 1, "security": "none", "sender": "a@b.c"})
    set_pref(db.factory, t, sm, muted={"alarm.raised": ["email"]})
    consume(db.factory, NotificationConsumer(clock=clock), alarm_env(t, severity="critical"))
    assert [r.channel_kind for r in rows(db.factory, user_id=sm)] == ["inapp"]


def test_tenancy_events_never_cross(db: Db, receiver: Receiver, clock: Clock) -> None:
    t1 = make_tenant(db.factory, "TA")
    t2 = make_tenant(db.factory, "TB")
    add_channel(db.factory, t2, "wecom", {"url": receiver.url + "/t2"})
    consumer = NotificationConsumer(clock=clock)
    # t1's event naming t2's user as assignee and t2's team reaches nobody of t2.
    t2_worker = user_id(db.factory, t2.users["worker"])
    from tests.notifications.helpers import wo_env

    consume(db.factory, consumer, wo_env(t1, "workorder.dispatched", assignee_user_id=t2_worker, team_id=t2.team_id))
    consume(db.factory, consumer, alarm_env(t1, severity="critical"))
    Dispatcher(db.factory, clock=clock).run_once()
    assert receiver.hits == []
    t2_users = {user_id(db.factory, u) for u in t2.users.values()}
    assert all(r.enterprise_id == t1.enterprise_id and r.user_id not in t2_users for r in rows(db.factory))
    assert rows(db.factory)  # t1's own safety manager got the alarm
