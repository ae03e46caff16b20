"""The phone task app in headless Chromium with a Pixel 7's screen, touch and user agent, and
the service worker running: the worker sees the task, takes it on, loses the network, records
a note, takes an "after" photo and hands over; the steps wait in the queue (shown as "3 条待同步",
kept across an offline reload); back online they are sent once each and the server has them.
A step queued offline on an order cancelled meanwhile comes back refused with the server's
message, stays visible, and can be discarded. Browser problems fail the test."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.workorders.models import WorkOrder, WorkOrderAttachment, WorkOrderEvent
from tests.factories import PASSWORD
from tests.live import Chromium, Problems, log_in
from tests.workorders.test_detail_browser import Served, served  # noqa: F401  (the module's live server)
from tests.workorders.test_lifecycle_api import png_bytes

pytestmark = pytest.mark.browser
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"


def open_order(srv: Served, title: str, priority: str = "p2") -> int:
    from plantguard.workorders import service

    t = srv.tenant
    with srv.factory() as s:
        bind_actor(s, None)
        order = service.open_order(s, t.enterprise_id, title=title, at=datetime.now(UTC), team_id=t.team_id,
                                   assignee_id=srv.ids["worker"], priority=priority)
        s.commit()
        return order.id


@pytest.fixture
def phone(pages: Callable[..., Any], chromium: Chromium, served: Served) -> tuple[Any, Any, Problems]:  # noqa: F811
    """A Pixel 7 context (zh-CN), service worker allowed, signed in as the worker on /m/tasks."""
    ctx, page, problems = pages(served.base, timeout=15_000, **chromium.phone, locale="zh-CN",
                                service_workers="allow")
    log_in(page, served.base, served.tenant.users["worker"], PASSWORD, start="/login?next=/m/tasks",
           landing=r"/m/tasks$", tap=True)
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload(wait_until="networkidle")  # now under the worker's control: pages are kept for offline use
    assert page.evaluate("!!navigator.serviceWorker.controller")
    return ctx, page, problems


def history(srv: Served, oid: int) -> list[WorkOrderEvent]:
    with srv.factory() as s:
        return list(s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == oid)
                              .order_by(WorkOrderEvent.id)))


def test_offline_steps_queue_and_sync_once(phone: tuple[Any, Any, Problems], served: Served,  # noqa: F811
                                           tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ctx, page, problems = phone
    oid = open_order(served, "1号压机液压油泄漏", priority="p1")
    page.reload(wait_until="networkidle")
    card = page.locator(f"#m-open .m-card[data-order='{oid}']")
    expect(card).to_contain_text("1号压机液压油泄漏")
    expect(card).to_contain_text("P1")
    assert page.viewport_size["width"] == 412 and page.evaluate(NO_SIDEWAYS), "the list scrolls sideways"

    card.locator("a").tap()
    page.wait_for_url(re.compile(rf"/m/tasks/{oid}$"))
    expect(page.locator("#m-status")).to_have_attribute("data-status", "dispatched")
    accept = page.locator("#m-accept")
    box = accept.bounding_box()
    assert box is not None and box["height"] >= 56, "the buttons are too small for gloved hands"
    accept.tap()  # online: sent at once, the page reloads with the server's state
    expect(page.locator("#m-status")).to_have_attribute("data-status", "in_progress")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(NO_SIDEWAYS), "the task page scrolls sideways"

    photo = tmp_path / "after.png"
    photo.write_bytes(png_bytes())
    ctx.set_offline(True)
    problems.offline = True
    expect(page.locator("#m-offline")).to_be_visible()
    page.fill("#m-note", "更换了密封圈，已试压")
    page.locator("#m-update").tap()
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "1")
    page.set_input_files("#m-photo-after", str(photo))
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "2")
    page.locator("#m-submit").tap()
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "3")
    expect(page.locator("#m-pending")).to_have_text(re.compile(r"^3\D"))  # "3 条待同步" once translated
    items = page.locator("#m-queue-items li")
    expect(items).to_have_count(3)
    assert items.evaluate_all("els => els.map(e => e.dataset.action)") == ["update", "photo", "submit"]
    assert set(items.evaluate_all("els => els.map(e => e.dataset.state)")) == {"queued"}
    expect(page.locator("#m-status")).to_have_attribute("data-pending", "awaiting_acceptance")
    with served.factory() as s:
        assert s.get(WorkOrder, oid).status == "in_progress"  # type: ignore[union-attr]

    page.reload()  # offline: the service worker's copy of the page, the queue from IndexedDB
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "3")
    expect(page.locator("#m-status")).to_have_attribute("data-pending", "awaiting_acceptance")

    ctx.set_offline(False)
    problems.offline = False
    expect(page.locator("#m-status")).to_have_attribute("data-status", "awaiting_acceptance")
    expect(page.locator("#m-queue")).to_be_hidden()

    with served.factory() as s:
        order = s.get(WorkOrder, oid)
        assert order is not None and order.status == "awaiting_acceptance"
        atts = s.scalars(select(WorkOrderAttachment).where(WorkOrderAttachment.work_order_id == oid)).all()
    assert [(a.kind, a.sha256) for a in atts] == [("after", hashlib.sha256(photo.read_bytes()).hexdigest())]
    kinds = [e.kind for e in history(served, oid)]
    assert [kinds.count(k) for k in ("accepted", "updated", "attachment", "submitted")] == [1, 1, 1, 1], kinds
    assert [e.note for e in history(served, oid) if e.kind == "updated"] == ["更换了密封圈，已试压"]
    expect(page.locator("#m-history li[data-kind='updated']")).to_contain_text("更换了密封圈")
    expect(page.locator("#m-thumbs img[data-kind='after']")).to_have_count(1)


def test_refused_replay_is_shown_not_dropped(phone: tuple[Any, Any, Problems], served: Served) -> None:  # noqa: F811
    from playwright.sync_api import expect

    from plantguard.workorders import lifecycle

    ctx, page, problems = phone
    oid = open_order(served, "2号风机异响")
    page.goto(served.url(f"/m/tasks/{oid}"), wait_until="networkidle")
    ctx.set_offline(True)
    problems.offline = True
    page.locator("#m-accept").tap()
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "1")
    expect(page.locator("#m-status")).to_have_attribute("data-pending", "in_progress")

    with served.factory() as s:  # meanwhile, in the office: the order is cancelled
        bind_actor(s, None)
        order = s.get(WorkOrder, oid)
        assert order is not None
        lifecycle.move(s, order, "cancel", datetime.now(UTC), lifecycle.SYSTEM, "重复工单")
        s.commit()

    problems.allow("POST", rf"/api/v1/workorders/{oid}/accept", 409)
    ctx.set_offline(False)
    problems.offline = False
    refused = page.locator("#m-queue-items li[data-state='refused']")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("已取消")  # the server's own message, in the user's language
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "0")
    assert "accepted" not in [e.kind for e in history(served, oid)]
    refused.locator("[data-discard]").tap()
    expect(page.locator("#m-queue")).to_be_hidden()
