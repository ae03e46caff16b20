"""The live alarm board in a real browser (headless Chromium): an alarm raised while the page
is open appears without a reload, a worker acknowledges it, the detail page explains it, and
an auditor sees no buttons. The server is the app factory on a migrated SQLite file, served
by uvicorn in a thread (tests/live.py); browser problems (console errors,
failed requests, unexpected 4xx/5xx) fail the test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.signals import ConditionSignal, Contribution, Severity
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


@pytest.fixture
def signed_in(pages: Callable[..., Any], served: Served) -> Callable[[str], Any]:
    """Factory: a page of a fresh context (English, desktop) signed in as ``role``."""
    def make(role: str) -> Any:
        _, page, _ = pages(served.base, service_workers="block", locale="en-US", viewport=DESKTOP)
        log_in(page, served.base, served.tenant.users[role], PASSWORD, start="/lang/en?next=/login")
        return page

    return make


def test_new_alarm_appears_live_and_is_acknowledged(signed_in: Callable[[str], Any], served: Served,
                                                   tmp_path: Path) -> None:
    from playwright.sync_api import expect

    t = served.tenant
    page = signed_in("worker")
    page.goto(served.url("/alarms"))
    expect(page.locator("#alarm-board .empty")).to_contain_text("No active alarms")

    # Raised while the page is open: it appears without a reload, most severe first.
    served.intake.apply([
        ConditionSignal(enterprise_id=t.enterprise_id, source="rule:1", kind="threshold", active=True,
                        ts=datetime.now(UTC), severity=Severity.WARNING, equipment_id=t.equipment_id,
                        point_id=t.point_id, title="Hydraulic pressure rising"),
        ConditionSignal(enterprise_id=t.enterprise_id, source="rule:2", kind="trend", active=True,
                        ts=datetime.now(UTC), severity=Severity.CRITICAL, equipment_id=t.equipment_id,
                        point_id=t.point_id, title="Pressure will exceed the limit",
                        contributions=(Contribution(t.point_id, "EQ-1-HP", 27.4, 0.9, "MPa"),),
                        explanation={"detector": "trend", "predicted_minutes": 8, "threshold": 28}),
    ])
    rows = page.locator("#alarm-board tr.alarm-row")
    expect(rows).to_have_count(2, timeout=15_000)
    expect(rows.first).to_have_attribute("data-severity", "critical")
    expect(rows.first).to_contain_text("threshold expected in 8 min")
    expect(page.locator("#alarm-board .sev-critical[data-count='1']")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "alarm-board.png"))

    # Acknowledge from the board: the row changes state in place.
    row = page.locator("#alarm-board tr.alarm-row[data-severity='critical']")
    row.locator("button[data-action='ack']").click()
    expect(row).to_have_attribute("data-status", "active_ack")
    expect(row.locator("button[data-action='ack']")).to_have_count(0)

    # The detail page: explanation, who acknowledged, history; a comment is added.
    row.locator("a").first.click()
    expect(page.locator("#alarm-status")).to_have_attribute("data-status", "active_ack")
    expect(page.locator("#alarm-acked")).to_contain_text("worker of E1")
    expect(page.locator(".contributions")).to_contain_text("EQ-1-HP")
    expect(page.locator(".predicted")).to_contain_text("8 min")
    page.fill("#note", "Checked the seal")
    page.click(".comment-form button[type=submit]")
    expect(page.locator(".alarm-history li[data-kind='commented']")).to_contain_text("Checked the seal")
    expect(page.locator(".alarm-history li")).to_have_count(3)

    # The dashboard panel counts active alarms by severity.
    page.goto(served.url("/dashboard"))
    expect(page.locator("#panel-alarms .sev-critical[data-count='1']")).to_have_count(1)


def test_auditor_sees_no_buttons(signed_in: Callable[[str], Any], served: Served) -> None:
    from playwright.sync_api import expect

    t = served.tenant
    served.intake.apply([ConditionSignal(enterprise_id=t.enterprise_id, source="rule:3", kind="threshold", active=True,
                                         ts=datetime.now(UTC), severity=Severity.MINOR, title="Oil temperature")])
    page = signed_in("auditor")
    page.goto(served.url("/alarms"))
    expect(page.locator("#alarm-board tr.alarm-row").first).to_be_visible()
    expect(page.locator("#alarm-board button")).to_have_count(0)
    page.goto(served.url("/alarms/analytics"))
    expect(page.locator("#kpi-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#alarm-kind-chart svg").first).to_be_visible()
