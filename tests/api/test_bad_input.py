"""Regression tests for inputs that once answered 500 (most of them on PostgreSQL only, which
the schemathesis run on SQLite cannot see): each now answers 4xx naming the field, in the
caller's language."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from plantguard.api.app import create_app
from plantguard.core.schemas import Input
from plantguard.core.settings import Settings
from tests.api.conftest import Env

NUL = "\x00"


def _errors(r: Any) -> dict[str, str]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_error"
    return {e["field"]: e["message"] for e in body["errors"]}


def _equipment(env: Env, **over: Any) -> dict[str, Any]:
    return {"code": "EQ-X", "name": "2号压力机", "type": "press", "area_id": env.t1.area_id, **over}


# -- NUL characters: PostgreSQL refuses them in text and JSON ----------------------------------


def test_nul_in_body_text_is_a_field_error(env: Env) -> None:
    h = env.as_role("admin")
    r = env.client.post("/api/v1/equipment", headers=h, json=_equipment(env, name=f"a{NUL}b", notes=NUL))
    assert _errors(r) == {"name": "Must not contain NUL characters", "notes": "Must not contain NUL characters"}
    r = env.client.patch(f"/api/v1/equipment/{env.t1.equipment_id}", headers=env.as_role("admin", lang="zh-CN"),
                         json={"maker": f"x{NUL}"})
    assert _errors(r) == {"maker": "不能包含 NUL（空）字符"}
    r = env.client.post("/api/v1/people", headers=h, json={
        "employee_no": "P900", "name": "李雷", "certificates": [{"kind": f"焊工证{NUL}"}]})
    assert _errors(r) == {"certificates.0.kind": "Must not contain NUL characters"}
    r = env.client.post("/api/v1/users", headers=h, json={
        "username": "e1-new", "password": "long-enough-1", "role": "worker", "display_name": NUL})
    assert _errors(r) == {"display_name": "Must not contain NUL characters"}
    assert env.client.get(f"/api/v1/equipment/{env.t1.equipment_id}", headers=h).json()["maker"] == ""


def test_nul_in_codes_is_refused_by_their_pattern(env: Env) -> None:
    r = env.client.post("/api/v1/skills", headers=env.as_role("admin"), json={"code": f"weld{NUL}", "name": "焊接"})
    assert set(_errors(r)) == {"code"}


@pytest.mark.parametrize("url, field", [
    ("/api/v1/equipment?q=a%00b", "q"),
    ("/api/v1/equipment?type=%00", "type"),
    ("/api/v1/people?q=%00", "q"),
    ("/api/v1/points?q=%00", "q"),
    ("/api/v1/teams?q=%00", "q"),
    ("/api/v1/audit?entity_type=equipment%00", "entity_type"),
])
def test_nul_in_query_is_a_field_error(env: Env, url: str, field: str) -> None:
    assert _errors(env.client.get(url, headers=env.as_role("admin"))) == {field: "Must not contain NUL characters"}


def test_nul_in_sign_in_form_is_a_field_error(env: Env) -> None:
    r = env.client.post("/api/v1/auth/token", data={"username": f"e1-admin{NUL}", "password": "whatever-1"},
                        headers={"Accept-Language": "en"})
    assert _errors(r) == {"username": "Must not contain NUL characters"}


def test_lone_surrogate_is_a_field_error(env: Env) -> None:
    body = json.dumps(_equipment(env, code="EQ-S", name="@")).replace("@", "a\\ud800")  # a lone surrogate
    r = env.client.post("/api/v1/equipment", headers={**env.as_role("admin"), "Content-Type": "application/json"},
                        content=body.encode())
    assert _errors(r) == {"name": "Must be valid Unicode text"}


# -- Text lengths: PostgreSQL enforces VARCHAR(n), SQLite does not ------------------------------


def _longest(prop: dict[str, Any]) -> int | None:
    """The longest text a string schema admits (None: unbounded)."""
    if "enum" in prop:
        return max(len(v) for v in prop["enum"])
    if "const" in prop:
        return len(prop["const"])
    return prop.get("maxLength")  # type: ignore[no-any-return]


def test_text_limits_fit_the_columns() -> None:
    """Every request body's text limit is at most its column's length (checked on the models)."""
    app = create_app(Settings(database_url="sqlite://", bus_url="inprocess://"), start_relay=False)
    spec = app.openapi()["components"]["schemas"]
    from plantguard.assets.models import Equipment, MeasurementPoint
    from plantguard.tenancy.models import Certificate, Person, SkillTag, Team, User

    tables = {"Equipment": Equipment, "Point": MeasurementPoint, "Person": Person, "Team": Team,
              "Skill": SkillTag, "Certificate": Certificate, "User": User}
    checked = 0
    for name, schema in spec.items():
        model = next((m for prefix, m in tables.items() if name.startswith(prefix) and name.endswith(
            ("Create", "Update", "In"))), None)
        if model is None:
            continue
        for field, prop in schema["properties"].items():
            column = model.__table__.columns.get(field)
            length = getattr(getattr(column, "type", None), "length", None)
            if not length:
                continue
            limits = [_longest(p) for p in [prop, *prop.get("anyOf", [])] if p.get("type") == "string"]
            assert limits and all(x is not None and x <= length for x in limits), (name, field, limits, length)
            checked += 1
    assert checked >= 40

    # The documented limit is the enforced one (``Field(max_length=...)`` on a constrained type is not).
    models = _subclasses(Input)
    assert len(models) >= 10
    for m in models:
        for field, prop in m.model_json_schema()["properties"].items():
            for branch in [prop, *prop.get("anyOf", [])]:
                limit = branch.get("maxLength")
                if limit is None or branch.get("pattern") or field == "email":
                    continue
                m.__pydantic_validator__.validate_assignment(m.model_construct(), field, "x" * limit)
                with pytest.raises(ValidationError):
                    m.__pydantic_validator__.validate_assignment(m.model_construct(), field, "x" * (limit + 1))


def _subclasses(cls: type[Input]) -> list[type[Input]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_longest_accepted_text_is_stored(env: Env) -> None:
    h = env.as_role("admin")
    r = env.client.post("/api/v1/equipment", headers=h, json=_equipment(
        env, code="E" * 40, name="名" * 200, type="t" * 60, model="m" * 100, maker="k" * 200))
    assert r.status_code == 201, r.text
    r = env.client.post("/api/v1/points", headers=h, json={
        "equipment_id": env.t1.equipment_id, "code": "P" * 60, "name": "n" * 200, "quantity": "q" * 40,
        "unit": "u" * 20})
    assert r.status_code == 201, r.text
    email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + ".cn"  # 195 characters
    r = env.client.post("/api/v1/people", headers=h, json={
        "employee_no": "E" * 40, "name": "人" * 100, "phone": "1" * 40, "job_title": "j" * 100, "email": email,
        "certificates": [{"kind": "k" * 100, "number": "9" * 100, "issued_by": "i" * 200}]})
    assert r.status_code == 201, r.text
    assert env.client.post("/api/v1/teams", headers=h, json={"code": "T" * 40, "name": "班" * 100}).status_code == 201
    assert env.client.post("/api/v1/skills", headers=h, json={"code": "S" * 40, "name": "技" * 100}).status_code == 201
    r = env.client.post("/api/v1/users", headers=h, json={
        "username": "u" * 80, "password": "long-enough-1", "role": "worker", "display_name": "d" * 100})
    assert r.status_code == 201, r.text


def _valid_body(env: Env, path: str) -> dict[str, Any]:
    return {
        "/api/v1/equipment": _equipment(env),
        "/api/v1/points": {"equipment_id": env.t1.equipment_id, "code": "EQ-1-NEW", "name": "新测点"},
        "/api/v1/people": {"employee_no": "P902", "name": "王芳"},
        "/api/v1/teams": {"code": "T9", "name": "九班"},
        "/api/v1/skills": {"code": "crane", "name": "起重"},
        "/api/v1/users": {"username": "e1-new", "password": "long-enough-1", "role": "worker"},
    }[path]


@pytest.mark.parametrize("path, field, text, limit", [
    ("/api/v1/equipment", "model", "m" * 101, 100),
    ("/api/v1/equipment", "type", "t" * 61, 60),
    ("/api/v1/points", "quantity", "q" * 41, 40),
    ("/api/v1/points", "unit", "u" * 21, 20),
    ("/api/v1/people", "name", "人" * 101, 100),
    ("/api/v1/people", "phone", "1" * 41, 40),
    ("/api/v1/people", "job_title", "j" * 101, 100),
    ("/api/v1/teams", "name", "班" * 101, 100),
    ("/api/v1/skills", "name", "技" * 101, 100),
    ("/api/v1/users", "display_name", "d" * 101, 100),
])
def test_text_longer_than_its_column_is_a_field_error(env: Env, path: str, field: str, text: str,
                                                      limit: int) -> None:
    """These were accepted up to 200 characters and answered 500 on PostgreSQL (VARCHAR(n))."""
    assert env.client.post(path, headers=env.as_role("admin"), json=_valid_body(env, path)).status_code == 201
    body = {**_valid_body(env, path), field: text}
    for key in ("code", "employee_no", "username"):
        if key in body:
            body[key] = body[key] + "-2"
    r = env.client.post(path, headers=env.as_role("admin"), json=body)
    assert _errors(r) == {field: f"Must be at most {limit} characters"}


def test_email_longer_than_its_column_is_a_field_error(env: Env) -> None:
    email = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 20 + ".cn"  # 216 characters, valid syntax
    r = env.client.post("/api/v1/people", headers=env.as_role("admin"), json={
        "employee_no": "P901", "name": "韩梅梅", "email": email})
    assert _errors(r) == {"email": "Must be at most 200 characters"}
    r = env.client.post("/api/v1/people", headers=env.as_role("admin", lang="zh-CN"), json={
        "employee_no": "P901", "name": "韩梅梅", "email": "not-an-address"})
    assert _errors(r) == {"email": "须为有效的电子邮箱地址"}


def test_query_text_length_is_counted_in_characters(env: Env) -> None:
    r = env.client.get("/api/v1/equipment", params={"q": "x" * 101}, headers=env.as_role("admin"))
    assert _errors(r) == {"q": "Must be at most 100 characters"}


# -- Numbers: ids stay inside BIGINT, floats finite ---------------------------------------------


@pytest.mark.parametrize("big", [2**63, 2**64, 10**30])
def test_integers_beyond_bigint_are_field_errors(env: Env, big: int) -> None:
    h = env.as_role("admin")
    r = env.client.get(f"/api/v1/equipment/{big}", headers=h)
    assert set(_errors(r)) == {"item_id"}
    r = env.client.get("/api/v1/equipment", params={"area_id": big, "offset": big, "limit": big}, headers=h)
    assert set(_errors(r)) == {"area_id", "offset", "limit"}
    r = env.client.post("/api/v1/equipment", headers=h, json=_equipment(env, area_id=big))
    assert set(_errors(r)) == {"area_id"}
    r = env.client.get("/api/v1/audit", params={"entity_id": big, "actor_id": -big}, headers=h)
    assert set(_errors(r)) == {"entity_id", "actor_id"}


def test_largest_id_is_not_found_not_an_error(env: Env) -> None:
    h = env.as_role("admin")
    assert env.client.get(f"/api/v1/people/{2**62}", headers=h).status_code == 404
    assert env.client.get("/api/v1/people", params={"team_id": 2**62}, headers=h).json()["total"] == 0
    r = env.client.patch(f"/api/v1/people/{env.t1.person_id}", headers=h, json={"team_id": 2**62})
    assert set(_errors(r)) == {"team_id"}


def test_float_overflow_and_huge_integers_in_numbers(env: Env) -> None:
    base = {"equipment_id": env.t1.equipment_id, "code": "EQ-1-X", "name": "x"}
    h = {**env.as_role("admin"), "Content-Type": "application/json"}
    for raw in ("1e400", "-1e400", str(10**400)):
        body = json.dumps(base)[:-1] + f', "range_high": {raw}}}'
        r = env.client.post("/api/v1/points", headers=h, content=body.encode())
        assert set(_errors(r)) == {"range_high"}, raw


# -- Bodies that cannot be read at all ---------------------------------------------------------


def test_undecodable_json_body_is_a_body_error(env: Env) -> None:
    h = {**env.as_role("admin"), "Content-Type": "application/json"}
    r = env.client.post("/api/v1/skills", headers=h, content=b'{"code": "x", "name": "\xff\xfe"}')
    assert _errors(r) == {"body": "The request body is not valid JSON"}
    r = env.client.post("/api/v1/skills", headers={**h, "Accept-Language": "zh-CN"}, content=b"\xff")
    assert _errors(r) == {"body": "请求体不是有效的 JSON"}


def test_too_deeply_nested_json_is_a_body_error(env: Env) -> None:
    h = {**env.as_role("admin"), "Content-Type": "application/json"}
    deep = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = env.client.post("/api/v1/skills", headers=h, content=deep)
    assert _errors(r) == {"body": "The request body is not valid JSON"}


def test_multipart_without_boundary_is_a_body_error(env: Env) -> None:
    r = env.client.post("/api/v1/auth/token", content=b"username=x&password=y",
                        headers={"Content-Type": "multipart/form-data", "Accept-Language": "en"})
    assert _errors(r) == {"body": "The request body is not a readable form"}


# -- Search text is literal ---------------------------------------------------------------------


def test_search_wildcards_are_literal(env: Env) -> None:
    h = env.as_role("admin")
    for code, name in (("WD-1", "负载 50%"), ("WD-2", "A_B 焊机"), ("WD-3", "AXB 焊机"), ("WD-4", "C:\\路径")):
        r = env.client.post("/api/v1/equipment", headers=h, json=_equipment(env, code=code, name=name))
        assert r.status_code == 201, r.text

    def found(q: str) -> list[str]:
        r = env.client.get("/api/v1/equipment", params={"q": q}, headers=h)
        return sorted(i["code"] for i in r.json()["items"])

    assert found("%") == ["WD-1"]
    assert found("50%") == ["WD-1"]
    assert found("_") == ["WD-2"]
    assert found("a_b") == ["WD-2"]
    assert found("\\") == ["WD-4"]
    assert found("axb") == ["WD-3"]


def test_extreme_valid_values_are_stored(env: Env) -> None:
    """The edges of what the schemas accept fit the columns of both backends."""
    h = env.as_role("admin")
    r = env.client.post("/api/v1/points", headers=h, json={
        "equipment_id": env.t1.equipment_id, "code": "EQ-1-EDGE", "name": "边界", "range_low": -1e12,
        "range_high": 1e12, "low_alarm": -5e-324, "low_warning": 0.0, "high_warning": 5e-324, "high_alarm": 1e12})
    assert r.status_code == 201, r.text
    got = env.client.get(f"/api/v1/points/{r.json()['id']}", headers=h).json()
    assert (got["range_low"], got["high_warning"], got["low_alarm"]) == (-1e12, 5e-324, -5e-324)
    r = env.client.post("/api/v1/equipment", headers=h, json=_equipment(env, install_date="0001-01-01"))
    assert r.status_code == 201, r.text
    r = env.client.post("/api/v1/people", headers=h, json={"employee_no": "P903", "name": "边界", "certificates": [
        {"kind": "证", "issued_on": "0001-01-01", "expires_on": "9999-12-31"}]})
    assert r.status_code == 201, r.text
    assert r.json()["certificates"][0]["expires_on"] == "9999-12-31"
