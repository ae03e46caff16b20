"""The permit console on both backends, signed in through the login form: the board puts each
permit in its status column (a suspended one highlighted with its reason), the calendar on the
days of its planned window, the site map at its plan position or its area's centre; filters;
the detail page shows everything and offers the caller's steps; the apply form applies (and
submits), refusals come back at the field in zh-CN and en with nothing written; the dashboard
panel counts live permits; another tenant's permit is not found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from plantguard.audit.ledger import bind_actor
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Role
from plantguard.permits import board, service
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit, PermitMeasure
from plantguard.tenancy.models import User
from tests.api import conftest as api_fixtures
from tests.api.conftest import Env
from tests.factories import Tenant
from tests.permits.factories import DAY, crew, guardian, make_active, make_approved, make_permit
from tests.web.test_pages import csrf_of, login

env = api_fixtures.env  # the app on both backends, two tenants


def actor_of(env: Env, role: str, tenant: Tenant | None = None) -> Actor:
    tenant = tenant or env.t1
    with env.db.factory() as s:
        u = s.scalars(select(User).where(User.username == tenant.users[role])).one()
        return Actor(u.id, tenant.enterprise_id, Role(role), u.username, u.display_name)


@dataclass
class Seeded:
    draft: int
    pending: int
    approved: int
    active: int
    suspended: int


def seed(env: Env) -> Seeded:
    """One permit in each board column, all on Wednesday 2026-11-25 in plant time."""
    sm = actor_of(env, "safety_manager")
    with env.db.factory() as s:
        bind_actor(s, sm)
        draft = make_permit(s, sm, "hot_work", "second", content="更换法兰垫片")
        pending = make_permit(s, sm, "work_at_height", "II", plan_x=40.0, plan_y=10.0)
        service.submit(s, sm, pending.id, now=DAY - timedelta(hours=1))
        approved = make_approved(s, sm, "confined_space", area_id=env.t1.area2_id)
        active = make_active(s, sm, "lifting", "third", planned_end=DAY + timedelta(hours=20))
        suspended = make_active(s, sm, "hot_work", "second")
        leader = crew(s, sm.enterprise_id)
        service.suspend(s, leader.actor(leader.leader), suspended.id, "break", "午休",
                        now=DAY + timedelta(minutes=40))
        s.commit()
        return Seeded(draft.id, pending.id, approved.id, active.id, suspended.id)


def signed_in(env: Env, role: str = "safety_manager", lang: str = "zh_CN", tenant: Tenant | None = None) -> TestClient:
    client = env.client
    client.cookies.clear()
    client.get(f"/lang/{lang}?next=/login")
    r = login(client, (tenant or env.t1).users[role])
    assert r.status_code == 303, getattr(r, "text", "")
    return client


def section(html: str, ident: str) -> str:
    """The markup of the element with ``id=ident`` up to the next sibling section/day."""
    start = html.index(f'id="{ident}"')
    end = min([i for i in (html.find("<section", start + 1), html.find('class="pt-day', start + 1)) if i > 0]
              or [len(html)])
    return html[start:end]


def test_board_calendar_map_and_detail(env: Env) -> None:
    ids = seed(env)
    t = gettext
    client = signed_in(env)
    html = client.get("/permits").text
    assert 'aria-current="page">作业票<' in html or t("Permits", "zh_CN") in html
    cols = {st: section(html, f"pt-col-{st}") for st in board.COLUMNS}
    assert f'data-permit="{ids.draft}"' in cols[S.DRAFT] and "更换法兰垫片" not in cols[S.DRAFT]  # cards, not content
    assert f'data-permit="{ids.pending}"' in cols[S.PENDING]
    assert f'data-permit="{ids.approved}"' in cols[S.APPROVED] and "焊装车间" in cols[S.APPROVED]
    assert f'data-permit="{ids.active}"' in cols[S.ACTIVE] and "吊装作业" in cols[S.ACTIVE]
    assert f'data-permit="{ids.suspended}"' in cols[S.SUSPENDED]
    assert t("Break in the work", "zh_CN") in cols[S.SUSPENDED] and "午休" in cols[S.SUSPENDED]
    assert "二级" in cols[S.DRAFT] and "孙监护" in cols[S.DRAFT]  # grade badge, guardian
    assert t(board.COLUMN_EMPTY[S.COMPLETED], "zh_CN") in cols[S.COMPLETED]  # an empty column says what comes
    only = client.get("/permits", params={"type": "confined_space"}).text
    assert f'data-permit="{ids.approved}"' in only and f'data-permit="{ids.draft}"' not in only
    by_area = client.get("/permits", params={"area_id": env.t1.area2_id}).text
    assert f'data-permit="{ids.approved}"' in by_area and f'data-permit="{ids.active}"' not in by_area

    # calendar: the week and the month of 25 November 2026; the lift runs into Thursday
    week = client.get("/permits/calendar", params={"view": "week", "date": "2026-11-25"}).text
    wed, thu, tue = (week.split(f'data-date="2026-11-{d}"')[1].split('data-date="')[0]
                     for d in ("25", "26", "24"))
    for pid in (ids.draft, ids.pending, ids.approved, ids.active, ids.suspended):
        assert f'data-permit="{pid}"' in wed
    assert f'data-permit="{ids.active}"' in thu and f'data-permit="{ids.draft}"' not in thu
    assert "data-permit" not in tue and "09:00–12:00" in wed and "→ 05:00" in thu
    month = client.get("/permits/calendar", params={"view": "month", "date": "2026-11-02"}).text
    assert 'data-date="2026-10-26"' in month and 'data-date="2026-12-06"' in month  # whole weeks
    assert month.split('data-date="2026-11-25"')[1].split('data-date="')[0].count("data-permit=") == 4  # 4 + "more"
    empty = client.get("/permits/calendar", params={"view": "week", "date": "2027-03-03"}).text
    assert 'id="pt-cal-empty"' in empty

    # the map: live permits only, at the plan position or the area outline's centre
    m = client.get("/permits/map").text
    assert f'data-permit="{ids.draft}"' not in section(m, "pt-map")
    assert re.search(rf'data-permit="{ids.pending}"[^>]*data-x="40.00" data-y="10.00"', m)
    assert re.search(rf'data-permit="{ids.approved}"[^>]*data-x="85.00" data-y="15.00"', m)  # 焊装车间 60..110 × 0..30
    assert re.search(rf'class="pt-marker pt-marker-suspended" href="/permits/{ids.suspended}"', m)

    # detail: everything and the steps the caller may take
    d = client.get(f"/permits/{ids.suspended}").text
    assert "动火作业" in d and 'id="pt-suspended"' in d and "午休" in d and f"/api/v1/permits/{ids.suspended}/pdf" in d
    assert f'action="/permits/{ids.suspended}/resume"' in d and f'action="/permits/{ids.suspended}/cancel"' in d
    assert f'action="/permits/{ids.suspended}/submit"' not in d
    assert "动火设备内部构件清洗干净" in d and 'data-passed="yes"' in d and 'data-kind="suspended"' in d
    assert f'action="/permits/{ids.draft}/submit"' in client.get(f"/permits/{ids.draft}").text

    # English
    client = signed_in(env, lang="en")
    html = client.get("/permits").text
    assert "Break in the work" in html and "Awaiting approval" in html and "Hot work" in html
    d = client.get(f"/permits/{ids.approved}").text
    assert "Confined-space entry" in d and "Start work" in d

    # an auditor reads, and is offered nothing to do
    client = signed_in(env, "auditor")
    d = client.get(f"/permits/{ids.approved}").text
    assert 'id="form-start"' not in d and 'id="form-cancel"' not in d
    assert client.get("/permits/new").status_code == 403

    # another enterprise: not found, and its board is empty
    client = signed_in(env, tenant=env.t2)
    assert client.get(f"/permits/{ids.approved}").status_code == 404
    assert "data-permit=" not in client.get("/permits").text


def form_body(env: Env, csrf: str, **over: str) -> dict[str, str]:
    with env.db.factory() as s:
        bind_actor(s, None)
        c = crew(s, env.t1.enterprise_id)
        g = guardian(s, env.t1.enterprise_id, c)
        s.commit()
        leader, w1, gid = c.leader.id, c.workers[0].id, g.id
    body = {"csrf_token": csrf, "type_code": "hot_work", "hot_work.grade": "second",
            "hot_work.hot_work_method": "welding",
            "content": "储罐区管线动火焊接", "area_id": str(env.t1.area_id), "location": "T-101 东侧",
            "planned_start": "2026-11-25T09:00", "planned_end": "2026-11-25T12:00", "work_leader_id": str(leader),
            "guardian_id": str(gid), "workers.0.person_id": str(w1), "workers.0.role": "worker",
            "jsa.0.step": "隔离", "jsa.0.hazards": "泄漏", "jsa.0.controls": "加盲板", "gas_code": "methane",
            "then": "draft"}
    body.update(over)
    return body


def count(env: Env) -> int:
    with env.db.factory() as s:
        return int(s.scalar(select(func.count()).select_from(Permit)) or 0)


def test_apply_form(env: Env) -> None:
    client = signed_in(env, "safety_manager")
    page = client.get("/permits/new")
    assert page.status_code == 200 and 'id="pt-fields-lifting"' in page.text and "动火方式" in page.text
    assert 'name="confined_space.space_name"' in page.text and 'id="pt-save-draft"' in page.text
    csrf = csrf_of(page.text)
    body = form_body(env, csrf)
    assert "刘负责" in client.get("/permits/new").text  # people with their certificates are offered

    # refusals: each at its field, in the caller's language, nothing written
    before = count(env)
    bad = client.post("/permits/new", data={**body, "content": "", "planned_end": "2026-11-25T08:00",
                                            "hot_work.hot_work_method": ""}, follow_redirects=False)
    assert bad.status_code == 422
    assert 'id="err-content"' in bad.text and 'id="err-fields-hot_work_method"' in bad.text
    assert 'value="T-101 东侧"' in bad.text  # what was typed comes back
    zh_msg = re.search(r'id="err-content" role="alert">([^<]+)<', bad.text)
    assert zh_msg and re.search(r"[\u4e00-\u9fff]", zh_msg.group(1))
    assert client.post("/permits/new", data={**body, "planned_start": "tomorrow"}).status_code == 422
    assert count(env) == before
    client = signed_in(env, "safety_manager", lang="en")
    csrf = csrf_of(client.get("/permits/new").text)
    bad = client.post("/permits/new", data={**body, "csrf_token": csrf, "planned_start": "soon"})
    assert bad.status_code == 422 and re.search(r'id="err-planned_start" role="alert">Enter a date and time<', bad.text)
    assert count(env) == before

    # a draft, then one applied and submitted at once
    ok = client.post("/permits/new", data={**body, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    pid = int(ok.headers["location"].rsplit("/", 1)[1])
    with env.db.factory() as s:
        p = s.get(Permit, pid)
        assert p is not None and p.status == S.DRAFT and p.grade == "second" and p.location == "T-101 东侧"
        assert p.jsa == [{"step": "隔离", "hazards": "泄漏", "controls": "加盲板"}] and p.gas_code == "methane"
    body2 = form_body(env, csrf, then="submit", content="受限空间内清罐", type_code="confined_space",
                      **{"confined_space.space_name": "T-102", "confined_space.original_medium": "甲醇"})
    ok = client.post("/permits/new", data=body2, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    with env.db.factory() as s:
        p = s.get(Permit, int(ok.headers["location"].rsplit("/", 1)[1]))
        assert p is not None and p.type_code == "confined_space" and p.status == S.PENDING
        assert p.fields == {"space_name": "T-102", "original_medium": "甲醇"}  # the hot-work fields were not read
    # a worker may not apply
    client = signed_in(env, "worker")
    assert client.post("/permits/new", data={**body, "csrf_token": csrf_of(client.get("/permits").text)}
                       ).status_code == 403
    assert count(env) == before + 2


def test_detail_steps_and_refusals(env: Env) -> None:
    sm = actor_of(env, "safety_manager")
    with env.db.factory() as s:
        bind_actor(s, sm)
        pid = make_approved(s, sm, "hot_work", "second").id
        s.commit()
    client = signed_in(env, "safety_manager")
    page = client.get(f"/permits/{pid}").text
    csrf = csrf_of(page)
    # confirm a measure
    r = client.post(f"/permits/{pid}/confirm", data={"csrf_token": csrf, "code": "HW01", "applicable": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    with env.db.factory() as s:
        m = s.scalars(select(PermitMeasure).where(PermitMeasure.permit_id == pid, PermitMeasure.code == "HW01")).one()
        assert m.applicable is True and m.confirmed_at is not None
    # a gas value that is no number: at its field, zh-CN
    r = client.post(f"/permits/{pid}/gas", data={"csrf_token": csrf, "kind": "combustible", "value": "abc",
                                                  "unit": "%LEL", "sampled_at": "2026-11-25T08:50"})
    assert r.status_code == 422 and 'data-field="value"' in r.text
    assert gettext("Enter a number", "zh_CN") in r.text
    # start without the sign-offs and analyses: every reason listed under the start form
    r = client.post(f"/permits/{pid}/start", data={"csrf_token": csrf})
    assert r.status_code in (409, 422) and 'id="pt-errors-start"' in r.text
    with env.db.factory() as s:
        assert s.get(Permit, pid).status == S.APPROVED  # type: ignore[union-attr]
    # cancel needs a reason (en), then works
    client = signed_in(env, "safety_manager", lang="en")
    r = client.post(f"/permits/{pid}/cancel", data={"csrf_token": csrf_of(client.get(f"/permits/{pid}").text),
                                                     "reason": ""})
    assert r.status_code == 422 and re.search(r'data-field="reason" role="alert">[A-Za-z]', r.text)
    csrf = csrf_of(client.get(f"/permits/{pid}").text)
    assert client.post(f"/permits/{pid}/cancel", data={"csrf_token": csrf, "reason": "计划变更"},
                       follow_redirects=False).status_code == 303
    assert 'id="pt-status" data-status="cancelled"' in client.get(f"/permits/{pid}").text


def test_dashboard_panel(env: Env) -> None:
    client = signed_in(env)
    empty = client.get("/dashboard/permits").text
    assert 'class="empty"' in empty and 'data-status="active" data-count="0"' in empty
    assert 'hx-get="/dashboard/permits"' in client.get("/dashboard").text
    ids = seed(env)
    html = client.get("/dashboard/permits").text
    for status, n in ((S.PENDING, 1), (S.APPROVED, 1), (S.ACTIVE, 1), (S.SUSPENDED, 1)):
        assert f'data-status="{status}" data-count="{n}"' in html
    assert f'data-permit="{ids.suspended}"' in html and "午休" in html and 'class="empty"' not in html



def test_hostile_urls_and_forms(env: Env) -> None:
    """Nothing sent to the permit pages makes them answer 5xx."""
    sm = actor_of(env, "safety_manager")
    with env.db.factory() as s:
        bind_actor(s, sm)
        pid = make_approved(s, sm, "hot_work", "second").id
        s.commit()
    client = signed_in(env, "admin")
    for url in ("/permits/99999999999999999999", "/permits/0", "/permits/abc", "/permits?type=%00",
                "/permits?area_id=99999999999999999999", "/permits/calendar?date=0001-01-01",
                "/permits/calendar?date=9999-12-31&view=month", "/permits/calendar?date=%00&view=%00",
                "/permits/map?site_id=99999999", "/permits/map?site_id=%00", "/permits/new?type=%00",
                f"/permits/{pid}/signatures/1", "/permits/999999/pdf"):
        r = client.get(url)
        assert r.status_code < 500, f"{url}: {r.status_code}"
    csrf = csrf_of(client.get(f"/permits/{pid}").text)
    for action, data in (("gas", {"value": "nan", "kind": "combustible", "unit": "%vol"}),
                         ("gas", {"value": "1e999", "kind": "%00", "unit": "x", "sampled_at": "x"}),
                         ("confirm", {"code": "X" * 40, "applicable": "1"}), ("sign", {"step": "%00"}),
                         ("suspend", {"reason": "x"}), ("approve", {"decision": "approve", "role": "x"})):
        r = client.post(f"/permits/{pid}/{action}", data={"csrf_token": csrf, **data})
        assert 400 <= r.status_code < 500, f"{action}: {r.status_code}"
    r = client.post("/permits/99999999/start", data={"csrf_token": csrf})
    assert r.status_code == 404
    r = client.post("/permits/new", data={"csrf_token": csrf, "type_code": "x", "plan_x": "1e400",
                                          "workers.0.person_id": "9" * 30, "links": "abc", "area_id": "-1"})
    assert r.status_code == 422


def test_approve_and_sign_from_detail(env: Env) -> None:
    """The assigned approver approves on the detail page (the only approver of a second-grade
    hot-work permit: the unit); the work leader then signs as themselves, and may not sign as
    the guardian (refused in the form, in zh-CN)."""
    from plantguard.permits import approvals

    sm, leader = actor_of(env, "safety_manager"), actor_of(env, "team_leader")
    with env.db.factory() as s:
        bind_actor(s, sm)
        approvals.assign(s, sm, role="unit", user_id=leader.user_id)
        p = make_permit(s, sm, "hot_work", "second")
        service.submit(s, sm, p.id, now=DAY - timedelta(hours=1))
        leader_login = s.scalars(select(User.username).where(User.person_id == crew(s, sm.enterprise_id).leader.id)
                                 ).one()
        s.commit()
        pid = p.id
    client = signed_in(env, "safety_manager")
    assert 'id="form-approve"' not in client.get(f"/permits/{pid}").text  # not theirs to approve
    client = signed_in(env, "team_leader")
    page = client.get(f"/permits/{pid}").text
    assert 'id="form-approve"' in page and 'data-role="unit"' in page
    r = client.post(f"/permits/{pid}/approve", data={"csrf_token": csrf_of(page), "decision": "approve",
                                                     "comment": "同意，按方案执行"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(f"/permits/{pid}").text
    assert 'data-status="approved"' in page and 'data-step="approve:unit"' in page and "同意，按方案执行" in page
    pdf = client.get(f"/api/v1/permits/{pid}/pdf")  # the page's link, with the session cookie
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

    client.cookies.clear()
    client.get("/lang/zh_CN?next=/login")
    assert login(client, leader_login).status_code == 303
    page = client.get(f"/permits/{pid}").text
    csrf = csrf_of(page)
    r = client.post(f"/permits/{pid}/sign", data={"csrf_token": csrf, "step": "guardian"})
    assert r.status_code == 409 and 'id="pt-errors-sign"' in r.text and "GB 30871-2022 4.10" in r.text
    r = client.post(f"/permits/{pid}/sign", data={"csrf_token": csrf, "step": "work_leader", "comment": "已交底"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert 'data-step="work_leader"' in client.get(f"/permits/{pid}").text
