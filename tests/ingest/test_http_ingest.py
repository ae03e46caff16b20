"""Devices through the API, and readings pushed over HTTP with a per-device token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from plantguard.api.app import create_app
from plantguard.api.runtime import Runtime
from plantguard.core.settings import Settings
from plantguard.ingest.models import QuarantinedInput
from plantguard.timeseries.models import ReadingRow
from tests.api.conftest import Env
from tests.conftest import Db
from tests.factories import make_tenant


@pytest.fixture
def ingest_env(db: Db, tmp_path: Path) -> Iterator[Env]:
    t1, t2 = make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")
    settings = Settings(database_url=db.url, bus_url="inprocess://", var_dir=tmp_path, ingest=True)
    rt = Runtime(settings, db.engine, db.factory, db.read_factory)
    with TestClient(create_app(settings, runtime=rt)) as client:
        yield Env(db, client, t1, t2, {})


def _http_device(env: Env, code: str = "GW-1", points: list[dict[str, str]] | None = None) -> tuple[int, str]:
    h = env.as_role("safety_manager")
    r = env.client.post("/api/v1/devices", headers=h, json={"code": code, "protocol": "http", "name": "网关",
                                                             "points": points or []})
    assert r.status_code == 201, r.text
    dev = r.json()["id"]
    tok = env.client.post(f"/api/v1/devices/{dev}/token", headers=h)
    assert tok.status_code == 200, tok.text
    return dev, tok.json()["token"]


def _stored(db: Db) -> int:
    with db.factory() as s:
        return int(s.scalar(select(func.count()).select_from(ReadingRow)) or 0)


def _wait_stored(db: Db, n: int) -> None:
    for _ in range(100):
        if _stored(db) >= n:
            return
        time.sleep(0.05)
    assert _stored(db) == n


def test_json_and_csv_batches_are_stored(ingest_env: Env) -> None:
    env = ingest_env
    _, token = _http_device(env)
    auth = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"readings": [{"point": "EQ-1-HP", "ts": (now - timedelta(seconds=i)).isoformat(), "value": 20 + i}
                         for i in range(5)]}
    r = env.client.post("/api/v1/ingest", headers=auth, json=body)
    assert r.status_code == 200 and r.json()["accepted"] == 5, r.text
    epoch = int((now - timedelta(minutes=1)).timestamp() * 1000)
    csv = f"point;ts;value;quality\nEQ-1-HP;{epoch};21.5;good\nEQ-1-HP;{epoch + 1000};abc;good\nNOPE;{epoch};1;good\n"
    r = env.client.post("/api/v1/ingest", headers={**auth, "Content-Type": "text/csv"}, content=csv)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1 and out["refused"] == 2
    assert {(e["line"], e["reason"]) for e in out["errors"]} == {(3, "wrong_type"), (4, "unknown_point")}
    _wait_stored(env.db, 6)


def test_a_token_writes_only_its_own_enterprise(ingest_env: Env) -> None:
    env = ingest_env
    _, token = _http_device(env)
    r = env.client.post("/api/v1/ingest", headers={"X-Device-Token": token},
                        json=[{"point": "EQ-1-HP", "value": 1.0}])
    assert r.json()["accepted"] == 1
    # E2 has a point with the same code; E1's token cannot reach it, and E2's own device can.
    h2 = env.as_role("admin", env.t2)
    dev2 = env.client.post("/api/v1/devices", headers=h2, json={"code": "GW-1", "protocol": "http"}).json()["id"]
    tok2 = env.client.post(f"/api/v1/devices/{dev2}/token", headers=h2).json()["token"]
    r = env.client.post("/api/v1/ingest", headers={"X-Device-Token": tok2}, json=[{"point": "EQ-1-HP", "value": 2}])
    assert r.json()["accepted"] == 1
    _wait_stored(env.db, 2)
    with env.db.factory() as s:
        ids = set(s.scalars(select(ReadingRow.point_id)))
    assert ids == {env.t1.point_id, env.t2.point_id}


def test_bad_requests_are_clear_errors(ingest_env: Env) -> None:
    env = ingest_env
    _, token = _http_device(env, points=[{"point": "EQ-1-HP"}])
    auth = {"Authorization": f"Bearer {token}"}
    assert env.client.post("/api/v1/ingest", json=[]).status_code == 401
    assert env.client.post("/api/v1/ingest", headers={"Authorization": "Bearer wrong"}, json=[]).status_code == 401
    r = env.client.post("/api/v1/ingest", headers={**auth, "Content-Type": "application/json"}, content=b"{nope")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    r = env.client.post("/api/v1/ingest", headers={**auth, "Content-Type": "text/csv"}, content="a,b\n1,2\n")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "header"
    r = env.client.post("/api/v1/ingest", headers=auth, json=[{"point": "EQ-1-HP", "value": 999}])  # out of range
    assert r.status_code == 422 and r.json()["refused"] == 1
    deadline = time.monotonic() + 5  # the quarantine is flushed about once a second
    while True:
        with env.db.factory() as s:
            reasons = set(s.scalars(select(QuarantinedInput.reason)))
        if "out_of_range" in reasons or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert "out_of_range" in reasons


def test_device_config_is_validated_against_its_protocol(ingest_env: Env) -> None:
    env = ingest_env
    h = env.as_role("safety_manager")
    r = env.client.post("/api/v1/devices", headers=h, json={
        "code": "PLC-1", "protocol": "modbus", "connection": {"port": 502},
        "points": [{"point": "EQ-1-HP", "address": 0, "type": "float33"}, {"point": "NOPE", "address": 2}]})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"connection.host", "points.0.type", "points.1.point"} <= fields
    r = env.client.post("/api/v1/devices", headers=h, json={"code": "X", "protocol": "carrier-pigeon"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "protocol"
    assert env.client.post("/api/v1/devices", headers=env.as_role("worker"),
                           json={"code": "X", "protocol": "http"}).status_code == 403


def test_yaml_import_is_all_or_nothing_and_idempotent(ingest_env: Env) -> None:
    env = ingest_env
    h = {**env.as_role("admin"), "Content-Type": "application/yaml"}
    good = """
devices:
  - code: PLC-ST
    name: 冲压 PLC
    protocol: modbus
    connection: {host: 127.0.0.1, port: 5020}
    points:
      - {point: EQ-1-HP, table: holding, address: 0, type: float32}
"""
    r = env.client.post("/api/v1/devices-import", headers=h, content=good.encode())
    assert r.status_code == 200 and r.json()["created"] == ["PLC-ST"], r.text
    r = env.client.post("/api/v1/devices-import", headers=h, content=good.encode())
    assert r.json()["unchanged"] == ["PLC-ST"]
    bad = good + ("  - code: BAD\n    protocol: modbus\n    connection: {host: h}\n"
                  "    points: [{point: EQ-1-HP, address: -1}]\n")
    r = env.client.post("/api/v1/devices-import", headers=h, content=bad.replace("port: 5020", "port: 5021").encode())
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"devices.1.points.0.address"}
    exported = env.client.get("/api/v1/devices-export", headers=h).text
    assert "port: 5020" in exported and "BAD" not in exported  # nothing of the refused file was kept
    assert env.client.post("/api/v1/devices-import", headers=h, content=b"devices: [").status_code == 422


