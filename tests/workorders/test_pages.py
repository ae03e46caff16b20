"""Console pages over HTTP: list with filters and badges, detail with actions by role, a
refused step re-rendered with its message and status, the dashboard panel, manual creation."""

from __future__ import annotations

from tests.web.test_pages import csrf_of, login
from tests.workorders.conftest import WoEnv


def test_pages_actions_by_role_and_refusals(wo: WoEnv) -> None:
    order = wo.create(priority="p1", team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])
    oid = order["id"]
    client = wo.client
    login(client, wo.env.t1.users["safety_manager"])
    client.cookies.set("plantguard_lang", "en")
    page = client.get("/workorders")
    assert page.status_code == 200 and order["number"] in page.text
    assert "wo-prio-p1" in page.text and "wo-st-dispatched" in page.text
    assert client.get("/workorders?status=closed").text.count(f'data-order="{oid}"') == 0
    detail = client.get(f"/workorders/{oid}")
    assert detail.status_code == 200
    assert 'data-action="cancel"' in detail.text and f'action="/workorders/{oid}/dispatch"' in detail.text
    assert 'data-action="close"' not in detail.text  # not awaiting acceptance
    token = csrf_of(detail.text)
    # a refused step (close while dispatched): the page again, with the message, and 409
    r = client.post(f"/workorders/{oid}/close", data={"csrf_token": token, "signature": "x"})
    assert r.status_code == 409 and "it is Dispatched" in r.text and 'id="wo-error"' in r.text
    # missing reason: 422 naming the field
    r = client.post(f"/workorders/{oid}/cancel", data={"csrf_token": token, "reason": ""})
    assert r.status_code == 422 and 'id="wo-error"' in r.text
    # the dashboard panel counts open orders
    panel = client.get("/dashboard/workorders")
    assert panel.status_code == 200 and 'data-status="dispatched" data-count="1"' in panel.text
    # manual creation from the list page
    r = client.post("/workorders", data={"csrf_token": token, "title": "Guard rail loose", "priority": "p2",
                                         "team_id": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/workorders/")
    created = client.get(r.headers["location"])
    assert "Guard rail loose" in created.text and "wo-st-pending" in created.text
    r = client.post("/workorders", data={"csrf_token": token, "title": ""}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/workorders?error=1"
    # the cancel succeeds with a reason
    r = client.post(f"/workorders/{oid}/cancel", data={"csrf_token": token, "reason": "duplicate"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert 'data-status="cancelled"' in client.get(f"/workorders/{oid}").text


def test_auditor_sees_no_actions_and_other_tenant_404(wo: WoEnv) -> None:
    oid = wo.create()["id"]
    login(wo.client, wo.env.t1.users["auditor"])
    page = wo.client.get(f"/workorders/{oid}")
    assert page.status_code == 200 and "data-action=" not in page.text and "wo-new" not in page.text
    wo.client.cookies.clear()
    login(wo.client, wo.env.t2.users["safety_manager"])
    assert wo.client.get(f"/workorders/{oid}").status_code == 404
