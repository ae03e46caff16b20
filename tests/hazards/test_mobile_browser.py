"""The phone hazard report in headless Chromium as a Pixel 7 with the service worker running:
online, the live suggestion appears as a chip and is applied only on a tap; offline, a report
with a camera photo (geolocation denied) waits in the queue ("1 条待上报"), survives an offline
reload, and is sent once when the network returns: one hazard with the reporter's category,
no coordinates, the photo stored stamped; "my reports" lists it. Browser problems fail the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.hazards.models import Hazard, HazardAttachment
from tests.factories import PASSWORD
from tests.live import Chromium, Problems, log_in
from tests.workorders.test_detail_browser import Served, served  # noqa: F401  (the module's live server)
from tests.workorders.test_lifecycle_api import png_bytes

pytestmark = pytest.mark.browser
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"


@pytest.fixture
def phone(pages: Callable[..., Any], chromium: Chromium, served: Served) -> tuple[Any, Any, Problems]:  # noqa: F811
    """A phone context (zh-CN, no geolocation grant), service worker allowed, signed in as the
    worker on the report page, reloaded under the worker's control (kept for offline use)."""
    ctx, page, problems = pages(served.base, timeout=20_000, **chromium.phone, locale="zh-CN",
                                service_workers="allow")
    log_in(page, served.base, served.tenant.users["worker"], PASSWORD, start="/login?next=/m/hazards/new",
           landing=r"/m/hazards/new$", tap=True)
    page.wait_for_function("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload(wait_until="networkidle")  # under the worker's control: the page is kept for offline use
    return ctx, page, problems


def test_offline_report_queues_and_syncs_once(phone: tuple[Any, Any, Problems], served: Served,  # noqa: F811
                                              tmp_path: Path) -> None:
    from playwright.sync_api import expect

    ctx, page, problems = phone
    t = served.tenant
    assert page.evaluate(NO_SIDEWAYS), "the report page scrolls sideways"
    expect(page.locator("#h-gps")).to_have_attribute("data-state", "absent")  # permission not granted

    page.fill("#h-description", "员工进入冲压车间没有戴安全帽")
    chip = page.locator("#h-chip")
    expect(chip).to_have_attribute("data-category", "ppe", timeout=90_000)  # first use trains the model
    assert page.locator("#h-category").input_value() == ""  # a suggestion never fills by itself
    page.locator("#h-take").tap()
    assert page.locator("#h-category").input_value() == "ppe"
    page.select_option("#h-category", "site")  # the reporter knows better

    ctx.set_offline(True)
    problems.offline = True
    expect(page.locator("#m-offline")).to_be_visible()
    page.select_option("#h-area", str(t.area_id))
    page.fill("#h-location", "2号线东侧")
    photo = tmp_path / "before.png"
    photo.write_bytes(png_bytes())
    page.set_input_files("#h-photo", str(photo))
    expect(page.locator("#h-thumbs img")).to_have_count(1)
    page.locator("#h-send").tap()
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "1")
    expect(page.locator("#m-pending")).to_have_text(re.compile(r"^1\D"))
    expect(page.locator("#h-done")).to_be_visible()
    with served.factory() as s:
        assert s.scalars(select(Hazard).where(Hazard.description.contains("安全帽"))).first() is None

    page.reload()  # offline: the service worker's copy, the queue from IndexedDB
    expect(page.locator("#m-pending")).to_have_attribute("data-count", "1")
    expect(page.locator("#h-area option")).to_have_count(3)  # the selects come with the cached page

    ctx.set_offline(False)
    problems.offline = False
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#m-queue")).to_be_hidden()

    with served.factory() as s:
        found = s.scalars(select(Hazard).where(Hazard.description == "员工进入冲压车间没有戴安全帽")).all()
        assert len(found) == 1
        h = found[0]
        assert (h.category, h.area_id, h.location, h.lat, h.lon) == ("site", t.area_id, "2号线东侧", None, None)
        atts = s.scalars(select(HazardAttachment).where(HazardAttachment.hazard_id == h.id)).all()
    assert [a.kind for a in atts] == ["before"]

    page.goto(served.url("/m/hazards"), wait_until="networkidle")
    expect(page.locator(f"#h-mine [data-hazard='{h.id}']")).to_contain_text("员工进入冲压车间没有戴安全帽")
