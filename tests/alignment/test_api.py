"""/api/v1/alignment over HTTP: uploads, JSON rows, context, report, roles and tenants."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from plantguard.timeseries.alignment.api import router
from plantguard.timeseries.alignment.csvfile import MAX_FILE_BYTES
from tests.api.conftest import Env, build_app
from tests.conftest import Db
from tests.factories import make_tenant

MES = """order_no,product,equipment,phase,start,end
WO-1,左前门外板,EQ-1,changeover,2026-03-02 08:00,2026-03-02 08:30
WO-1,左前门外板,EQ-1,first_piece,2026-03-02 08:30,2026-03-02 09:00
WO-1,左前门外板,EQ-1,steady,2026-03-02 09:00,2026-03-02 17:00
"""
PLC = """ts,equipment,code,kind,severity,message
2026-03-02 08:40,EQ-1,I901,incident,9,光幕急停
2026-03-02 10:00,EQ-1,A101,alarm,4,滑块过载
2026-03-02 10:00,EQ-404,A101,alarm,4,unknown
"""


@pytest.fixture
def api(db: Db, tmp_path: object) -> Iterator[Env]:
    """tests/api's two tenants and app, with the alignment router (mounted here until app.py does)."""
    t1 = make_tenant(db.factory, "E1")
    t2 = make_tenant(db.factory, "E2")
    with build_app(db, tmp_path) as client:
        app = client.app
        assert isinstance(app, FastAPI)
        if not any(getattr(r, "path", "").startswith("/api/v1/alignment") for r in app.routes):
            app.include_router(router, prefix="/api/v1")
        yield Env(db, client, t1, t2, {})


def upload(api: Env, kind: str, text: str | bytes, role: str = "admin", *, name: str = "data.csv",
           media: str = "text/csv") -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    url = f"/api/v1/alignment/import/{kind}"
    response: httpx.Response = api.client.post(url, files={"file": (name, data, media)}, headers=api.as_role(role))
    return response


def test_upload_reports_rows_and_errors(api: Env) -> None:
    r = upload(api, "plc_events", PLC)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows"], body["created"], body["rejected"]) == (3, 2, 1)
    assert body["errors"] == [{"line": 4, "row": True, "field": "equipment", "column": "equipment",
                               "label": "Equipment", "message": "Unknown equipment: EQ-404"}]
    again = upload(api, "plc_events", PLC).json()
    assert (again["created"], again["unchanged"]) == (0, 2)


def test_roles(api: Env) -> None:
    assert upload(api, "mes_phases", MES, "safety_manager").status_code == 200
    for role in ("worker", "team_leader"):  # each sign-in verifies an argon2 hash: two suffice
        r = upload(api, "mes_phases", MES, role)
        assert r.status_code == 403, role
        assert r.json()["code"] == "forbidden"
        r = api.client.post("/api/v1/alignment/import/mes_phases/rows", json={"rows": []}, headers=api.as_role(role))
        assert r.status_code == 403, role
    assert api.client.post("/api/v1/alignment/import/mes_phases", files={"file": ("a.csv", b"x")}).status_code == 401
    assert api.client.get("/api/v1/alignment/context", params={"equipment_id": 1}).status_code == 401


