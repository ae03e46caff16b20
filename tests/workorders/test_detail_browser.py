"""The work-order detail page in headless Chromium: the worker takes the order on and hands it
over, sees no acceptance form (it is their own work); the team leader must sign on the pad
(an empty pad is refused in the page), signs with the mouse and closes the order; the signature
shows as evidence; the dashboard panel counts open orders. Browser problems fail the test."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from plantguard.audit.ledger import bind_actor
from tests.browser.test_console import CHROMIUM, DESKTOP, LAUNCH_ARGS, Problems, _free_port, _require_browser
from tests.factories import PASSWORD, Tenant, make_tenant
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
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Served]:
    _require_browser()
    import uvicorn

    from plantguard.api.app import create_app
    from plantguard.api.runtime import Runtime
    from plantguard.core.db import make_engine, make_session_factory
    from plantguard.core.settings import Settings

    path = tmp_path_factory.mktemp("workorders") / "plantguard.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    factory = make_session_factory(engine)
    tenant = make_tenant(factory, "E1")
    ids = wire_roster(SimpleNamespace(factory=factory), tenant)  # type: ignore[arg-type]
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
        yield Served(f"http://127.0.0.1:{port}", tenant, factory, ids)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()
        assert not thread.is_alive(), "the test server did not stop"


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def signed_in(browser: Any, served: Served) -> Iterator[Callable[[str], Any]]:
    made: list[tuple[Any, Problems]] = []

    def make(role: str) -> Any:
        ctx = browser.new_context(service_workers="block", locale="en-US", viewport=DESKTOP)
        ctx.set_default_timeout(10_000)
        problems = Problems(served.base)
        ctx.on("console", problems.on_console)
        ctx.on("page", lambda pg: pg.on("pageerror", problems.on_page_error))
        ctx.on("request", problems.on_request)
        ctx.on("requestfailed", problems.on_request_failed)
        ctx.on("response", problems.on_response)
        made.append((ctx, problems))
        page = ctx.new_page()
        page.goto(served.url("/lang/en?next=/login"))
        page.fill("#username", served.tenant.users[role])
        page.fill("#password", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(re.compile(r"/dashboard$"))
        page.wait_for_load_state("networkidle")  # the panels' htmx loads, not cut off by the next goto
        return page

    yield make
    try:
        for _, problems in made:
            problems.assert_none()
    finally:
        for ctx, _ in made:
            ctx.close()


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
