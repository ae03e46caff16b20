"""/api/v1/detection-rules: CRUD, refusals naming their field in either language, tenancy,
validate and backtest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from plantguard.assets.models import MeasurementPoint
from plantguard.audit.models import AuditEntry
from plantguard.core.i18n import gettext
from plantguard.detection import registry
from plantguard.ingest.reading import ReadingBatch, to_us
from plantguard.timeseries.store import write_batch
from tests.api.conftest import Env

URL = "/api/v1/detection-rules"


def leaf(limit: float = 28.0, **kw: Any) -> dict[str, Any]:
    return {"detector": "threshold", "params": {"conditions": [{"signal": "value", "limit": limit}]}, **kw}


def body(env: Env, **kw: Any) -> dict[str, Any]:
    return {"name": "HP high", "point_id": env.t1.point_id, "severity": "major", "condition": leaf(), **kw}


def errors(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {e["field"]: e["message"] for e in r.json()["errors"]}


def test_crud_and_audit(env: Env) -> None:
    h = env.as_role("safety_manager")
    r = env.client.post(URL, json=body(env), headers=h)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["severity"] == "major" and rule["point_id"] == env.t1.point_id and rule["enabled"] is True
    rid = rule["id"]
    r = env.client.patch(f"{URL}/{rid}", json={"condition": leaf(30.0, duration_s=60), "enabled": False}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["condition"]["duration_s"] == 60
    listed = env.client.get(URL, params={"enabled": "false"}, headers=h).json()
    assert [i["id"] for i in listed["items"]] == [rid]
    assert env.client.get(URL, params={"enabled": "true"}, headers=h).json()["total"] == 0
    assert env.client.get(URL, params={"q": "HP"}, headers=h).json()["total"] == 1
    assert env.client.get(URL, params={"severity": "critical"}, headers=h).json()["total"] == 0
    with env.db.factory() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "detection_rule")))
    assert sorted(actions) == ["create", "update"]
    assert env.client.delete(f"{URL}/{rid}", headers=h).status_code == 204
    assert env.client.get(f"{URL}/{rid}", headers=h).status_code == 404


def test_other_tenants_rules_are_not_found(env: Env) -> None:
    rid = env.client.post(URL, json=body(env), headers=env.as_role("admin")).json()["id"]
    other = env.as_role("admin", env.t2)
    assert env.client.get(f"{URL}/{rid}", headers=other).status_code == 404
    assert env.client.patch(f"{URL}/{rid}", json={"enabled": False}, headers=other).status_code == 404
    assert env.client.post(f"{URL}/{rid}/backtest", headers=other).status_code == 404
    assert env.client.delete(f"{URL}/{rid}", headers=other).status_code == 404
    assert env.client.get(URL, headers=other).json()["total"] == 0
    # nor may a rule name another tenant's point
    r = env.client.post(URL, json=body(env, point_id=env.t2.point_id), headers=env.as_role("admin"))
    assert list(errors(r)) == ["point_id"]


def test_roles(env: Env) -> None:
    for role in ("team_leader", "worker", "auditor"):
        r = env.client.post(URL, json=body(env), headers=env.as_role(role))
        assert r.status_code == 403, role
    assert env.client.get(URL, headers=env.as_role("worker")).status_code == 200


def test_refusals_name_the_field_path(env: Env) -> None:
    h = env.as_role("admin")
    cond = {"any": [leaf(), {"detector": "magic"}, leaf(99.0), {"detector": "robust_z", "params": {"window": 1}},
                    leaf(points=["NOPE"]), leaf(duration_s=-5)]}
    got = errors(env.client.post(URL, json=body(env, condition=cond), headers=h))
    assert set(got) == {"condition.any.1.detector", "condition.any.2.params.conditions.0.limit",
                        "condition.any.3.params.window", "condition.any.4.points.0", "condition.any.5.duration_s"}
    assert "threshold" in got["condition.any.1.detector"] and "trend" in got["condition.any.1.detector"]
    assert "EQ-1-HP" in got["condition.any.2.params.conditions.0.limit"]
    assert got["condition.any.3.params.window"] == "Must be at least 3"
    assert got["condition.any.5.duration_s"] == "Must be at least 0.0"
    # scope
    got = errors(env.client.post(URL, json=body(env, equipment_id=env.t1.equipment_id), headers=h))
    assert list(got) == ["point_id"]
    got = errors(env.client.post(URL, json={**body(env), "condition": []}, headers=h))
    assert list(got) == ["condition"]
    got = errors(env.client.post(URL, json=body(env, severity="apocalyptic"), headers=h))
    assert list(got) == ["severity"]


def test_refusals_in_chinese(env: Env) -> None:
    h = env.as_role("admin", lang="zh-CN")
    got = errors(env.client.post(URL, json=body(env, condition=leaf(duration_s=-5)), headers=h))
    assert got == {"condition.duration_s": gettext("Must be at least %(ge)s", "zh_CN") % {"ge": 0.0}}
    assert got["condition.duration_s"] != "Must be at least 0.0"  # this catalogue id is translated already
    r = env.client.post(URL, json=body(env, condition={"detector": "magic"}), headers=h)
    msg = errors(r)["condition.detector"]
    known = ", ".join(sorted(registry.available()))
    assert msg == gettext("Unknown detector %(name)s; known: %(known)s", "zh_CN") % {"name": "magic", "known": known}
    en = errors(env.client.post(URL, json=body(env, condition={"detector": "magic"}), headers=env.as_role("admin")))
    assert en["condition.detector"].startswith("Unknown detector magic; known: ")


def test_equipment_rule_with_overrides(env: Env) -> None:
    with env.db.factory() as s:
        s.add(MeasurementPoint(enterprise_id=env.t1.enterprise_id, equipment_id=env.t1.equipment_id, code="EQ-1-T",
                               name="油温", unit="°C", range_low=0, range_high=120))
        s.commit()
    h = env.as_role("admin")
    ok = body(env, point_id=None, equipment_id=env.t1.equipment_id, condition=leaf(25.0),
              overrides={"EQ-1-T": {"params": {"conditions": [{"signal": "value", "limit": 80}]}, "duration_s": 30}})
    r = env.client.post(URL, json=ok, headers=h)
    assert r.status_code == 201, r.text
    too_high = {"params": {"conditions": [{"signal": "value", "limit": 500}]}}
    bad = {**ok, "name": "other", "overrides": {"EQ-1-T": too_high, "NOPE": {"threshold": 0.7}}}
    got = errors(env.client.post(URL, json=bad, headers=h))
    assert set(got) == {"overrides.NOPE"}  # the condition is not planned while its overrides are wrong
    bad["overrides"].pop("NOPE")
    got = errors(env.client.post(URL, json=bad, headers=h))
    assert list(got) == ["overrides.EQ-1-T.params.conditions.0.limit"] and "120" in got[
        "overrides.EQ-1-T.params.conditions.0.limit"]


def test_validate_endpoint(env: Env) -> None:
    h = env.as_role("admin")
    r = env.client.post(f"{URL}/validate", json=body(env, condition={"all": [leaf(), leaf(20.0)]}), headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["valid"] is True
    assert [(x["path"], x["points"]) for x in out["leaves"]] == [("condition.all.0", ["EQ-1-HP"]),
                                                                 ("condition.all.1", ["EQ-1-HP"])]
    got = errors(env.client.post(f"{URL}/validate", json=body(env, condition={"all": [leaf(), {}]}), headers=h))
    assert list(got) == ["condition.all.1.detector"]
    assert env.client.post(f"{URL}/validate", json=body(env), headers=env.as_role("worker")).status_code == 403


def test_backtest_over_stored_history(env: Env) -> None:
    h = env.as_role("admin")
    rid = env.client.post(URL, json=body(env, condition=leaf(28.0, duration_s=30)), headers=h).json()["id"]
    now = datetime.now(UTC).replace(microsecond=0)
    b = ReadingBatch(env.t1.enterprise_id)
    start = now - timedelta(hours=2)
    for i in range(720):  # 2 h every 10 s; above the limit from minute 30 to minute 40
        t = start + timedelta(seconds=10 * i)
        b.append(env.t1.point_id, to_us(t), 30.0 if 180 <= i < 240 else 20.0)
    write_batch(env.db.engine, b)
    r = env.client.post(f"{URL}/{rid}/backtest", params={"hours": 3}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["readings"] == 720 and not out["truncated"]
    assert len(out["alarms"]) == 1
    span = out["alarms"][0]
    assert datetime.fromisoformat(span["start"]) == start + timedelta(seconds=1800 + 30)
    assert datetime.fromisoformat(span["end"]) == start + timedelta(seconds=2400)
    assert out["series"][0]["code"] == "EQ-1-HP" and len(out["series"][0]["ts"]) == 720
    assert errors(env.client.post(f"{URL}/{rid}/backtest", params={"hours": 1000}, headers=h))
