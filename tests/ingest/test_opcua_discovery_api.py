"""OPC UA discovery through the API and the console: browse a real asyncua server, accept
proposals, and find the points, the device and their ledger entries; the role and input
checks that every write endpoint has."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.api.app import create_app
from plantguard.api.runtime import Runtime
from plantguard.audit.models import AuditEntry
from plantguard.core.models import import_all
from plantguard.core.settings import Settings
from plantguard.ingest.config import build_spec
from plantguard.ingest.connector import Rejects
from plantguard.ingest.connectors.opcua import discovery_api, views
from plantguard.ingest.connectors.opcua.connector import OpcUaConnector
from plantguard.ingest.models import Device
from plantguard.ingest.reading import Reading
from tests.api.conftest import Env
from tests.conftest import Db
from tests.factories import make_tenant
from tests.ingest.test_modbus_connector import LoopThread, Rejected, free_port
from tests.ingest.test_opcua_connector import NS_URI, UaPlant
from tests.web.test_pages import csrf_of, login

BROWSE = "/api/v1/ingest/opcua/browse"
ACCEPT = "/api/v1/ingest/opcua/accept"
ROOT = f"nsu={NS_URI};s=Plant"

import_all()


@pytest.fixture(scope="module")
def plant() -> Iterator[UaPlant]:
    loop = LoopThread()
    server = UaPlant(loop)
    server.start()
    yield server
    server.stop()
    loop.stop()


def with_discovery(app: FastAPI) -> FastAPI:
    """The router and the page, unless the application mounts them already."""
    paths = {getattr(r, "path", "") for r in app.routes}
    if BROWSE not in paths:
        app.include_router(discovery_api.router, prefix="/api/v1")
    if views.PATH not in paths:
        views.mount(app)
    return app


def _env(db: Db) -> Iterator[Env]:
    t1, t2 = make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")
    settings = Settings(database_url=db.url, bus_url="inprocess://")
    app = with_discovery(create_app(settings, runtime=Runtime(settings, db.engine, db.factory, db.read_factory),
                                    start_relay=False))
    with TestClient(app) as client:
        yield Env(db, client, t1, t2, {})


@pytest.fixture
def ua_env(db: Db) -> Iterator[Env]:
    yield from _env(db)


@pytest.fixture
def ua_sqlite(sqlite_db: Db) -> Iterator[Env]:
    yield from _env(sqlite_db)


def proposals_by_path(env: Env, plant: UaPlant, role: str = "safety_manager") -> dict[str, dict[str, Any]]:
    r = env.client.post(BROWSE, headers=env.as_role(role), json={"endpoint": plant.endpoint, "root": ROOT})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["truncated"] is False and body["visited"] >= 6
    return {p["browse_path"]: p for p in body["proposals"]}


def test_browse_and_accept_create_points_and_device_in_the_ledger(ua_env: Env, plant: UaPlant) -> None:
    env = ua_env
    h = env.as_role("safety_manager")
    # An existing point whose code a proposal uses: browse marks it, accept can map to it.
    r = env.client.post("/api/v1/points", headers=h, json={"equipment_id": env.t1.equipment_id, "code": "Strokes",
                                                            "name": "冲次", "unit": ""})
    assert r.status_code == 201, r.text
    strokes_id = r.json()["id"]
    found = proposals_by_path(env, plant)
    hp = found["Press01/HydraulicPressure"]
    assert (hp["unit"], hp["range_low"], hp["range_high"], hp["exists"]) == ("MPa", 0.0, 35.0, False)
    assert found["Press01/Strokes"]["exists"] is True
    oil = found["Press01/OilTemperature"]

    r = env.client.post(ACCEPT, headers=h, json={
        "device_code": "UA-PRESS", "device_name": "冲压线 OPC UA", "endpoint": plant.endpoint,
        "equipment_id": env.t1.equipment_id,
        "points": [
            {"node": hp["node"], "code": "PR01-HP", "name": "1号压力机液压", "unit": "MPa", "range_low": 0,
             "range_high": 35},
            {"node": oil["node"], "code": oil["code"], "name": oil["name"], "unit": oil["unit"],
             "range_low": oil["range_low"], "range_high": oil["range_high"]},
            {"node": found["Press01/Strokes"]["node"], "code": "Strokes", "name": "x", "existing": True},
        ]})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["device_created"] is True and out["mapped"] == 3
    assert [p["code"] for p in out["created"]] == ["PR01-HP", "OilTemperature"]
    assert out["linked"] == [{"id": strokes_id, "code": "Strokes"}]

    device = env.client.get(f"/api/v1/devices/{out['device_id']}", headers=h).json()
    assert device["protocol"] == "opcua" and device["name"] == "冲压线 OPC UA"
    assert device["connection"] == {"endpoint": plant.endpoint, "mode": "subscribe"}
    assert device["points"] == [{"point": "PR01-HP", "node": hp["node"]},
                                {"point": "OilTemperature", "node": oil["node"]},
                                {"point": "Strokes", "node": found["Press01/Strokes"]["node"]}]
    pts = env.client.get("/api/v1/points", headers=h, params={"q": "PR01-HP"}).json()["items"]
    assert [(p["name"], p["unit"], p["range_low"], p["range_high"]) for p in pts] == [("1号压力机液压", "MPa", 0, 35)]

    with env.db.factory() as s:
        entries = s.execute(select(AuditEntry.entity_type, AuditEntry.action, AuditEntry.actor_name).where(
            AuditEntry.enterprise_id == env.t1.enterprise_id, AuditEntry.actor_name != "system",
            AuditEntry.entity_type.in_(["device", "measurement_point"])).order_by(AuditEntry.seq)).all()
    # "Strokes" through the points API, then the two accepted points and the device.
    assert [tuple(e) for e in entries] == [("measurement_point", "create", "e1-safety_manager")] * 3 + [
        ("device", "create", "e1-safety_manager")]

    # Accepting more for the same device extends its map and keeps its other settings.
    press2 = found["Press02/HydraulicPressure"]
    r = env.client.post(ACCEPT, headers=h, json={
        "device_code": "UA-PRESS", "endpoint": plant.endpoint, "mode": "poll", "equipment_id": env.t1.equipment_id,
        "points": [{"node": press2["node"], "code": press2["code"], "name": press2["name"]}]})
    assert r.status_code == 201, r.text
    assert (r.json()["device_created"], r.json()["mapped"]) == (False, 4)

    # The stored device runs: its connector reads the accepted nodes.
    with env.db.factory() as s:
        spec = build_spec(s, s.get(Device, out["device_id"]))
    connector = OpcUaConnector(spec, Rejects(Rejected()))
    got: list[Reading] = []

    async def read_once() -> None:
        async def emit(batch: Any) -> None:
            got.extend(batch)

        await connector.connect()
        task = asyncio.create_task(connector.run(emit))
        try:
            for _ in range(100):
                if len({r.point_id for r in got}) == 4:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await connector.close()

    asyncio.run(read_once())
    values = {r.point_id: r.value for r in got}
    created = {p["code"]: p["id"] for p in out["created"]}
    assert values[created["PR01-HP"]] == 12.5 and values[strokes_id] == 1000.0


def test_writes_need_the_device_permission(ua_sqlite: Env, plant: UaPlant) -> None:
    env = ua_sqlite
    for role in ("worker", "team_leader", "auditor"):
        for url in (BROWSE, ACCEPT):
            r = env.client.post(url, headers=env.as_role(role), json={"endpoint": plant.endpoint})
            assert r.status_code == 403, (role, url, r.text)
            assert r.json()["code"] == "forbidden"
    r = env.client.post(BROWSE, json={"endpoint": plant.endpoint})
    assert r.status_code == 401


def _fields(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return {e["field"]: e["message"] for e in r.json()["errors"]}


def test_bad_input_names_the_field_and_never_answers_500(ua_sqlite: Env, plant: UaPlant) -> None:
    env = ua_sqlite
    h = env.as_role("admin")
    assert "endpoint" in _fields(env.client.post(BROWSE, headers=h, json={}))
    assert "endpoint" in _fields(env.client.post(BROWSE, headers=h, json={"endpoint": "http://plc.local/"}))
    assert "endpoint" in _fields(env.client.post(BROWSE, headers=h, json={"endpoint": "opc.tcp://host:99999/"}))
    assert "max_nodes" in _fields(env.client.post(BROWSE, headers=h, json={"endpoint": plant.endpoint,
                                                                           "max_nodes": 0}))
    unreachable = _fields(env.client.post(BROWSE, headers=h, json={
        "endpoint": f"opc.tcp://127.0.0.1:{free_port()}/", "timeout_s": 3}))
    assert unreachable["endpoint"].startswith("Cannot browse the OPC UA server")
    assert "root" in _fields(env.client.post(BROWSE, headers=h, json={"endpoint": plant.endpoint, "root": "garbage"}))
    assert "root" in _fields(env.client.post(BROWSE, headers=h, json={"endpoint": plant.endpoint,
                                                                      "root": "nsu=urn:nowhere;s=X"}))

    r = env.client.post("/api/v1/devices", headers=h, json={"code": "PLC-1", "protocol": "modbus",
                                                             "connection": {"host": "127.0.0.1"}})
    assert r.status_code == 201, r.text
    good = {"node": "ns=2;s=Press01.HP", "code": "NEW-1", "name": "新点"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"points": []}, "points"),
        ({"points": [good, {**good, "name": "again"}]}, "points.1.code"),
        ({"points": [{**good, "code": "bad code!"}]}, "points.0.code"),
        ({"points": [{**good, "range_low": 10, "range_high": 5}]}, "points.0.range_high"),
        ({"points": [{**good, "code": "NOPE", "existing": True}]}, "points.0.code"),
        ({"points": [good], "equipment_id": None}, "equipment_id"),
        ({"points": [good], "equipment_id": env.t2.equipment_id}, "equipment_id"),  # another tenant's
        ({"points": [good], "device_code": "PLC-1"}, "device_code"),
        ({"points": [good], "endpoint": "tcp://x"}, "endpoint"),
        ({"points": [good], "mode": "push"}, "mode"),
    ]
    for change, field in cases:
        body = {"device_code": "UA-1", "endpoint": plant.endpoint, "equipment_id": env.t1.equipment_id, **change}
        assert field in _fields(env.client.post(ACCEPT, headers=h, json=body)), (change, field)
    # All or nothing: no point and no device from the refused requests.
    assert env.client.get("/api/v1/points", headers=h, params={"q": "NEW-1"}).json()["total"] == 0
    assert env.client.get("/api/v1/devices", headers=h, params={"q": "UA-1"}).json()["total"] == 0


def test_console_page_reviews_and_accepts(ua_sqlite: Env, plant: UaPlant) -> None:
    env = ua_sqlite
    client: TestClient = env.client
    login(client, "e1-worker")
    assert client.get(views.PATH).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/dashboard").text)})
    login(client, "e1-safety_manager")
    page = client.get(views.PATH)
    assert page.status_code == 200 and 'name="endpoint"' in page.text
    token = csrf_of(page.text)
    assert client.post(views.PATH, data={"endpoint": plant.endpoint}).status_code == 403  # no CSRF token

    bad = client.post(views.PATH, data={"csrf_token": token, "endpoint": f"opc.tcp://127.0.0.1:{free_port()}/"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text

    listing = client.post(views.PATH, data={"csrf_token": token, "endpoint": plant.endpoint, "max_nodes": "5000"})
    assert listing.status_code == 200
    html = listing.text
    n = int(re.search(r'name="rows" value="(\d+)"', html).group(1))  # type: ignore[union-attr]
    rows = {m.group(2): int(m.group(1)) for m in re.finditer(r'name="path_(\d+)" value="([^"]*)"', html)}
    assert n == len(rows) == 6 and "HydraulicPressure" in html and "MPa" in html
    i_hp, i_oil = rows["Plant/Press01/HydraulicPressure"], rows["Plant/Press01/OilTemperature"]
    form: dict[str, Any] = {"csrf_token": token, "endpoint": plant.endpoint, "rows": str(n),
                            "device_code": "UA-WEB", "device_name": "", "equipment_id": str(env.t1.equipment_id),
                            "mode": "subscribe", "sel": [str(i_hp), str(i_oil)]}
    for i in range(n):
        for f in ("node", "code", "name", "unit", "low", "high", "path", "type", "exists"):
            m = re.search(rf'name="{f}_{i}" value="([^"]*)"', html)
            form[f"{f}_{i}"] = m.group(1) if m else ""
    form[f"high_{i_hp}"] = "-1"  # below the low end: refused, shown on the row
    r = client.post(views.PATH + "/accept", data=form)
    assert r.status_code == 422 and 'class="error"' in r.text and "UA-WEB" in r.text
    form[f"high_{i_hp}"] = "35"
    r = client.post(views.PATH + "/accept", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/equipment/{env.t1.equipment_id}"
    detail = client.get(r.headers["location"]).text
    assert "HydraulicPressure" in detail and "OilTemperature" in detail
    with env.db.factory() as s:
        device = s.scalars(select(Device).where(Device.code == "UA-WEB")).one()
        assert [e["point"] for e in device.points] == ["HydraulicPressure", "OilTemperature"]
