"""The bell in a real browser (headless Chromium): an alarm raised while the page is open
raises the unread count without a reload; the feed lists it and reading it lowers the count.
Served like tests/detection/alarms/test_board_browser.py (the app factory under uvicorn in a
thread, on a migrated SQLite file); browser problems fail the test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.signals import ConditionSignal, Severity
from tests.factories import PASSWORD, Tenant, make_tenant
from tests.live import DESKTOP, LiveApp, log_in

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    tenant: Tenant
    intake: AlarmIntake

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def served(live_app: LiveApp) -> Iterator[Served]:
    tenant = make_tenant(live_app.factory, "E1")
    with live_app.serve():
        yield Served(live_app.base, tenant, AlarmIntake(live_app.factory))


def test_bell_count_rises_without_reload(pages: Callable[..., Any], served: Served) -> None:
    from playwright.sync_api import expect

    _, page, _ = pages(served.base, service_workers="block", locale="en-US", viewport=DESKTOP)
    log_in(page, served.base, served.tenant.users["safety_manager"], PASSWORD, start="/lang/en?next=/login")
    count = page.locator("#notification-bell .bell-count")
    expect(count).to_be_hidden()
    marker: Any = page.evaluate("() => { window.__noReload = 1; return window.__noReload; }")
    assert marker == 1
    served.intake.apply([ConditionSignal(
        enterprise_id=served.tenant.enterprise_id, source="rule:bell", kind="threshold", active=True,
        ts=datetime.now(UTC), severity=Severity.MAJOR, equipment_id=served.tenant.equipment_id,
        point_id=served.tenant.point_id, title="Hydraulic leak")])
    expect(count).to_have_text("1", timeout=20_000)
    expect(count).to_be_visible()
    assert page.evaluate("() => window.__noReload") == 1, "the page was reloaded"
    page.click("#notification-bell")
    page.wait_for_url(re.compile(r"/notifications$"))
    item = page.locator("#notification-feed .feed-item.unread")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Hydraulic leak")  # the title is in the account's language
    item.locator("button").click()
    page.wait_for_url(re.compile(r"/alarms/\d+$"))
    expect(page.locator("#notification-bell .bell-count")).to_be_hidden()
