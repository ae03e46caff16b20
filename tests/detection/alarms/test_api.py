"""The alarm API over HTTP: lists and filters, actions with roles and tenancy, 422 naming the
field, silences, policies, analytics on a known set, and the edge uplink with a device token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from plantguard.core.i18n import gettext
from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.alarms.models import Alarm
from plantguard.detection.signals import ConditionSignal, Severity
from plantguard.ingest.config import token_digest
from plantguard.ingest.models import Device
from tests.api.conftest import Env, env  # noqa: F401  (the shared fixture)

NOW = datetime.now(UTC).replace(microsecond=0)


def raise_alarm(e: Env, source: str = "rule:1", *, tenant: Any = None, at: datetime | None = None,
                severity: Severity = Severity.MAJOR, kind: str = "threshold", equipment: bool = True) -> int:
    t = tenant or e.t1
    sig = ConditionSignal(enterprise_id=t.enterprise_id, source=source, kind=kind, active=True, ts=at or NOW,
                          severity=severity, equipment_id=t.equipment_id if equipment else None,
                          point_id=t.point_id if equipment else None, title=f"alarm {source}",
                          explanation={"predicted_minutes": 7})
    AlarmIntake(e.db.factory).apply([sig])
    with e.db.factory() as s:
        return int(s.scalar(select(Alarm.id).where(Alarm.enterprise_id == t.enterprise_id, Alarm.source == source)
                            .order_by(Alarm.id.desc())) or 0)


def test_list_detail_and_filters(env: Env) -> None:  # noqa: F811
    a1 = raise_alarm(env, "rule:1", severity=Severity.WARNING, at=NOW - timedelta(hours=2))
    a2 = raise_alarm(env, "rule:2", severity=Severity.CRITICAL, at=NOW - timedelta(hours=1))
    raise_alarm(env, "rule:9", tenant=env.t2)
    h = env.as_role("auditor")
    r = env.client.get("/api/v1/alarms", headers=h)
    assert r.status_code == 200 and r.json()["total"] == 2
    assert [a["id"] for a in r.json()["items"]] == [a2, a1]  # newest first
    r = env.client.get("/api/v1/alarms", params={"severity": "critical"}, headers=h)
    assert [a["id"] for a in r.json()["items"]] == [a2]
    r = env.client.get("/api/v1/alarms", params={"from": (NOW - timedelta(minutes=90)).isoformat()}, headers=h)
    assert [a["id"] for a in r.json()["items"]] == [a2]
    r = env.client.get("/api/v1/alarms", params={"status": "active_unack", "equipment_id": env.t1.equipment_id,
                                                 "limit": 1, "offset": 1}, headers=h)
    assert r.json()["total"] == 2 and len(r.json()["items"]) == 1
    d = env.client.get(f"/api/v1/alarms/{a2}", headers=h).json()
    assert d["explanation"]["predicted_minutes"] == 7 and d["history"][0]["kind"] == "raised"
    assert d["status"] == "active_unack"


def test_bad_input_names_the_field(env: Env) -> None:  # noqa: F811
    h = env.as_role("admin")
    r = env.client.get("/api/v1/alarms", params={"severity": "loud"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "severity"
    r = env.client.get("/api/v1/alarms", params={"from": "yesterday"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"
    aid = raise_alarm(env)
    r = env.client.post(f"/api/v1/alarms/{aid}/comment", json={"note": ""}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = env.client.post("/api/v1/alarm-silences", json={"scope": "equipment", "ends_at": "2020-01-01T00:00:00Z"},
                        headers=env.as_role("admin", lang="zh-CN"))
    assert r.status_code == 422
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert set(fields) == {"ends_at", "target_id"}
    assert fields["target_id"] == gettext("This field is required", "zh_CN")
    r = env.client.put("/api/v1/alarm-policies", json={"default": {"throttle_s": -1}}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "default.throttle_s"
    r = env.client.put("/api/v1/alarm-policies", json={"overrides": [{"throttle_s": 5}]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "overrides.0"
    r = env.client.put("/api/v1/alarm-policies", json={"overrides": [{"equipment_id": env.t2.equipment_id}]},
                       headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "overrides.0.equipment_id"


def test_ack_clear_comment_roles_and_tenancy(env: Env) -> None:  # noqa: F811
    aid = raise_alarm(env)
    for role in ("auditor", "contractor"):
        r = env.client.post(f"/api/v1/alarms/{aid}/ack", headers=env.as_role(role))
        assert r.status_code == 403
    # Another enterprise: not found, for reading and for acknowledging.
    assert env.client.get(f"/api/v1/alarms/{aid}", headers=env.as_role("admin", env.t2)).status_code == 404
    assert env.client.post(f"/api/v1/alarms/{aid}/ack", headers=env.as_role("admin", env.t2)).status_code == 404
    r = env.client.post(f"/api/v1/alarms/{aid}/ack", json={"note": "checking"}, headers=env.as_role("worker"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "active_ack" and body["acked_by_name"] == "worker of E1" and body["acked_at"]
    assert env.client.post(f"/api/v1/alarms/{aid}/ack", headers=env.as_role("worker")).status_code == 409
    r = env.client.post(f"/api/v1/alarms/{aid}/comment", json={"note": "seal replaced"},
                        headers=env.as_role("team_leader"))
    assert r.status_code == 201 and r.json()["history"][-1]["note"] == "seal replaced"
    r = env.client.post(f"/api/v1/alarms/{aid}/clear", headers=env.as_role("team_leader"))
    assert r.status_code == 200 and r.json()["status"] == "cleared_ack" and r.json()["clear_reason"] == "manual"
    assert r.json()["cleared_by_name"] == "team_leader of E1"
    kinds = [h["kind"] for h in r.json()["history"]]
    assert kinds == ["raised", "acked", "commented", "cleared"]


def test_silences_and_policies(env: Env) -> None:  # noqa: F811
    h = env.as_role("safety_manager")
    r = env.client.post("/api/v1/alarm-silences", headers=h, json={
        "scope": "equipment", "target_id": env.t1.equipment_id, "reason": "换模",
        "ends_at": (NOW + timedelta(hours=2)).isoformat()})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["in_force"] is True
    aid = raise_alarm(env, at=datetime.now(UTC))
    assert env.client.get(f"/api/v1/alarms/{aid}", headers=h).json()["silenced"] is True
    assert env.client.get("/api/v1/alarm-silences", headers=env.as_role("admin", env.t2)).json() == []
    assert env.client.delete(f"/api/v1/alarm-silences/{sid}", headers=env.as_role("admin", env.t2)).status_code == 404
    r = env.client.delete(f"/api/v1/alarm-silences/{sid}", headers=env.as_role("worker"))
    assert r.status_code == 200 and r.json()["cancelled_at"] and not r.json()["in_force"]
    assert env.client.get("/api/v1/alarm-silences", headers=h).json() == []

    doc = {"default": {"auto_clear_after_s": 600, "throttle_s": 120},
           "overrides": [{"kind": "no_data", "no_data_after_s": 300},
                         {"equipment_id": env.t1.equipment_id, "escalate_after_s": 60}]}
    assert env.client.put("/api/v1/alarm-policies", json=doc, headers=env.as_role("worker")).status_code == 403
    r = env.client.put("/api/v1/alarm-policies", json=doc, headers=h)
    assert r.status_code == 200, r.text
    out = env.client.get("/api/v1/alarm-policies", headers=env.as_role("auditor")).json()
    assert out["default"]["auto_clear_after_s"] == 600 and out["built_in"]["no_data_after_s"] == 900
    assert {(o["kind"], o["equipment_id"]) for o in out["overrides"]} == {("no_data", None),
                                                                          (None, env.t1.equipment_id)}
    r = env.client.put("/api/v1/alarm-policies", json={"default": {"throttle_s": 30}}, headers=h)
    assert r.json()["overrides"] == [] and r.json()["default"]["auto_clear_after_s"] is None
    assert env.client.get("/api/v1/alarm-policies", headers=env.as_role("admin", env.t2)).json()["overrides"] == []


def test_analytics_on_a_known_set(env: Env) -> None:  # noqa: F811
    t0 = NOW - timedelta(days=2)
    ids = [raise_alarm(env, f"rule:{i}", at=t0 + timedelta(hours=i), severity=sev, kind=kind)
           for i, (sev, kind) in enumerate([(Severity.MAJOR, "threshold"), (Severity.MAJOR, "threshold"),
                                            (Severity.WARNING, "trend")])]
    raise_alarm(env, "nodata:1", at=t0, kind="no_data", equipment=False)
    from plantguard.core.permissions import Actor, Role
    from plantguard.detection.alarms import service

    admin = Actor(user_id=0, enterprise_id=env.t1.enterprise_id, role=Role.ADMIN, username="t")
    with env.db.factory() as s:
        # Alarm 0: acknowledged after 10 min, cleared after 30; alarm 1: cleared after 60 min.
        service.acknowledge(s, admin, ids[0], now=t0 + timedelta(minutes=10))
        service.clear(s, admin, ids[0], now=t0 + timedelta(minutes=30))
        service.clear(s, admin, ids[1], now=t0 + timedelta(hours=1, minutes=60))
        service.clear(s, admin, ids[2], now=t0 + timedelta(hours=2, minutes=15))
        s.commit()
    raise_alarm(env, "rule:old", at=NOW - timedelta(days=40))  # outside the period
    r = env.client.get("/api/v1/alarms/analytics", params={"from": (NOW - timedelta(days=7)).isoformat()},
                       headers=env.as_role("auditor"))
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["count"] == 4 and a["acknowledged"] == 1 and a["mtta_s"] == 600
    assert a["mttc_s"] == (1800 + 3600 + 900) / 3
    by_kind = {g["key"]: (g["count"], g["total_s"]) for g in a["by_kind"]}
    assert by_kind["threshold"] == (2, 1800 + 3600) and by_kind["trend"] == (1, 900)
    assert by_kind["no_data"][0] == 1 and by_kind["no_data"][1] >= 2 * 86400 - 5  # still open: until now
    by_sev = {g["key"]: g["count"] for g in a["by_severity"]}
    assert by_sev == {"critical": 0, "major": 3, "minor": 0, "warning": 1}
    by_eq = {g["key"]: g["count"] for g in a["by_equipment"]}
    assert by_eq == {str(env.t1.equipment_id): 3, "": 1}
    r = env.client.get("/api/v1/alarms/analytics", params={"from": NOW.isoformat(),
                                                           "to": (NOW - timedelta(days=1)).isoformat()},
                       headers=env.as_role("auditor"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"


def _edge_device(e: Env, token: str = "pgd_edge-secret") -> None:
    with e.db.factory() as s:
        s.add(Device(enterprise_id=e.t1.enterprise_id, code="EDGE-1", protocol="http", token_hash=token_digest(token)))
        s.commit()


def test_edge_signal_endpoint(env: Env) -> None:  # noqa: F811
    _edge_device(env)
    url = "/api/v1/alarm-signals"
    sig = {"enterprise_id": env.t2.enterprise_id, "source": "rule:leak", "kind": "pca", "active": True,
           "ts": NOW.isoformat(), "severity": "major", "score": 0.9, "equipment_id": env.t1.equipment_id,
           "title": "泄漏", "contributions": [{"point_id": env.t1.point_id, "name": "EQ-1-HP", "value": 3.5}]}
    assert env.client.post(url, json={"signals": [sig]}).status_code == 401
    assert env.client.post(url, json={"signals": [sig]}, headers={"Authorization": "Bearer nope"}).status_code == 401
    h = {"Authorization": "Bearer pgd_edge-secret", "Accept-Language": "en"}
    r = env.client.post(url, json={"signals": [sig]}, headers=h)
    assert r.status_code == 200, r.text
    [aid] = r.json()["alarms"]
    with env.db.factory() as s:
        a = s.get(Alarm, aid)
        assert a is not None
        # The enterprise is the token's, not the body's; the source is in the device's namespace.
        assert a.enterprise_id == env.t1.enterprise_id and a.source == "edge:EDGE-1/rule:leak"
        assert a.explanation["contributions"][0]["value"] == 3.5 and a.explanation["details"]["edge_device"] == "EDGE-1"
    # Idempotent: the same signal again changes nothing; an inactive one ends the condition.
    env.client.post(url, json=[sig], headers=h)
    r = env.client.post(url, json=[{**sig, "active": False, "ts": (NOW + timedelta(seconds=5)).isoformat()}],
                        headers=h)
    assert r.status_code == 200
    with env.db.factory() as s:
        assert s.scalar(select(Alarm.occurrences).where(Alarm.id == aid)) == 1
        assert s.scalar(select(Alarm.condition_ended_at).where(Alarm.id == aid)) is not None
    # Bad input: 422 naming the field; another tenant's equipment is refused.
    r = env.client.post(url, json={"signals": [{**sig, "ts": "soon"}]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "signals.0.ts"
    r = env.client.post(url, json={"signals": [{**sig, "equipment_id": env.t2.equipment_id}]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "signals.0.equipment_id"
    r = env.client.post(url, content=b"{nope", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
