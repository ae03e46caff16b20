"""The bell in a real browser (headless Chromium): an alarm raised while the page is open
raises the unread count without a reload; the feed lists it and reading it lowers the count.
Served like tests/detection/alarms/test_board_browser.py (the app factory under uvicorn in a
thread, on a migrated SQLite file); browser problems fail the test."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.signals import ConditionSignal, Severity
from tests.browser.test_console import CHROMIUM, DESKTOP, LAUNCH_ARGS, Problems, _free_port, _require_browser
from tests.factories import PASSWORD, Tenant, make_tenant

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    tenant: Tenant
    intake: AlarmIntake

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def served(tmp_path: Path, sqlite_template: Path) -> Iterator[Served]:
    _require_browser()
    import uvicorn

    from plantguard.api.app import create_app
    from plantguard.api.runtime import Runtime
    from plantguard.core.db import make_engine, make_session_factory
    from plantguard.core.settings import Settings

    path = tmp_path / "plantguard.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    factory = make_session_factory(engine)
    tenant = make_tenant(factory, "E1")
    settings = Settings(database_url=url, bus_url="inprocess://", var_dir=path.parent)
    app = create_app(settings, runtime=Runtime(settings, engine, factory, make_session_factory(engine, read_only=True)))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", tenant, AlarmIntake(factory))
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()
        assert not thread.is_alive(), "the test server did not stop"


def test_bell_count_rises_without_reload(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        ctx = browser.new_context(service_workers="block", locale="en-US", viewport=DESKTOP)
        ctx.set_default_timeout(10_000)
        problems = Problems(served.base)
        ctx.on("console", problems.on_console)
        ctx.on("page", lambda pg: pg.on("pageerror", problems.on_page_error))
        ctx.on("request", problems.on_request)
        ctx.on("requestfailed", problems.on_request_failed)
        ctx.on("response", problems.on_response)
        try:
            page = ctx.new_page()
            page.goto(served.url("/lang/en?next=/login"))
            page.fill("#username", served.tenant.users["safety_manager"])
            page.fill("#password", PASSWORD)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(re.compile(r"/dashboard$"))
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
            problems.assert_none()
        finally:
            ctx.close()
            browser.close()
