"""The permit console in headless Chromium at a desktop viewport: the safety manager opens the
apply form, switches work types (only the chosen type's grade and fields are shown and posted),
sends it once without the work content (refused at the field, nothing lost), then applies and
submits a second-grade hot-work permit and finds it in the board's "awaiting approval" column,
on its day in the calendar and on the site map. Browser problems fail the test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.permits.models import Permit
from plantguard.timeseries.alignment.times import plant_tz
from tests.browser.test_console import DESKTOP, Problems
from tests.factories import PASSWORD
from tests.permits.factories import crew, guardian
from tests.workorders.test_detail_browser import Served, browser, served  # noqa: F401  (the module's live server)

pytestmark = pytest.mark.browser


@pytest.fixture
def manager(browser: Any, served: Served) -> Iterator[tuple[Any, Problems]]:  # noqa: F811
    ctx = browser.new_context(service_workers="block", locale="zh-CN", viewport=DESKTOP)
    ctx.set_default_timeout(15_000)
    problems = Problems(served.base)
    problems.allow("POST", "/permits/new", 422)  # the refusal the test provokes
    ctx.on("console", problems.on_console)
    ctx.on("page", lambda pg: pg.on("pageerror", problems.on_page_error))
    ctx.on("request", problems.on_request)
    ctx.on("requestfailed", problems.on_request_failed)
    ctx.on("response", problems.on_response)
    page = ctx.new_page()
    page.goto(served.url("/login"))
    page.fill("#username", served.tenant.users["safety_manager"])
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.wait_for_load_state("networkidle")
    try:
        yield page, problems
        problems.assert_none()
    finally:
        ctx.close()


def next_wednesday() -> datetime:
    """09:00 plant time on the next Wednesday: a working day in daytime (no grade raise)."""
    today = datetime.now(plant_tz()).replace(hour=9, minute=0, second=0, microsecond=0)
    return today + timedelta(days=(2 - today.weekday()) % 7 or 7)


def test_apply_and_see_on_board(manager: tuple[Any, Problems], served: Served, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page, _ = manager
    t = served.tenant
    with served.factory() as s:
        bind_actor(s, None)
        c = crew(s, t.enterprise_id)
        g = guardian(s, t.enterprise_id, c, name="周监护")
        s.commit()
        leader, worker, guard = c.leader.id, c.workers[0].id, g.id
    start = next_wednesday()

    page.click("nav.mainnav a[href='/permits']")
    expect(page.locator("#pt-col-pending_approval")).to_have_attribute("data-count", "0")
    page.click("#pt-apply")
    page.wait_for_url(re.compile(r"/permits/new$"))
    page.select_option("#pt-type", "lifting")
    expect(page.locator("#pt-fields-lifting")).to_be_visible()
    expect(page.locator("#pt-fields-hot_work")).to_be_hidden()
    page.select_option("#pt-type", "hot_work")
    expect(page.locator("#pt-fields-hot_work")).to_be_visible()
    expect(page.locator("#pt-fields-lifting")).to_be_hidden()
    page.select_option("#pt-grade-hot_work", "second")
    page.select_option("#pt-f-hot_work-hot_work_method", "gas_cutting")
    page.select_option("#pt-area", str(t.area_id))
    page.fill("#pt-location", "冲压车间东侧钢平台")
    page.fill("#pt-start", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#pt-end", (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#pt-leader", str(leader))
    page.select_option("#pt-guardian", str(guard))
    page.select_option("#pt-worker-0", str(worker))
    page.click("[data-add-row='pt-workers']")
    expect(page.locator("#pt-workers .pt-row")).to_have_count(4)
    page.select_option("#pt-gas", "methane")

    page.click("#pt-submit")  # no work content yet
    expect(page.locator("#err-content")).to_be_visible()
    expect(page.locator("#pt-location")).to_have_value("冲压车间东侧钢平台")  # nothing typed is lost
    expect(page.locator("#pt-fields-hot_work")).to_be_visible()
    with served.factory() as s:
        assert s.scalars(select(Permit).where(Permit.location == "冲压车间东侧钢平台")).first() is None

    page.screenshot(path=str(tmp_path / "permit-refused.png"), full_page=True)
    page.fill("#pt-content", "钢平台支架气割拆除")
    page.click("#pt-submit")
    page.wait_for_url(re.compile(r"/permits/\d+$"))
    expect(page.locator("#pt-status")).to_have_attribute("data-status", "pending_approval")
    pid = int(page.url.rsplit("/", 1)[1])
    with served.factory() as s:
        p = s.get(Permit, pid)
        assert p is not None and p.type_code == "hot_work" and p.grade == "second"
        assert p.fields == {"hot_work_method": "gas_cutting"} and p.guardian_id == guard

    page.click("nav.mainnav a[href='/permits']")
    card = page.locator(f"#pt-col-pending_approval [data-permit='{pid}']")
    expect(card).to_be_visible()
    expect(card).to_contain_text("动火作业")
    expect(card).to_contain_text("周监护")
    expect(page.locator("#pt-col-pending_approval")).to_have_attribute("data-count", "1")
    page.screenshot(path=str(tmp_path / "permit-board.png"), full_page=True)
    card.locator("a.pt-number").click()
    page.wait_for_url(re.compile(rf"/permits/{pid}$"))

    page.goto(served.url(f"/permits/calendar?view=week&date={start.date().isoformat()}"))
    expect(page.locator(f"[data-date='{start.date().isoformat()}'] [data-permit='{pid}']")).to_contain_text("09:00")
    page.screenshot(path=str(tmp_path / "permit-week.png"), full_page=True)
    page.click("#pt-cal-month")
    expect(page.locator(f"[data-date='{start.date().isoformat()}'] [data-permit='{pid}']")).to_be_visible()
    page.click("nav.pt-tabs a[href='/permits/map']")
    expect(page.locator(f"#pt-map [data-permit='{pid}']")).to_have_count(1)
    expect(page.locator(f"#pt-map-list [data-permit='{pid}']")).to_contain_text("动火作业")
    page.screenshot(path=str(tmp_path / "permit-map.png"), full_page=True)
    page.goto(served.url(f"/permits/{pid}"))
    page.screenshot(path=str(tmp_path / "permit-detail.png"), full_page=True)