def test_upload_is_checked(api: Env) -> None:
    r = upload(api, "plc_events", b"\x89PNG\r\n", name="photo.png", media="image/png")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = api.client.post("/api/v1/alignment/import/plc_events", json={"rows": []}, headers=api.as_role("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = upload(api, "plc_events", "ts,equipment\n2026-03-02,EQ-1\n")
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"file"}
    assert "Code" in " ".join(e["message"] for e in r.json()["errors"])
    assert upload(api, "nonsense", PLC).status_code == 422
    r = upload(api, "plc_events", b"a" * (MAX_FILE_BYTES + 1))
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    r = upload(api, "plc_events", b"a" * (MAX_FILE_BYTES + 200 * 1024))
    assert r.status_code == 413


def test_json_rows(api: Env) -> None:
    rows = [{"person": "P001", "area": "ST", "entered_at": "2026-03-02T07:50:00+08:00",
             "left_at": "2026-03-02T17:10:00+08:00", "source": "uwb"},
            {"badge": "V-1", "area": "NOPE", "entered_at": "2026-03-02T08:00:00+08:00"}]
    r = api.client.post("/api/v1/alignment/import/zone_entries/rows", json={"rows": rows},
                        headers=api.as_role("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 1 and [(e["line"], e["field"]) for e in body["errors"]] == [(2, "area")]
    r = api.client.post("/api/v1/alignment/import/zone_entries/rows", json={"rows": "nope"},
                        headers=api.as_role("admin"))
    assert r.status_code == 422


def test_context(api: Env) -> None:
    for kind, text in (("mes_phases", MES), ("plc_events", PLC)):
        assert upload(api, kind, text).status_code == 200
    api.client.post("/api/v1/alignment/import/zone_entries/rows", headers=api.as_role("admin"), json={"rows": [
        {"person": "P001", "area": "ST", "entered_at": "2026-03-02 07:50", "left_at": "2026-03-02 17:10"}]})
    worker = api.as_role("worker")
    r = api.client.get("/api/v1/alignment/context", headers=worker,
                       params={"equipment_id": api.t1.equipment_id, "at": "2026-03-02T08:45:00+08:00"})
    assert r.status_code == 200, r.text
    ctx = r.json()
    assert ctx["phase"]["phase"] == "first_piece" and ctx["phase"]["label"] == "First-piece debugging"
    assert ctx["phase"]["work_order"]["order_no"] == "WO-1"
    assert ctx["phase"]["start"] == "2026-03-02T08:30:00+08:00"
    assert [p["employee_no"] for p in ctx["people"]] == ["P001"]
    assert [e["code"] for e in ctx["events"]] == ["I901"]
    # Another tenant's machine is not found; bad parameters name their field.
    r = api.client.get("/api/v1/alignment/context", headers=worker, params={"equipment_id": api.t2.equipment_id})
    assert r.status_code == 404
    r = api.client.get("/api/v1/alignment/context", headers=worker,
                       params={"equipment_id": api.t1.equipment_id, "at": "after lunch"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "at"
    assert api.client.get("/api/v1/alignment/context", headers=worker,
                          params={"equipment_id": 0}).status_code == 422
    # The other tenant sees none of it on its own machine.
    r = api.client.get("/api/v1/alignment/context", headers=api.as_role("worker", api.t2),
                       params={"equipment_id": api.t2.equipment_id, "at": "2026-03-02T08:45:00+08:00"})
    assert r.status_code == 200 and r.json()["phase"] is None and r.json()["events"] == []


def test_phase_risk(api: Env) -> None:
    for kind, text in (("mes_phases", MES), ("plc_events", PLC)):
        assert upload(api, kind, text).status_code == 200
    r = api.client.get("/api/v1/alignment/phase-risk", headers=api.as_role("auditor"),
                       params={"from": "2026-03-02", "to": "2026-03-03"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["events"] == 2 and report["exposure_h"] == pytest.approx(9.0)
    phases = {p["phase"]: p for p in report["phases"]}
    assert phases["first_piece"]["events"] == 1 and phases["first_piece"]["exposure_h"] == pytest.approx(0.5)
    assert phases["first_piece"]["ratio"] == pytest.approx((1 / 0.5) / (2 / 9))
    r = api.client.get("/api/v1/alignment/phase-risk", headers=api.as_role("auditor"),
                       params={"from": "2026-03-03", "to": "2026-03-02"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"
    r = api.client.get("/api/v1/alignment/phase-risk", headers=api.as_role("auditor"), params={"confidence": 2})
    assert r.status_code == 422
    # The other tenant's report is empty.
    r = api.client.get("/api/v1/alignment/phase-risk", headers=api.as_role("auditor", api.t2),
                       params={"from": "2026-03-02", "to": "2026-03-03"})
    assert r.status_code == 200 and r.json()["phases"] == [] and r.json()["events"] == 0
