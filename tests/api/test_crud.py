"""Create, read, update, delete through the API; validation messages name the field in the
caller's language."""

from __future__ import annotations

from tests.api.conftest import Env


def test_equipment_lifecycle_with_pagination(env: Env) -> None:
    h = env.as_role("safety_manager")
    ids = []
    for i in range(7):
        r = env.client.post("/api/v1/equipment", headers=h, json={
            "code": f"WD-R{i:02d}", "name": f"焊接机器人 {i}", "type": "welding_robot", "area_id": env.t1.area2_id,
            "maker": "发那科 FANUC", "model": "ARC Mate 100iD", "install_date": "2021-03-15", "criticality": "A"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = env.client.get(f"/api/v1/equipment?limit=3&offset=2&area_id={env.t1.area2_id}", headers=h).json()
    assert r["total"] == 7
    assert [i["code"] for i in r["items"]] == ["WD-R02", "WD-R03", "WD-R04"]
    one = env.client.get(f"/api/v1/equipment/{ids[0]}", headers=h).json()
    assert one["install_date"] == "2021-03-15" and one["area"]["code"] == "WD"
    r = env.client.patch(f"/api/v1/equipment/{ids[0]}", headers=h, json={"status": "maintenance", "notes": "换枪"})
    assert r.status_code == 200 and r.json()["status"] == "maintenance" and r.json()["name"] == "焊接机器人 0"
    assert env.client.delete(f"/api/v1/equipment/{ids[0]}", headers=h).status_code == 204
    assert env.client.get(f"/api/v1/equipment/{ids[0]}", headers=h).status_code == 404
    assert env.client.get("/api/v1/equipment?q=焊接机器人", headers=h).json()["total"] == 6


def test_validation_names_the_field_in_chinese_by_default(env: Env) -> None:
    h = env.as_role("admin")
    del h["Accept-Language"]
    r = env.client.post("/api/v1/equipment", headers=h, json={"code": "bad code!", "type": "x", "area_id": 1})
    assert r.status_code == 422
    body = r.json()
    fields = {e["field"]: e for e in body["errors"]}
    assert set(fields) == {"code", "name"}
    assert fields["name"]["message"] == "此字段为必填项"
    assert fields["name"]["label"] == "名称"
    assert body["detail"] == "输入无效"


def test_validation_in_english_when_asked(env: Env) -> None:
    r = env.client.post("/api/v1/equipment", headers=env.as_role("admin", lang="en-US,en;q=0.9"),
                        json={"code": "X", "name": "n", "type": "t", "area_id": env.t1.area_id, "criticality": "Z"})
    err = r.json()["errors"][0]
    assert err["field"] == "criticality" and err["message"].startswith("Must be one of")


def test_duplicate_code_is_a_field_error(env: Env) -> None:
    r = env.client.post("/api/v1/equipment", headers=env.as_role("admin"), json={
        "code": "EQ-1", "name": "dup", "type": "press", "area_id": env.t1.area_id})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "code", "label": "Code", "message": "EQ-1 is already in use"}]


