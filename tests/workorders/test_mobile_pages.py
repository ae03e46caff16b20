"""The phone pages over HTTP: sign-in required; "my tasks" lists the caller's and their
team's open orders (urgent first, overdue marked) and nobody else's; the task page offers the
worker's steps only to the assignee's team; another tenant's order is not found."""

from __future__ import annotations

from datetime import timedelta

from plantguard.core.db import utcnow
from plantguard.workorders.models import WorkOrder
from tests.web.test_pages import login
from tests.workorders.conftest import WoEnv


def test_my_tasks_and_task_page(wo: WoEnv) -> None:
    client = wo.client
    r = client.get("/m/tasks", follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]

    low = wo.create(priority="p4", title="巡检记录", team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])
    urgent = wo.create(priority="p1", title="液压油泄漏", team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker2"])
    nobody = wo.create(priority="p1", title="无人认领")  # pending, no team: not anyone's task
    other = wo.client.post("/api/v1/workorders", json={"title": "外厂工单", "team_id": wo.env.t2.team_id},
                           headers=wo.h("safety_manager", wo.env.t2)).json()
    with wo.env.db.factory() as s:
        row = s.get(WorkOrder, low["id"])
        assert row is not None
        row.due_at = utcnow() - timedelta(minutes=5)
        s.commit()

    login(client, wo.env.t1.users["worker"])
    client.cookies.set("plantguard_lang", "en")
    page = client.get("/m/tasks")
    assert page.status_code == 200 and 'id="m-config"' in page.text
    text = page.text
    assert text.index(f'data-order="{urgent["id"]}"') < text.index(f'data-order="{low["id"]}"')  # p1 first
    assert f'data-order="{nobody["id"]}"' not in text and "外厂工单" not in text
    low_card = text[text.index(f'data-order="{low["id"]}"'):]
    assert "Overdue" in low_card[:low_card.index("</li>")]

    task = client.get(f"/m/tasks/{urgent['id']}")  # a teammate's order: same team, may take it on
    assert task.status_code == 200 and 'id="m-accept"' in task.text and 'capture="environment"' in task.text
    assert client.get(f"/m/tasks/{other['id']}").status_code == 404
    assert client.get("/m/tasks/0").status_code in (404, 422)

    client.cookies.clear()
    login(client, wo.env.t1.users["contractor"])  # handles work orders, but not this team's
    client.cookies.set("plantguard_lang", "en")
    task = client.get(f"/m/tasks/{urgent['id']}")
    assert task.status_code == 200 and 'id="m-accept"' not in task.text
    assert "Only the assignee or a member of the assigned team may do this" in task.text
    assert f'data-order="{urgent["id"]}"' not in client.get("/m/tasks").text
