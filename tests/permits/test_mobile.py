"""The permit phone pages on both backends, signed in through the login form: "my permits" lists
only the permits the person applied for or is named on (open ones first, finished ones apart),
"waiting for my signature" only those whose current approval step is theirs; the permit page
offers the steps this person may take in this status (and none to an auditor); the apply page
defaults to the person's team area, themselves as work leader and a window from half an hour
to eight hours ahead; the live readings of a bound point come judged against the permit's
limit; pages render in zh-CN and en; another tenant's permit is not found."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.assets.models import MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Role
from plantguard.ingest.reading import to_us
from plantguard.permits import approvals, points, service
from plantguard.permits.mobile import NO_LIVE
from plantguard.tenancy.models import Person, User
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.timeseries.models import PointLast
from tests.api import conftest as api_fixtures
from tests.api.conftest import Env
from tests.factories import Tenant
from tests.permits.factories import DAY, crew, make_active, make_approved, make_permit
from tests.web.test_pages import login

env = api_fixtures.env  # the app on both backends, two tenants


def actor_of(env: Env, role: str, tenant: Tenant | None = None) -> Actor:
    tenant = tenant or env.t1
    with env.db.factory() as s:
        u = s.scalars(select(User).where(User.username == tenant.users[role])).one()
        return Actor(u.id, tenant.enterprise_id, Role(role), u.username, u.display_name)


def phone(env: Env, username: str, lang: str = "zh_CN") -> TestClient:
    client = env.client
    client.cookies.clear()
    client.get(f"/lang/{lang}?next=/login")
    r = login(client, username, next="/m/permits")
    assert r.status_code == 303, getattr(r, "text", "")
    return client


def section(html: str, ident: str) -> str:
    """The element with ``id=ident`` up to the next heading."""
    start = html.index(f'id="{ident}"')
    end = html.find("<h2", start)
    return html[start:end if end > 0 else len(html)]


def block(html: str, name: str) -> str:
    """The opening tag of the step block ``name`` (its ``hidden`` says whether it shows now)."""
    m = re.search(rf'<[^>]*data-block="{name}"[^>]*>', html)
    assert m, name
    return m.group(0)


def test_my_permits_and_waiting_for_my_signature(env: Env) -> None:
    sm = actor_of(env, "safety_manager")
    with env.db.factory() as s:
        bind_actor(s, sm)
        c = crew(s, env.t1.enterprise_id)
        w1, w2 = c.workers
        mine = make_permit(s, sm, "hot_work", "second", content="我参加的动火")
        others = make_permit(s, sm, "work_at_height", "II", content="别人的高处作业",
                             workers=[{"person_id": w2.id, "role": "worker"}])
        finished = make_permit(s, sm, "confined_space", content="已作废的受限空间")
        service.cancel(s, sm, finished.id, "计划取消", now=DAY - timedelta(hours=1))
        waiting = make_permit(s, sm, "lifting", "third", content="待审批的吊装")
        service.submit(s, sm, waiting.id, now=DAY - timedelta(hours=1))
        approvals.assign(s, sm, role="specialist_dept", user_id=c.users[c.leader.id])
        s.commit()
        w1_user = s.get(User, c.users[w1.id])
        leader_user = s.get(User, c.users[c.leader.id])
        assert w1_user is not None and leader_user is not None
        w1_name, leader_name = w1_user.username, leader_user.username
        ids = (mine.id, others.id, finished.id, waiting.id)

    # a worker named on one permit: that one is theirs, the other is not; no approval inbox
    client = phone(env, w1_name)
    html = client.get("/m/permits").text
    assert '<html lang="zh-CN">' in html
    open_ = section(html, "pm-open")
    assert f'data-permit="{ids[0]}"' in open_ and "我参加的动火" in open_ and "动火作业 · 二级" in open_
    assert f'data-permit="{ids[1]}"' not in html
    assert f'data-permit="{ids[2]}"' in section(html, "pm-done")  # finished, listed apart
    assert f'data-permit="{ids[3]}"' in open_  # named as a worker on the lift too (the factory's crew)
    assert 'id="pm-waiting"' not in html and 'id="pm-apply"' not in html  # a worker neither approves nor applies
    assert gettext("Waiting for my signature", "zh_CN") not in html

    # the work leader holds the specialist department's role: the lift waits for their signature
    client = phone(env, leader_name, "en")
    html = client.get("/m/permits").text
    waiting_html = section(html, "pm-waiting")
    assert f'data-permit="{ids[3]}"' in waiting_html and "Specialist department" in waiting_html
    assert f'data-permit="{ids[0]}"' not in waiting_html and "Lifting" in waiting_html
    assert "Waiting for my signature" in html and 'id="pm-apply"' in html
    page = client.get(f"/m/permits/{ids[3]}").text
    assert 'id="pm-approve"' in page and "hidden" not in block(page, "approve") and "data-pad" in page

    # the safety manager applied for all four and is named on none: their own applications
    client = phone(env, env.t1.users["safety_manager"])
    html = client.get("/m/permits").text
    for pid in ids[:2] + ids[3:]:
        assert f'data-permit="{pid}"' in section(html, "pm-open")
    assert gettext("No permit is waiting for your signature.", "zh_CN") in html  # no role assigned to them

    # another enterprise: not found, and nothing listed
    client = phone(env, env.t2.users["safety_manager"])
    assert client.get(f"/m/permits/{ids[0]}").status_code == 404
    assert client.get(f"/m/permits/{ids[0]}/live").status_code == 404
    assert "data-permit=" not in client.get("/m/permits").text


def test_permit_page_offers_the_steps_of_this_person_now(env: Env) -> None:
    sm = actor_of(env, "safety_manager")
    with env.db.factory() as s:
        bind_actor(s, sm)
        c = crew(s, env.t1.enterprise_id)
        active = make_active(s, sm, "hot_work", "second", content="在作业的动火")
        approved = make_approved(s, sm, "confined_space", content="已批准的受限空间")
        service.complete(s, sm, active.id, "完工", now=active.planned_start + timedelta(hours=1))
        done_id = active.id
        working = make_active(s, sm, "hot_work", "second", content="另一处动火")
        s.commit()
        leader = s.get(User, c.users[c.leader.id])
        assert leader is not None
        leader_name, approved_id, working_id = leader.username, approved.id, working.id

    # the work leader on work under way: suspend and complete now; resume once suspended
    client = phone(env, leader_name)
    html = client.get(f"/m/permits/{working_id}").text
    assert 'id="pm-status" data-status="active"' in html
    assert "hidden" not in block(html, "suspend") and "hidden" not in block(html, "complete")
    assert "hidden" in block(html, "resume") and 'data-when="suspended"' in block(html, "resume")
    assert 'data-block="start"' not in html and 'data-block="close"' not in html  # their own work: no acceptance
    assert "动火设备内部构件清洗干净" in html and 'data-applicable="yes"' in html  # the checklist, decided
    gas = section(html, "pm-analyses")
    assert 'data-passed="yes"' in gas and "5.3.2" in gas  # the result with its limit and clause
    assert gettext(NO_LIVE, "zh_CN") in html  # no bound points
    assert re.search(r'data-kind="started"', section(html, "pm-history"))

    # the same leader on an approved permit: start (and the gas form) shown, suspend waiting for it
    html = client.get(f"/m/permits/{approved_id}").text
    assert "hidden" not in block(html, "start") and "hidden" not in block(html, "gas")
    assert "hidden" in block(html, "suspend")
    client = phone(env, leader_name, "en")
    html = client.get(f"/m/permits/{approved_id}").text
    assert "Confined-space entry" in html and "Start work" in html and '<html lang="en">' in html

    # the safety manager may accept completed work they did not do
    client = phone(env, env.t1.users["safety_manager"], "en")
    html = client.get(f"/m/permits/{done_id}").text
    assert "hidden" not in block(html, "close") and "Accept and close" in html

    # an auditor reads, and is offered nothing
    client = phone(env, env.t1.users["auditor"])
    html = client.get(f"/m/permits/{working_id}").text
    assert 'id="pm-nothing"' in html and "data-block=" not in html
    assert client.get("/m/permits/new").status_code == 403


def test_apply_page_defaults(env: Env) -> None:
    with env.db.factory() as s:
        bind_actor(s, None)
        c = crew(s, env.t1.enterprise_id)
        person = s.get(Person, c.leader.id)
        assert person is not None
        person.team_id = env.t1.team_id  # team T1 works in area ST
        s.commit()
        leader = s.get(User, c.users[c.leader.id])
        assert leader is not None
        name, me = leader.username, c.leader.id
    client = phone(env, name)
    before = datetime.now(plant_tz()).replace(second=0, microsecond=0)
    html = client.get("/m/permits/new").text
    assert re.search(rf'<option value="{env.t1.area_id}" selected>', html)  # my team's area
    leader_select = html.split('id="pm-leader"')[1].split("</select>")[0]
    assert re.search(rf'<option value="{me}" selected>刘负责', leader_select)
    start = re.search(r'id="pm-start" type="datetime-local" value="([^"]+)"', html)
    end = re.search(r'id="pm-end" type="datetime-local" value="([^"]+)"', html)
    assert start and end
    s_at = datetime.strptime(start.group(1), "%Y-%m-%dT%H:%M").replace(tzinfo=plant_tz())
    e_at = datetime.strptime(end.group(1), "%Y-%m-%dT%H:%M").replace(tzinfo=plant_tz())
    assert timedelta(minutes=29) <= s_at - before <= timedelta(minutes=31)
    assert e_at - s_at == timedelta(hours=7, minutes=30)
    assert 'id="pm-fields-hot_work"' in html and "动火方式" in html and 'id="pm-fields-lifting"' in html
    client = phone(env, name, "en")
    assert "Hot-work method" in client.get("/m/permits/new").text


def test_live_readings_are_judged_against_the_permit_limit(env: Env) -> None:
    sm = actor_of(env, "safety_manager")
    with env.db.factory() as s:
        bind_actor(s, sm)
        permit = make_approved(s, sm, "hot_work", "second")  # gas of concern: methane (LEL 5 %)
        pt = MeasurementPoint(enterprise_id=env.t1.enterprise_id, equipment_id=env.t1.equipment_id, code="GD-01",
                              name="可燃气体探头", quantity="gas_lel", unit="%LEL", range_low=0, range_high=100)
        s.add(pt)
        s.flush()
        points.bind(s, sm, permit.id, point_id=pt.id, kind="combustible")
        s.add(PointLast(point_id=pt.id, enterprise_id=env.t1.enterprise_id, ts=to_us(DAY), value=20.0, quality=0))
        s.commit()
        pid, point_id = permit.id, pt.id
    client = phone(env, env.t1.users["safety_manager"], "en")
    html = client.get(f"/m/permits/{pid}").text
    assert 'data-points="yes"' in html
    body = client.get(f"/m/permits/{pid}/live").json()
    [row] = body["points"]
    assert row["point_id"] == point_id and row["code"] == "GD-01" and row["value"] == 20.0
    assert row["passed"] is False and "5.3.2" in row["limit"]  # 20 %LEL of methane = 1 %vol > 0.5 %vol
    with env.db.factory() as s:
        last = s.get(PointLast, point_id)
        assert last is not None
        last.value = 6.0  # 0.3 %vol
        s.commit()
    assert client.get(f"/m/permits/{pid}/live").json()["points"][0]["passed"] is True
