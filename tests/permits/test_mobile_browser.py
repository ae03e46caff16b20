"""The permit phone pages in headless Chromium as a Pixel 7 (412x839, touch, mobile user agent),
zh-CN. (1) The work leader applies for a second-grade hot-work permit on the phone: sent without
a guardian it is refused at the guardian field with the clause (4.10) and nothing is stored;
completed, it is submitted and waits for approval. The approver finds it under "waiting for my
signature", is stopped until they sign on the pad, signs with the finger and approves: the
signature image and the phone's position are stored and the permit is approved. (2) On an
approved permit, with the service worker running, the work leader confirms the last safety
measure and signs as work leader and briefer on the pad; a start before any gas analysis comes
back refused with the server's message citing 5.3.1 c and is discarded; a gas analysis recorded
offline waits on the phone (also across an offline reload) and is stored exactly once when the
network returns, shown with its limit; then start, suspend (break), a new analysis, resume,
complete; another person (the safety manager) accepts and closes it with a signature. Every
step is in the permit's history. (3) An application sent without network waits on the phone and
is applied and submitted exactly once when the network returns. Chromium is launched once for the
module (the shared ``chromium`` fixture). Browser problems fail the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import utcnow
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Role
from plantguard.permits import approvals, service
from plantguard.permits.calendar import plant_date
from plantguard.permits.contract import SignStep
from plantguard.permits.models import GasAnalysis, Permit, PermitConfig, PermitEvent, PermitSignature
from plantguard.tenancy.models import Person, User
from tests.factories import PASSWORD
from tests.live import Chromium, Problems, log_in
from tests.permits.factories import crew, guardian, person_actor, values
from tests.workorders.test_detail_browser import Served, served  # noqa: F401  (the module's live server)

pytestmark = pytest.mark.browser
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"
SITE = {"latitude": 31.2304, "longitude": 121.4737}


def _actor(s: Any, username: str) -> Actor:
    u = s.scalars(select(User).where(User.username == username)).one()
    return Actor(u.id, u.enterprise_id, Role(u.role), u.username, u.display_name)


@pytest.fixture(scope="module")
def world(served: Served) -> dict[str, Any]:  # noqa: F811
    """The crew (work leader in team T1), the safety manager as the operating unit's approver, and
    a calendar without night or rest days today and tomorrow: the tests run at any hour, and hot
    work must stay second grade (the grade raise has tests of its own)."""
    t = served.tenant
    with served.factory() as s:
        sm = _actor(s, t.users["safety_manager"])
        bind_actor(s, sm)
        c = crew(s, t.enterprise_id)
        leader = s.get(Person, c.leader.id)
        assert leader is not None
        leader.team_id = t.team_id
        today = plant_date(utcnow())
        s.add(PermitConfig(enterprise_id=t.enterprise_id, night_start="00:00", night_end="00:00", holidays=[],
                           workdays=[(today + timedelta(days=d)).isoformat() for d in range(2)], overrides={}))
        approvals.assign(s, sm, role="unit", user_id=sm.user_id)
        s.commit()
        users = {u.person_id: u.username for u in s.scalars(select(User).where(User.enterprise_id == t.enterprise_id))}
        return {"leader": users[c.leader.id], "leader_person": c.leader.id, "workers": [w.id for w in c.workers],
                "worker_user": users[c.workers[0].id], "area": t.area_id}


Phone = Callable[..., tuple[Any, Any, Problems]]


@pytest.fixture
def phone(served: Served, pages: Callable[..., Any], chromium: Chromium) -> Phone:  # noqa: F811
    """Signs a person in on a new Pixel 7 context (zh-CN) at /m/permits; the shared ``pages``
    fixture checks every context for browser problems at the end of the test."""

    def make(username: str, *, worker: bool = False, geo: dict[str, float] | None = None) -> tuple[Any, Any, Problems]:
        extra: dict[str, Any] = {"geolocation": geo, "permissions": ["geolocation"]} if geo else {}
        ctx, page, problems = pages(served.base, timeout=20_000, **chromium.phone, locale="zh-CN",
                                    service_workers="allow" if worker else "block", **extra)
        # the landing page, not the login page's own "?next=/m/permits"
        log_in(page, served.base, username, PASSWORD, start="/login?next=/m/permits", landing=r"^[^?]*/m/permits$",
               tap=True)
        page.wait_for_load_state("networkidle")
        if worker:
            page.wait_for_function("() => navigator.serviceWorker.ready.then(() => true)")
            page.reload(wait_until="networkidle")  # under the worker's control: pages kept for offline use
            assert page.evaluate("!!navigator.serviceWorker.controller")
        return ctx, page, problems

    return make


def draw(page: Any, pad: str) -> None:
    """A signature drawn on the pad with one finger-like stroke."""
    canvas = page.locator(f"{pad} canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    x, y = box["x"] + 20, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(x + i * 30, y + (25 if i % 2 else -25), steps=4)
    page.mouse.up()
    assert page.locator(pad).get_attribute("data-signed") == "yes"


def history(served: Served, pid: int) -> list[str]:  # noqa: F811
    with served.factory() as s:
        return list(s.scalars(select(PermitEvent.kind).where(PermitEvent.permit_id == pid).order_by(PermitEvent.id)))


def test_apply_on_the_phone_and_approve_with_a_drawn_signature(phone: Phone, served: Served,  # noqa: F811
                                                               world: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    t = served.tenant
    with served.factory() as s:
        bind_actor(s, None)
        g = guardian(s, t.enterprise_id, name="吴监护")
        s.commit()
        guard = g.id
    _, page, problems = phone(world["leader"])
    problems.allow("POST", "/api/v1/permits", 422)  # the refusal the test provokes
    assert page.evaluate(NO_SIDEWAYS), "the permit inbox scrolls sideways"
    page.locator("#pm-apply").tap()
    page.wait_for_url(re.compile(r"/m/permits/new$"))
    assert page.evaluate(NO_SIDEWAYS), "the apply form scrolls sideways"
    expect(page.locator("#pm-area")).to_have_value(str(world["area"]))  # my team's area
    expect(page.locator("#pm-leader")).to_have_value(str(world["leader_person"]))  # me
    page.select_option("#pm-type", "lifting")
    expect(page.locator("#pm-fields-lifting")).to_be_visible()
    expect(page.locator("#pm-fields-hot_work")).to_be_hidden()
    page.select_option("#pm-type", "hot_work")
    page.select_option("#pm-grade-hot_work", "second")
    page.select_option("#pm-f-hot_work-hot_work_method", "welding")
    page.fill("#pm-content", "脱硫塔平台护栏焊接修复")
    page.fill("#pm-location", "脱硫塔 12 m 平台")
    page.select_option("#pm-gas", "methane")
    page.select_option("#pm-worker-0", str(world["workers"][0]))

    page.locator("#pm-send").tap()  # no guardian: the server refuses at the field, citing the clause
    refusal = page.locator("#pm-form [data-err-for='guardian_id']")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("4.10")
    said = gettext("This work needs a guardian (%(clause)s)", "zh_CN").split("%(clause)s")[0].rstrip("（( ")
    expect(refusal).to_contain_text(said)  # in the user's language
    expect(page.locator("#pm-content")).to_have_value("脱硫塔平台护栏焊接修复")  # nothing typed is lost
    with served.factory() as s:
        assert s.scalars(select(Permit).where(Permit.content == "脱硫塔平台护栏焊接修复")).first() is None

    page.select_option("#pm-guardian", str(guard))
    page.locator("#pm-send").tap()
    page.wait_for_url(re.compile(r"/m/permits/\d+$"))
    expect(page.locator("#pm-status")).to_have_attribute("data-status", "pending_approval")
    pid = int(page.url.rsplit("/", 1)[1])
    with served.factory() as s:
        p = s.get(Permit, pid)
        assert p is not None and (p.type_code, p.grade, p.guardian_id, p.area_id) == (
            "hot_work", "second", guard, world["area"])
        applicant = s.get(User, p.applicant_user_id)
        assert applicant is not None and applicant.username == world["leader"]
    expect(page.locator("#pm-pending li[data-role='unit']")).to_be_visible()  # waiting for the operating unit

    _, approver, _ = phone(t.users["safety_manager"], geo=SITE)
    card = approver.locator(f"#pm-waiting [data-permit='{pid}']")
    expect(card).to_contain_text("动火作业 · 二级")
    card.locator("a").tap()
    approver.wait_for_url(re.compile(rf"/m/permits/{pid}$"))
    assert approver.evaluate(NO_SIDEWAYS), "the permit page scrolls sideways"
    expect(approver.locator("#pm-approve [data-gps]")).to_have_attribute("data-state", "located")
    approver.locator("#pm-approve-yes").tap()  # not signed yet: stopped on the phone
    expect(approver.locator("#pm-approve [data-error]")).to_be_visible()
    draw(approver, "#pm-approve-pad")
    approver.fill("#pm-approve-comment", "同意，注意防火花飞溅")
    approver.locator("#pm-approve-yes").tap()
    expect(approver.locator("#pm-status")).to_have_attribute("data-status", "approved")
    expect(approver.locator("#pm-signoffs li[data-step='approve:unit']")).to_contain_text("同意，注意防火花飞溅")

    with served.factory() as s:
        sig = s.scalars(select(PermitSignature).where(PermitSignature.permit_id == pid,
                                                      PermitSignature.step == "approve:unit")).one()
        assert sig.decision == "approved" and len(sig.image_sha256) == 64 and sig.image_stored_name
        assert sig.lat == pytest.approx(SITE["latitude"]) and sig.lon == pytest.approx(SITE["longitude"])
        p = s.get(Permit, pid)
        assert p is not None and p.status == "approved" and p.approved_at is not None and p.content_sha256
    assert history(served, pid) == ["applied", "submitted", "approval_step", "approved"]


def approved_permit(served: Served, world: dict[str, Any]) -> int:  # noqa: F811
    """A second-grade hot-work permit applied for by the work leader and approved by the safety
    manager, valid from 5 minutes ago for 4 hours; all but one measure confirmed, the guardian
    and one worker (briefing received) signed."""
    t = served.tenant
    now = utcnow()
    with served.factory() as s:
        leader = _actor(s, world["leader"])
        bind_actor(s, leader)
        body = values(s, t.enterprise_id, "hot_work", "second", content="循环水泵出口管线动火",
                      planned_start=now - timedelta(minutes=5), planned_end=now + timedelta(hours=4))
        permit = service.apply(s, leader, body, now=now - timedelta(minutes=20))
        service.submit(s, leader, permit.id, now=now - timedelta(minutes=15))
        approvals.decide(s, _actor(s, t.users["safety_manager"]), permit.id, approve=True, comment="同意",
                         now=now - timedelta(minutes=10))
        ms = service.measures(s, permit)
        for m in ms[:-1]:
            service.confirm_measure(s, leader, permit.id, m.code, applicable=m.code != "HW04", now=now)
        assert permit.guardian_id is not None
        service.sign(s, person_actor(s, permit.guardian_id), permit.id, SignStep.GUARDIAN, now=now)
        service.sign(s, _actor(s, world["worker_user"]), permit.id, SignStep.BRIEFEE, now=now)
        s.commit()
        assert permit.status == "approved"
        return permit.id


def test_work_on_the_phone_offline_and_close(phone: Phone, served: Served,  # noqa: F811
                                            world: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    pid = approved_permit(served, world)
    ctx, page, problems = phone(world["leader"], worker=True)
    problems.allow("POST", f"/api/v1/permits/{pid}/start", 422)  # the early start the test provokes
    card = page.locator(f"#pm-open [data-permit='{pid}']")
    expect(card).to_contain_text("循环水泵出口管线动火")
    card.locator("a").tap()
    page.wait_for_url(re.compile(rf"/m/permits/{pid}$"))
    status = page.locator("#pm-status")
    expect(status).to_have_attribute("data-status", "approved")

    last = page.locator("li[data-measure][data-applicable='none']")
    expect(last).to_have_count(1)
    code = last.get_attribute("data-measure")
    last.locator("[data-applicable='1']").tap()
    expect(page.locator(f"li[data-measure='{code}']")).to_have_attribute("data-applicable", "yes")

    for step in ("work_leader", "briefer"):
        page.select_option("#pm-sign-step", step)
        draw(page, "#pm-sign-pad")
        page.locator("#pm-sign-send").tap()
        expect(page.locator(f"#pm-signoffs li[data-step='{step}']")).to_have_count(1)

    page.locator("#pm-start").tap()  # no gas analysis yet: refused with the clause, shown on the phone
    refused = page.locator("#m-queue-items li[data-state='refused'][data-action='start']")
    expect(refused).to_contain_text("5.3.1 c")
    refused.locator("[data-discard]").tap()
    expect(page.locator("#m-queue")).to_be_hidden()
    expect(status).to_have_attribute("data-status", "approved")

    ctx.set_offline(True)
    problems.offline = True
    expect(page.locator("#m-offline")).to_be_visible()
    page.select_option("#pm-g-kind", "combustible")
    page.select_option("#pm-g-code", "methane")
    page.fill("#pm-g-value", "8")
    page.select_option("#pm-g-unit", "%LEL")
    page.fill("#pm-g-point", "泵出口法兰")
    page.locator("#pm-g-send").tap()
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "1")
    with served.factory() as s:
        assert s.scalar(select(func.count()).select_from(GasAnalysis).where(GasAnalysis.permit_id == pid)) == 0
    page.reload()  # offline: the service worker's copy, the queue from IndexedDB
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "1")

    ctx.set_offline(False)
    problems.offline = False
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#m-queue")).to_be_hidden()
    expect(page.locator("#pm-analyses li[data-passed='yes']")).to_have_count(1)  # the page shows the server's
    expect(page.locator("#pm-analyses li[data-passed='yes']")).to_contain_text("5.3.2")  # with its limit
    with served.factory() as s:
        rows = s.scalars(select(GasAnalysis).where(GasAnalysis.permit_id == pid)).all()
        assert [(r.kind, r.gas_code, r.value, r.unit, r.sample_point, r.passed) for r in rows] == [
            ("combustible", "methane", 8.0, "%LEL", "泵出口法兰", True)]

    page.locator("#pm-start").tap()
    expect(status).to_have_attribute("data-status", "active")
    page.select_option("#pm-suspend-reason-in", "break")
    page.fill("#pm-suspend-note", "午休")
    page.locator("#pm-suspend").tap()
    expect(status).to_have_attribute("data-status", "suspended")
    page.fill("#pm-g-value", "6")
    page.locator("#pm-g-send").tap()
    expect(page.locator("#pm-analyses li[data-passed='yes']")).to_have_count(2)
    page.locator("#pm-resume").tap()
    expect(status).to_have_attribute("data-status", "active")
    page.locator("#pm-complete").tap()
    expect(status).to_have_attribute("data-status", "completed")
    expect(page.locator("[data-block='close']")).to_have_count(0)  # the work leader does not accept own work

    _, closer, _ = phone(served.tenant.users["safety_manager"])
    closer.goto(served.url(f"/m/permits/{pid}"))
    draw(closer, "#pm-close-pad")
    closer.fill("#pm-close-comment", "现场已清理，验收合格")
    closer.locator("#pm-close").tap()
    expect(closer.locator("#pm-status")).to_have_attribute("data-status", "closed")

    kinds = history(served, pid)
    assert kinds[:4] == ["applied", "submitted", "approval_step", "approved"]
    done = kinds[4:]
    for kind in ("measure_confirmed", "signed", "gas_recorded", "started", "suspended", "resumed", "completed",
                 "closed"):
        assert kind in done, kind
    assert done.count("gas_recorded") == 2 and done[-1] == "closed"
    assert done.index("started") < done.index("suspended") < done.index("resumed") < done.index("completed")
    shown = closer.locator("#pm-history li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert shown == list(reversed(kinds))  # the phone shows the whole history, newest first
    with served.factory() as s:
        p = s.get(Permit, pid)
        assert p is not None and p.status == "closed" and p.closed_at is not None
        acceptance = s.scalars(select(PermitSignature).where(PermitSignature.permit_id == pid,
                                                             PermitSignature.step == "acceptance")).one()
        assert acceptance.comment == "现场已清理，验收合格" and len(acceptance.image_sha256) == 64
        signed = {x.step for x in s.scalars(select(PermitSignature).where(PermitSignature.permit_id == pid))}
        assert {"work_leader", "briefer", "guardian", "briefee", "approve:unit", "acceptance"} <= signed


def test_apply_offline_is_sent_once_when_back_online(phone: Phone, served: Served,  # noqa: F811
                                                     world: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    t = served.tenant
    with served.factory() as s:
        bind_actor(s, None)
        g = guardian(s, t.enterprise_id, name="郑监护")
        s.commit()
        guard = g.id
    ctx, page, problems = phone(world["leader"])
    page.goto(served.url("/m/permits/new"))
    page.select_option("#pm-type", "confined_space")
    page.fill("#pm-f-confined_space-space_name", "V-203 缓冲罐")
    page.fill("#pm-f-confined_space-original_medium", "氮气")
    page.fill("#pm-content", "缓冲罐内部防腐检查")
    page.select_option("#pm-guardian", str(guard))
    page.select_option("#pm-worker-0", str(world["workers"][0]))
    page.locator("#pm-add-worker").tap()
    page.select_option("#pm-worker-2", str(world["workers"][1]))

    ctx.set_offline(True)
    problems.offline = True
    page.locator("#pm-send").tap()
    expect(page.locator("#pm-done")).to_be_visible()
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "1")
    with served.factory() as s:
        assert s.scalars(select(Permit).where(Permit.content == "缓冲罐内部防腐检查")).first() is None

    ctx.set_offline(False)
    problems.offline = False
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#m-queue")).to_be_hidden()
    with served.factory() as s:
        [p] = s.scalars(select(Permit).where(Permit.content == "缓冲罐内部防腐检查")).all()  # exactly one
        assert (p.type_code, p.status, p.fields, p.guardian_id) == (
            "confined_space", "pending_approval", {"space_name": "V-203 缓冲罐", "original_medium": "氮气"}, guard)
        pid = p.id
    assert history(served, pid) == ["applied", "submitted"]
    page.goto(served.url("/m/permits"))
    expect(page.locator(f"#pm-open [data-permit='{pid}']")).to_contain_text("受限空间")
