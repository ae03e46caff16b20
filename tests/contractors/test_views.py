"""The console pages over HTTP (server-rendered, so a TestClient reads what a browser shows):
the company list in Chinese by default, a company with its workers' admission and reasons,
forms whose refusals land next to their field with the values kept, the expiring list, and
roles (no forms for a reader; a refused write changes nothing)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from plantguard.contractors.models import ContractorCompany, ContractorQualification, SafetyInduction
from plantguard.contractors.service import plant_today
from plantguard.tenancy.models import Person
from tests.api.conftest import Env
from tests.contractors.conftest import actor, admitted_company
from tests.web.test_pages import csrf_of, login


def seed(env: Env) -> tuple[int, int, int]:
    """An admitted company with one admitted worker, and a second company whose licence lapsed."""
    today = plant_today()
    a = actor(env.db, env.t1)
    with env.db.session() as s:
        ok = admitted_company(s, a, on=today)
        bad = admitted_company(s, a, "昆山立达钢结构工程有限公司（测试）", employee_no="CT0003",
                               on=today)
        q = s.get(ContractorQualification, bad.qualification_id)
        assert q is not None
        q.expires_on = today - timedelta(days=12)
        s.get(Person, bad.person_id).name = "孙浩"  # type: ignore[union-attr]
        s.commit()
        return ok.company_id, bad.company_id, bad.person_id


def test_pages_in_chinese_with_admission_reasons(sqlite_env: Env) -> None:
    env = sqlite_env
    ok_id, bad_id, bad_person = seed(env)
    login(env.client, "e1-safety_manager")
    page = env.client.get("/contractors")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    assert "相关方" in page.text and "苏州恒通机电安装有限公司（测试）" in page.text
    row = re.search(rf'<tr data-company="{ok_id}".*?</tr>', page.text, re.S)
    assert row and "已准入" in row.group(0)
    assert '<td data-label="已准入人员" class="ct-admitted">1 / 1</td>' in row.group(0)
    row = re.search(rf'<tr data-company="{bad_id}".*?</tr>', page.text, re.S)
    assert row and "0 / 1" in row.group(0) and "ct-expired" in row.group(0)  # the lapsed licence is the next expiry

    detail = env.client.get(f"/contractors/{bad_id}")
    assert detail.status_code == 200
    worker = re.search(rf'<tr id="worker-{bad_person}".*?</tr>', detail.text, re.S)
    assert worker and 'data-admitted="0"' in worker.group(0) and "未准入" in worker.group(0)
    expired_on = (plant_today() - timedelta(days=12)).isoformat()
    reason = f"昆山立达钢结构工程有限公司（测试）的安全生产许可证 (苏)JZ安许证字[2024]000123 已于 {expired_on} 过期"
    assert reason in worker.group(0)

    en = env.client.get(f"/contractors/{bad_id}?lang=en", headers={"Accept-Language": "en"})
    assert "Not admitted" in en.text and f"expired on {expired_on}" in en.text

    exp = env.client.get("/contractors/expiring")
    assert exp.status_code == 200 and "即将到期的证照" in exp.text
    assert re.search(r'<tr data-kind="qualification" data-expired="1" data-contractor="1">', exp.text)
    assert "相关方单位" in exp.text


def test_forms_errors_at_the_field_and_success(sqlite_env: Env) -> None:
    env = sqlite_env
    ok_id, _bad_id, _p = seed(env)
    login(env.client, "e1-safety_manager")
    token = csrf_of(env.client.get("/contractors").text)
    # A bad credit code: the page again, 422, the message under the field, the typed name kept.
    r = env.client.post("/contractors", data={"csrf_token": token, "name": "无锡新建安装（测试）",
                                              "credit_code": "123", "status": "pending"})
    assert r.status_code == 422
    assert re.search(r'<p class="error" id="err-company-credit_code">不是有效的统一社会信用代码</p>', r.text)
    assert 'value="无锡新建安装（测试）"' in r.text
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ContractorCompany)) == 2
    until = (plant_today() + timedelta(days=365)).isoformat()
    r = env.client.post("/contractors", data={"csrf_token": token, "name": "无锡新建安装（测试）", "status": "admitted",
                                              "agreement_until": until}, follow_redirects=False)
    assert r.status_code == 303
    new_id = int(r.headers["location"].rsplit("/", 1)[1])

    # Qualification with its dates the wrong way round.
    r = env.client.post(f"/contractors/{new_id}/qualifications", data={
        "csrf_token": token, "kind": "安全生产许可证", "issued_on": "2026-05-01", "expires_on": "2026-01-01"})
    assert r.status_code == 422 and 'id="err-qualification-expires_on">不得早于发证日期<' in r.text

    # A worker: missing name refused at the field; then added; then an induction with the default validity.
    r = env.client.post(f"/contractors/{new_id}/workers", data={"csrf_token": token, "mode": "new",
                                                                "employee_no": "CT0500", "name": ""})
    assert r.status_code == 422 and 'id="err-worker-name"' in r.text and 'value="CT0500"' in r.text
    r = env.client.post(f"/contractors/{new_id}/workers", data={"csrf_token": token, "mode": "existing"})
    assert r.status_code == 422 and 'id="err-worker-person_id">此字段为必填项<' in r.text
    r = env.client.post(f"/contractors/{new_id}/workers", data={"csrf_token": token, "mode": "new",
                                                                "employee_no": "CT0500", "name": "周五"},
                        follow_redirects=False)
    assert r.status_code == 303
    with env.db.session() as s:
        pid = s.scalars(select(Person.id).where(Person.employee_no == "CT0500")).one()
    held = plant_today().isoformat()
    r = env.client.post(f"/contractors/{new_id}/inductions", data={
        "csrf_token": token, "person_id": str(pid), "held_on": held, "topic": "入场安全教育", "hours": "",
        "score": "", "passed": "on", "valid_until": ""}, follow_redirects=False)
    assert r.status_code == 303
    r = env.client.post(f"/contractors/{new_id}/workers/{pid}/certificates", data={
        "csrf_token": token, "kind": "低压电工作业", "kind_code": "TZ LV"})
    assert r.status_code == 422 and f'id="err-certificate-{pid}-kind_code"' in r.text
    r = env.client.post(f"/contractors/{new_id}/workers/{pid}/certificates", data={
        "csrf_token": token, "kind": "低压电工作业", "kind_code": "TZ-LV", "expires_on": "2030-01-01"},
        follow_redirects=False)
    assert r.status_code == 303
    page = env.client.get(f"/contractors/{new_id}")
    worker = re.search(rf'<tr id="worker-{pid}".*?</tr>', page.text, re.S)
    assert worker and 'data-admitted="1"' in worker.group(0) and "TZ-LV" in worker.group(0)
    with env.db.session() as s:
        ind = s.scalars(select(SafetyInduction).where(SafetyInduction.person_id == pid)).one()
        assert ind.valid_until > ind.held_on and ind.passed
    # Deleting a company with workers: refused with the reason, nothing deleted.
    r = env.client.post(f"/contractors/{ok_id}/delete", data={"csrf_token": token})
    assert r.status_code == 409 and "仍有 1 名人员在册" in r.text


def test_reader_sees_no_forms_and_cannot_write(sqlite_env: Env) -> None:
    env = sqlite_env
    ok_id, _bad_id, _p = seed(env)
    login(env.client, "e1-auditor")
    page = env.client.get(f"/contractors/{ok_id}")
    assert page.status_code == 200 and 'id="ct-edit"' not in page.text and "ct-worker-new" not in page.text
    token = csrf_of(page.text)
    r = env.client.post(f"/contractors/{ok_id}", data={"csrf_token": token, "name": "改名", "status": "blacklisted"})
    assert r.status_code == 403
    with env.db.session() as s:
        c = s.get(ContractorCompany, ok_id)
        assert c is not None and c.status == "admitted"


def test_people_page_keeps_certificate_kind_codes(sqlite_env: Env) -> None:
    """The person page writes a person's whole certificate list back when it adds one: the codes
    the permit rules match (set through the contractors API) must survive that."""
    env = sqlite_env
    ok_id, _bad_id, _p = seed(env)
    headers = env.as_role("safety_manager")
    with env.db.session() as s:
        pid = s.scalars(select(Person.id).where(Person.contractor_company_id == ok_id)).one()
    r = env.client.post(f"/api/v1/contractors/{ok_id}/workers/{pid}/certificates", headers=headers,
                        json={"kind": "低压电工作业", "kind_code": "TZ-LV", "expires_on": "2030-01-01"})
    assert r.status_code == 201, r.text
    login(env.client, "e1-safety_manager")
    token = csrf_of(env.client.get(f"/people/{pid}").text)
    r = env.client.post(f"/people/{pid}/certificates", data={"csrf_token": token, "kind": "急救员证"},
                        follow_redirects=False)
    assert r.status_code == 303
    certs = env.client.get(f"/api/v1/people/{pid}", headers=headers).json()["certificates"]
    assert sorted((c["kind"], c["kind_code"]) for c in certs) == [("低压电工作业", "TZ-LV"), ("急救员证", "")]
