"""The HTTP API: my feed and read marks, my preferences (own row only), channels with masked
secrets, rules, the dead letter with retry; 422 naming the field; tenancy."""

from __future__ import annotations

from sqlalchemy import select

from plantguard.notifications.consumer import NotificationConsumer
from plantguard.notifications.models import NotificationPreference
from plantguard.tenancy.models import User
from tests.api.conftest import Env, env  # noqa: F401  (the shared fixture)
from tests.notifications.helpers import add_channel, alarm_env, consume, rows


def test_feed_unread_and_mark_read(env: Env) -> None:  # noqa: F811
    consumer = NotificationConsumer()
    for i in range(3):
        consume(env.db.factory, consumer, alarm_env(env.t1, alarm_id=i + 1))
    consume(env.db.factory, consumer, alarm_env(env.t2, alarm_id=50))
    h = env.as_role("safety_manager")
    r = env.client.get("/api/v1/me/notifications", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and body["unread"] == 3
    assert [i["link"] for i in body["items"]] == ["/alarms/3", "/alarms/2", "/alarms/1"]
    first = body["items"][0]["id"]
    r = env.client.post(f"/api/v1/me/notifications/{first}/read", headers=h)
    assert r.status_code == 200 and r.json()["read_at"]
    assert env.client.get("/api/v1/me/notifications?unread=true", headers=h).json()["total"] == 2
    # someone else's item (another user, another enterprise) is 404
    other = next(n.id for n in rows(env.db.factory) if n.enterprise_id == env.t2.enterprise_id)
    assert env.client.post(f"/api/v1/me/notifications/{other}/read", headers=h).status_code == 404
    assert env.client.post("/api/v1/me/notifications/read-all", headers=h).json() == {"marked": 2}
    assert env.client.get("/api/v1/me/notifications", headers=env.as_role("worker")).json()["total"] == 0


def test_preferences_own_row_and_field_errors(env: Env) -> None:  # noqa: F811
    h = env.as_role("worker")
    r = env.client.get("/api/v1/me/notification-preferences", headers=h)
    assert r.status_code == 200 and r.json()["timezone"] == "Asia/Shanghai"
    assert "workorder.dispatched" in r.json()["event_types"]
    body = {"timezone": "Europe/Berlin", "quiet_start": "22:00", "quiet_end": "07:00",
            "muted": {"workorder.updated": ["inapp"]}}
    r = env.client.put("/api/v1/me/notification-preferences", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["quiet_start"] == "22:00" and r.json()["muted"] == {"workorder.updated": ["inapp"]}
    with env.db.factory() as s:
        prefs = s.scalars(select(NotificationPreference)).all()
        worker_id = s.scalars(select(User.id).where(User.username == env.t1.users["worker"])).one()
    assert [(p.user_id, p.timezone) for p in prefs] == [(worker_id, "Europe/Berlin")]
    assert env.client.get("/api/v1/me/notification-preferences",
                          headers=env.as_role("auditor")).json()["timezone"] == "Asia/Shanghai"
    bad = env.client.put("/api/v1/me/notification-preferences", headers=h,
                         json={"timezone": "Mars/Base", "quiet_start": "25:99", "quiet_end": "7",
                               "muted": {"nope.event": ["inapp"]}})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"timezone", "quiet_start", "quiet_end", "muted.nope.event"} <= fields
    bad = env.client.put("/api/v1/me/notification-preferences", headers=h, json={"muted": {"*": ["sms"]}})
    assert bad.status_code == 422 and "muted" in bad.json()["errors"][0]["field"]


def test_channels_secret_masked_and_manage_permission(env: Env) -> None:  # noqa: F811
    h = env.as_role("safety_manager")
    body = {"kind": "dingtalk", "name": "冲压车间群", "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
            "secret": "SECtopsecret", "at_mobiles": ["13800000000"]}
    r = env.client.post("/api/v1/notification-channels", json=body, headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["secret"] == "********" and "SECtopsecret" not in r.text
    cid = out["id"]
    r = env.client.put(f"/api/v1/notification-channels/{cid}", json={**body, "secret": None, "enabled": False},
                       headers=h)
    assert r.status_code == 200 and r.json()["enabled"] is False
    with env.db.factory() as s:
        from plantguard.notifications.models import NotificationChannel

        assert s.get_one(NotificationChannel, cid).secret == "SECtopsecret"  # kept
    listed = env.client.get("/api/v1/notification-channels", headers=h)
    assert "SECtopsecret" not in listed.text and len(listed.json()) == 1
    audit = env.client.get("/api/v1/audit", headers=env.as_role("admin"))
    assert "SECtopsecret" not in audit.text
    assert env.client.get("/api/v1/notification-channels", headers=env.as_role("worker")).status_code == 403
    assert env.client.post("/api/v1/notification-channels", json=body,
                           headers=env.as_role("team_leader")).status_code == 403
    bad = env.client.post("/api/v1/notification-channels", headers=h,
                          json={"kind": "email", "name": "mail", "sender": "nobody"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"host", "sender"}
    # another enterprise's channel is 404
    assert env.client.put(f"/api/v1/notification-channels/{cid}", json=body,
                          headers=env.as_role("safety_manager", env.t2)).status_code == 404


def test_rules_replace_and_validate(env: Env) -> None:  # noqa: F811
    h = env.as_role("admin")
    r = env.client.get("/api/v1/notification-rules", headers=h)
    assert r.status_code == 200 and r.json()["defaults"] is True
    rules = {"rules": [{"name": "all alarms to workers", "event": "alarm.*", "roles": ["worker"],
                        "channels": ["inapp"]}]}
    r = env.client.put("/api/v1/notification-rules", json=rules, headers=h)
    assert r.status_code == 200 and r.json()["defaults"] is False
    consume(env.db.factory, NotificationConsumer(), alarm_env(env.t1))
    worker = env.client.get("/api/v1/me/notifications", headers=env.as_role("worker")).json()
    assert worker["total"] == 1
    assert env.client.get("/api/v1/me/notifications", headers=env.as_role("safety_manager")).json()["total"] == 0
    bad = env.client.put("/api/v1/notification-rules", headers=h, json={"rules": [
        {"event": "alarm.exploded", "roles": ["pope"], "group_channel_ids": [999]}]})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"rules.0.event", "rules.0.roles.0",
                                                          "rules.0.group_channel_ids.0"}


def test_dead_letter_api_and_retry(env: Env) -> None:  # noqa: F811
    add_channel(env.db.factory, env.t1, "wecom", {"url": "http://127.0.0.1:1/x"})
    consume(env.db.factory, NotificationConsumer(), alarm_env(env.t1))
    from plantguard.notifications.dispatcher import Dispatcher

    Dispatcher(env.db.factory, max_attempts=1).run_once()
    h = env.as_role("safety_manager")
    r = env.client.get("/api/v1/notifications/dead-letter", headers=h)
    assert r.status_code == 200 and r.json()["total"] == 1
    item = r.json()["items"][0]
    assert item["channel_kind"] == "wecom" and item["last_error"].startswith("network")
    assert env.client.get("/api/v1/notifications/dead-letter",
                          headers=env.as_role("safety_manager", env.t2)).json()["total"] == 0
    assert env.client.get("/api/v1/notifications/dead-letter", headers=env.as_role("worker")).status_code == 403
    assert env.client.post(f"/api/v1/notifications/dead-letter/{item['id']}/retry",
                           headers=env.as_role("admin", env.t2)).status_code == 404
    r = env.client.post(f"/api/v1/notifications/dead-letter/{item['id']}/retry", headers=h)
    assert r.status_code == 200 and r.json()["attempts"] == 0
    assert env.client.get("/api/v1/notifications/dead-letter", headers=h).json()["total"] == 0
