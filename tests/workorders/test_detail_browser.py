"""The work-order detail page in headless Chromium: the worker takes the order on and hands it
over, sees no acceptance form (it is their own work); the team leader must sign on the pad
(an empty pad is refused in the page), signs with the mouse and closes the order; the signature
shows as evidence; the dashboard panel counts open orders. Browser problems fail the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from plantguard.audit.ledger import bind_actor
from tests.factories import PASSWORD, Tenant, make_tenant
from tests.live import DESKTOP, Chromium, LiveApp, log_in
from tests.workorders.conftest import wire_roster

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    tenant: Tenant
    factory: Any
    ids: dict[str, int]

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def served(live_app: LiveApp) -> Iterator[Served]:
    """The module's live server: one tenant, with the work-order roster (a team, its leader, a
    worker). The phone-page tests of hazards, inspections and work orders use it too."""
    tenant = make_tenant(live_app.factory, "E1")
    ids = wire_roster(SimpleNamespace(factory=live_app.factory), tenant)  # type: ignore[arg-type]
    with live_app.serve():
        yield Served(live_app.base, tenant, live_app.factory, ids)


@pytest.fixture(scope="module")
def browser(served: Served, chromium: Chromium) -> Any:
    """The module's Chromium (started after the server, so closed before it stops)."""
    return chromium.browser


@pytest.fixture
def signed_in(pages: Callable[..., Any], served: Served) -> Callable[[str], Any]:
    """Factory: a page of a fresh context (English, desktop) signed in as ``role``."""
    def make(role: str) -> Any:
        _, page, _ = pages(served.base, service_workers="block", locale="en-US", viewport=DESKTOP)
        log_in(page, served.base, served.tenant.users[role], PASSWORD, start="/lang/en?next=/login")
        page.wait_for_load_state("networkidle")  # the panels' htmx loads, not cut off by the next goto
        return page

    return make


def test_handle_and_accept_with_signature(signed_in: Callable[[str], Any], served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from plantguard.workorders import service

    t = served.tenant
    with served.factory() as s:
        bind_actor(s, None)
        order = service.open_order(s, t.enterprise_id, title="Hydraulic oil leak at press 1", at=datetime.now(UTC),
                                   team_id=t.team_id, assignee_id=served.ids["worker"], priority="p1")
        s.commit()
        oid = order.id

    worker = signed_in("worker")
    worker.goto(served.url("/workorders?assignee=me"))
    worker.locator(f"tr[data-order='{oid}'] a").click()
    expect(worker.locator("#wo-status")).to_have_attribute("data-status", "dispatched")
    worker.click("button[data-action='accept']")
    expect(worker.locator("#wo-status")).to_have_attribute("data-status", "in_progress")
    worker.fill("#u-note", "Replaced the seal")
    worker.click("button[data-action='update']")
    expect(worker.locator(".wo-history li[data-kind='updated']")).to_contain_text("Replaced the seal")
    worker.click("button[data-action='submit']")
    expect(worker.locator("#wo-status")).to_have_attribute("data-status", "awaiting_acceptance")
    expect(worker.locator("#form-close")).to_have_count(0)  # their own work: no acceptance form

    leader = signed_in("team_leader")
    leader.goto(served.url("/dashboard"))
    expect(leader.locator("#panel-workorders [data-status='awaiting_acceptance']")).to_have_attribute(
        "data-count", "1")
    leader.wait_for_load_state("networkidle")
    leader.goto(served.url(f"/workorders/{oid}"))
    leader.click("button[data-action='close']")  # nothing drawn yet: the page refuses
    expect(leader.locator("[data-signature-missing]")).to_be_visible()
    expect(leader.locator("#wo-status")).to_have_attribute("data-status", "awaiting_acceptance")
    pad = leader.locator("canvas[data-signature-pad]")
    box = pad.bounding_box()
    assert box is not None
    leader.mouse.move(box["x"] + 20, box["y"] + 100)
    leader.mouse.down()
    for i in range(1, 12):
        leader.mouse.move(box["x"] + 20 + i * 25, box["y"] + 100 - (i % 3) * 25, steps=3)
    leader.mouse.up()
    leader.fill("#c-note", "Checked: no more leak")
    leader.click("button[data-action='close']")
    expect(leader.locator("#wo-status")).to_have_attribute("data-status", "closed")
    expect(leader.locator("#wo-accepted")).to_contain_text("team_leader of E1")
    sig = leader.locator(".wo-evidence-group[data-kind='signature'] img")
    expect(sig).to_have_count(1)
    expect(sig).to_have_js_property("complete", True)
    assert sig.evaluate("img => img.naturalWidth") == 480
    expect(leader.locator(".wo-history li[data-kind='closed']")).to_contain_text("Checked: no more leak")
    leader.screenshot(path=str(tmp_path / "workorder-closed.png"), full_page=True)