def test_unknown_fields_are_refused(env: Env) -> None:
    r = env.client.patch(f"/api/v1/equipment/{env.t1.equipment_id}", headers=env.as_role("admin"),
                         json={"colour": "red"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"


def test_required_field_cannot_be_blanked_by_update(env: Env) -> None:
    r = env.client.patch(f"/api/v1/equipment/{env.t1.equipment_id}", headers=env.as_role("admin"),
                         json={"name": None})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"


def test_equipment_with_points_cannot_be_deleted(env: Env) -> None:
    r = env.client.delete(f"/api/v1/equipment/{env.t1.equipment_id}", headers=env.as_role("admin"))
    assert r.status_code == 409


def test_point_thresholds_must_be_ordered(env: Env) -> None:
    h = env.as_role("team_leader")
    base = {"equipment_id": env.t1.equipment_id, "code": "EQ-1-OT", "name": "油温", "unit": "°C",
            "range_low": 0, "range_high": 120}
    r = env.client.post("/api/v1/points", headers=h, json={**base, "high_warning": 70, "high_alarm": 60})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "high_alarm"
    r = env.client.post("/api/v1/points", headers=h, json={**base, "range_low": 50, "range_high": 10})
    assert r.json()["errors"][0]["field"] == "range_high"
    r = env.client.post("/api/v1/points", headers=h, json={**base, "high_warning": 60, "high_alarm": 70})
    assert r.status_code == 201
    pid = r.json()["id"]
    # The rule holds on partial updates against the stored values too.
    r = env.client.patch(f"/api/v1/points/{pid}", headers=h, json={"high_warning": 80})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "high_alarm"
    r = env.client.get(f"/api/v1/points?equipment_id={env.t1.equipment_id}", headers=h).json()
    assert r["total"] == 2


def test_people_with_skills_and_certificates(env: Env) -> None:
    h = env.as_role("safety_manager")
    r = env.client.post("/api/v1/people", headers=h, json={
        "employee_no": "P100", "name": "李娜", "team_id": env.t1.team_id, "skills": ["weld"],
        "email": "lina@example.com",
        "certificates": [{"kind": "焊接与热切割作业", "number": "T3201", "issued_on": "2023-01-01",
                          "expires_on": "2029-01-01"}]})
    assert r.status_code == 201, r.text
    p = r.json()
    assert [s["code"] for s in p["skills"]] == ["weld"] and p["certificates"][0]["kind"] == "焊接与热切割作业"
    r = env.client.patch(f"/api/v1/people/{p['id']}", headers=h, json={"skills": ["nope"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "skills"
    r = env.client.patch(f"/api/v1/people/{p['id']}", headers=h, json={
        "certificates": [{"kind": "低压电工作业", "issued_on": "2024-05-01", "expires_on": "2024-01-01"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "certificates.0.expires_on"
    r = env.client.patch(f"/api/v1/people/{p['id']}", headers=h, json={"email": "not-an-email"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "email"
    r = env.client.patch(f"/api/v1/people/{p['id']}", headers=h, json={"certificates": []})
    assert r.status_code == 200 and r.json()["certificates"] == []
    team = env.client.get(f"/api/v1/teams/{env.t1.team_id}", headers=h).json()
    assert team["member_count"] == 2
    assert env.client.delete(f"/api/v1/people/{p['id']}", headers=h).status_code == 204


def test_teams_crud(env: Env) -> None:
    h = env.as_role("team_leader")
    r = env.client.post("/api/v1/teams", headers=h, json={
        "code": "T9", "name": "焊装乙班", "shift": "B", "area_id": env.t1.area2_id, "leader_id": env.t1.person_id})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = env.client.patch(f"/api/v1/teams/{tid}", headers=h, json={"shift": "Q"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "shift"
    assert env.client.get("/api/v1/teams?shift=B", headers=h).json()["total"] == 1
    assert env.client.delete(f"/api/v1/teams/{tid}", headers=h).status_code == 204


def test_pagination_bounds_are_validated(env: Env) -> None:
    h = env.as_role("worker")
    r = env.client.get("/api/v1/equipment?limit=0", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    r = env.client.get("/api/v1/equipment?offset=-1", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "offset"
    r = env.client.get("/api/v1/equipment/99999999999999999999999", headers=h)
    assert r.status_code == 422


def test_every_change_is_in_the_audit_api(env: Env) -> None:
    h = env.as_role("safety_manager")
    env.client.patch(f"/api/v1/equipment/{env.t1.equipment_id}", headers=h, json={"name": "1号压力机（大修后）"})
    r = env.client.get(f"/api/v1/audit?entity_type=equipment&entity_id={env.t1.equipment_id}", headers=h).json()
    latest = r["items"][0]
    assert latest["action"] == "update" and latest["actor_name"] == env.t1.users["safety_manager"]
    assert latest["before"]["name"] == "1号压力机" and latest["after"]["name"] == "1号压力机（大修后）"
    assert latest["request_id"]
    assert env.client.get("/api/v1/audit", headers=env.as_role("worker")).status_code == 403
