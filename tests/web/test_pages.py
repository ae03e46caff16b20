"""The console over HTTP: sign-in with CSRF, pages in Chinese and English, forms with the
same validation as the API, role-aware pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Env
from tests.factories import PASSWORD


def login(client: TestClient, username: str, password: str = PASSWORD, next: str = "/dashboard") -> object:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token.group(1),
                                       "next": next}, follow_redirects=False)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


@pytest.fixture
def web(sqlite_env: Env) -> Iterator[Env]:
    yield sqlite_env


def test_pages_need_sign_in(web: Env) -> None:
    r = web.client.get("/equipment", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/equipment"


def test_sign_in_sets_a_safe_cookie_and_shows_chinese_dashboard(web: Env) -> None:
    r = login(web.client, "e1-safety_manager")
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"  # type: ignore[attr-defined]
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "plantguard_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = web.client.get("/dashboard")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "仪表盘" in page.text and "设备台账" in page.text and "退出登录" in page.text
    # Empty panels explain what will appear; counts come from the database.
    assert 'hx-get="/dashboard/workorders"' in page.text  # the work-order panel loads real counts
    assert 'hx-get="/dashboard/alarms"' in page.text  # the alarm panel loads real counts
    assert '<span class="kpi-value">1</span><span class="kpi-label">设备</span>' in page.text


def test_english_switch(web: Env) -> None:
    login(web.client, "e1-safety_manager")
    r = web.client.get("/lang/en?next=/equipment", follow_redirects=True)
    assert r.status_code == 200 and '<html lang="en">' in r.text
    assert "Equipment ledger" in r.text and "设备台账" not in r.text
    assert "1号压力机" in r.text  # data stays as entered


def test_login_needs_the_csrf_token_and_wrong_password_is_refused(web: Env) -> None:
    web.client.get("/login")
    r = web.client.post("/login", data={"username": "e1-admin", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and "表单已过期" in r.text
    r = login(web.client, "e1-admin", "wrong")
    assert r.status_code == 401 and "用户名或密码错误" in r.text  # type: ignore[attr-defined]


def test_next_cannot_leave_the_site(web: Env) -> None:
    r = login(web.client, "e1-admin", next="//evil.example.com/x")
    assert r.headers["location"] == "/dashboard"  # type: ignore[attr-defined]


def test_create_through_the_form_with_field_errors_in_chinese(web: Env) -> None:
    login(web.client, "e1-safety_manager")
    form = web.client.get("/equipment/new")
    token = csrf_of(form.text)
    data = {"csrf_token": token, "code": "ST-P09", "name": "", "type": "冲压机", "area_id": str(web.t1.area_id),
            "criticality": "A", "status": "in_service", "install_date": "2020-02-30"}
    r = web.client.post("/equipment/new", data=data)
    assert r.status_code == 422
    assert "请修正标出的字段" in r.text and "名称: 此字段为必填项" in r.text
    assert "安装日期" in r.text and "须为日期" in r.text
    data.update(name="9号压力机", install_date="2020-02-28")
    r = web.client.post("/equipment/new", data=data, follow_redirects=False)
    assert r.status_code == 303
    detail = web.client.get(r.headers["location"])
    assert "9号压力机" in detail.text
    eq_id = int(r.headers["location"].rsplit("/", 1)[1])
    hist = web.client.get(f"/history/equipment/{eq_id}")
    assert "新建" in hist.text and "9号压力机" in hist.text


def test_writes_without_csrf_token_are_refused(web: Env) -> None:
    login(web.client, "e1-safety_manager")
    r = web.client.post(f"/equipment/{web.t1.equipment_id}/edit", data={"name": "x"})
    assert r.status_code == 403
    # The API with the session cookie needs the header too.
    r = web.client.patch(f"/api/v1/equipment/{web.t1.equipment_id}", json={"name": "x"})
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    page = web.client.get("/dashboard")
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert token
    r = web.client.patch(f"/api/v1/equipment/{web.t1.equipment_id}", json={"notes": "ok"},
                         headers={"X-CSRF-Token": token.group(1)})
    assert r.status_code == 200


def test_edit_and_delete_through_forms(web: Env) -> None:
    login(web.client, "e1-safety_manager")
    page = web.client.get(f"/teams/{web.t1.team_id}/edit")
    token = csrf_of(page.text)
    r = web.client.post(f"/teams/{web.t1.team_id}/edit", data={
        "csrf_token": token, "code": "T1", "name": "冲压一班（早）", "shift": "A", "area_id": "", "leader_id": "",
        "description": ""}, follow_redirects=True)
    assert r.status_code == 200 and "冲压一班（早）" in r.text and "张伟" in r.text  # members listed
    r = web.client.post(f"/teams/{web.t1.team_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200 and "冲压一班（早）" not in r.text


def test_read_only_roles_see_no_write_controls(web: Env) -> None:
    login(web.client, "e1-auditor")
    page = web.client.get("/equipment")
    assert page.status_code == 200 and "/equipment/new" not in page.text
    r = web.client.get("/equipment/new")
    assert r.status_code == 403 and "无权操作" in r.text
    assert web.client.get("/audit").status_code == 200


def test_worker_cannot_read_the_audit_log(web: Env) -> None:
    login(web.client, "e1-worker")
    assert web.client.get("/audit").status_code == 403
    assert "变更日志" not in web.client.get("/dashboard").text


def test_other_tenant_pages_are_not_found(web: Env) -> None:
    login(web.client, "e1-admin")
    r = web.client.get(f"/equipment/{web.t2.equipment_id}")
    assert r.status_code == 404 and "1号压力机" not in r.text


def test_certificates_on_the_person_page(web: Env) -> None:
    login(web.client, "e1-safety_manager")
    page = web.client.get(f"/people/{web.t1.person_id}")
    token = csrf_of(page.text)
    r = web.client.post(f"/people/{web.t1.person_id}/certificates", data={
        "csrf_token": token, "kind": "低压电工作业", "number": "T1", "issued_on": "2024-01-01",
        "expires_on": "2023-01-01"})
    assert r.status_code == 422 and "不得早于发证日期" in r.text
    r = web.client.post(f"/people/{web.t1.person_id}/certificates", data={
        "csrf_token": token, "kind": "低压电工作业", "number": "T1", "issued_on": "2024-01-01",
        "expires_on": "2030-01-01"}, follow_redirects=True)
    assert r.status_code == 200 and "低压电工作业" in r.text


def test_logout_ends_the_session(web: Env) -> None:
    login(web.client, "e1-admin")
    token = csrf_of(web.client.get("/dashboard").text)
    r = web.client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert web.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_unknown_page_is_a_page(web: Env) -> None:
    login(web.client, "e1-admin")
    r = web.client.get("/no-such-page")
    assert r.status_code == 404 and "此页面不存在" in r.text


def test_pwa_files(web: Env) -> None:
    m = web.client.get("/manifest.webmanifest")
    assert m.status_code == 200 and m.json()["display"] == "standalone"
    sw = web.client.get("/sw.js")
    assert sw.status_code == 200 and "serviceWorker" not in sw.headers.get("content-type", "")
    assert sw.headers["service-worker-allowed"] == "/"
