"""Every query is scoped to the caller's enterprise: another tenant's record is a 404."""

from __future__ import annotations

import pytest

from tests.api.conftest import Env

RESOURCES = ["equipment", "points", "people", "teams", "skills"]


def _other_ids(env: Env) -> dict[str, int]:
    t2 = env.t2
    skills = env.client.get("/api/v1/skills", headers=env.as_role("admin", t2)).json()["items"]
    return {"equipment": t2.equipment_id, "points": t2.point_id, "people": t2.person_id, "teams": t2.team_id,
            "skills": skills[0]["id"]}


@pytest.mark.parametrize("resource", RESOURCES)
def test_other_enterprise_record_is_not_found(env: Env, resource: str) -> None:
    h = env.as_role("admin")
    other = _other_ids(env)[resource]
    url = f"/api/v1/{resource}/{other}"
    assert env.client.get(url, headers=h).status_code == 404
    r = env.client.patch(url, json={"name": "hijacked"}, headers=h)
    assert r.status_code == 404
    assert "hijacked" not in r.text
    assert env.client.delete(url, headers=h).status_code == 404
    # Still intact for its owner.
    r = env.client.get(url, headers=env.as_role("admin", env.t2))
    assert r.status_code == 200 and r.json()["name"] != "hijacked"


@pytest.mark.parametrize("resource", [*RESOURCES, "sites", "areas", "audit"])
def test_lists_hold_only_own_records(env: Env, resource: str) -> None:
    mine = env.client.get(f"/api/v1/{resource}?limit=500", headers=env.as_role("admin")).json()
    theirs = env.client.get(f"/api/v1/{resource}?limit=500", headers=env.as_role("admin", env.t2)).json()
    assert mine["total"] >= 1 and theirs["total"] >= 1
    key = "seq" if resource == "audit" else "id"
    if resource != "audit":
        assert {i[key] for i in mine["items"]}.isdisjoint({i[key] for i in theirs["items"]})


def test_references_into_another_enterprise_are_refused(env: Env) -> None:
    h = env.as_role("admin")
    r = env.client.post("/api/v1/equipment", headers=h, json={
        "code": "X-1", "name": "x", "type": "press", "area_id": env.t2.area_id})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "area_id"
    r = env.client.patch(f"/api/v1/people/{env.t1.person_id}", headers=h, json={"team_id": env.t2.team_id})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "team_id"
    r = env.client.post("/api/v1/points", headers=h, json={
        "equipment_id": env.t2.equipment_id, "code": "P-X", "name": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "equipment_id"


def test_same_code_may_exist_in_two_enterprises(env: Env) -> None:
    # Both tenants already hold EQ-1: codes are unique per enterprise, not globally.
    r = env.client.get("/api/v1/equipment?q=EQ-1", headers=env.as_role("admin", env.t2))
    assert r.json()["total"] == 1


def test_audit_of_other_enterprise_is_invisible(env: Env) -> None:
    assert env.t2.equipment_id != env.t1.equipment_id
    url = f"/api/v1/audit?entity_type=equipment&entity_id={env.t2.equipment_id}"
    assert env.client.get(url, headers=env.as_role("admin")).json()["total"] == 0
    assert env.client.get(url, headers=env.as_role("admin", env.t2)).json()["total"] >= 1
