"""The four-colour map in a real browser (headless Chromium): the plan and the coloured area
outlines render, clicking an area opens its risk points, and the editor draws an outline by
clicking on the plan and saves it. Served like tests/notifications/test_bell_browser.py."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import utcnow
from plantguard.risk import siteplan
from plantguard.risk.contract import LEVEL_COLOURS, RiskLevel
from plantguard.risk.map import UNASSESSED_COLOUR
from plantguard.risk.siteplan_models import SitePlan
from plantguard.tenancy.models import Area
from tests.browser.test_console import CHROMIUM, DESKTOP, LAUNCH_ARGS, Problems, _free_port, _require_browser
from tests.factories import PASSWORD, Tenant, make_tenant
from tests.risk.map_data import SVG_PLAN, add_point

pytestmark = pytest.mark.browser


@dataclass
class Served:
    base: str
    tenant: Tenant
    points: dict[str, int]
    empty_area: int

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
    t = make_tenant(factory, "E1")
    points = {"die": add_point(factory, t, "RP-1", "模具更换作业", t.area_id, "major"),
              "press": add_point(factory, t, "RP-2", "1号压力机", t.area_id, "low"),
              "weld": add_point(factory, t, "RP-3", "焊接烟尘", t.area2_id, "general")}
    checked = siteplan.check(SVG_PLAN)
    with factory() as s:
        bind_actor(s, None)
        empty = Area(enterprise_id=t.enterprise_id, site_id=t.site_id, code="WH", name="成品库", polygon=[])
        s.add(empty)
        s.add(SitePlan(enterprise_id=t.enterprise_id, site_id=t.site_id, filename="plan.svg",
                       content_type=checked.content_type, content=checked.data, size=len(checked.data),
                       sha256="0" * 64, min_x=0, min_y=0, width=checked.width, height=checked.height,
                       uploaded_at=utcnow()))
        s.commit()
        empty_id = empty.id
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
        yield Served(f"http://127.0.0.1:{port}", t, points, empty_id)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()
        assert not thread.is_alive(), "the test server did not stop"


def test_map_renders_areas_opens_points_and_draws_outline(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    t = served.tenant
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
            page.fill("#username", t.users["safety_manager"])
            page.fill("#password", PASSWORD)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(re.compile(r"/dashboard$"))
            page.goto(served.url("/risk/map"))
            # the plan is loaded (as an image, with its CSP) and each outline has its level's colour
            plan_ok = page.evaluate("""() => new Promise(ok => { const i = new Image();
                i.onload = () => ok(i.naturalWidth > 0); i.onerror = () => ok(false);
                i.src = document.querySelector('#riskmap image').getAttribute('href'); })""")
            assert plan_ok, "the site plan did not load"
            stamping = page.locator(f'.riskmap-area[data-area-id="{t.area_id}"] polygon')
            welding = page.locator(f'.riskmap-area[data-area-id="{t.area2_id}"] polygon')
            expect(stamping).to_be_visible()
            assert stamping.evaluate("e => getComputedStyle(e).fill") == "rgb(224, 32, 32)"  # red: major
            assert LEVEL_COLOURS[RiskLevel.MAJOR] == "#e02020"
            assert welding.get_attribute("fill") == LEVEL_COLOURS[RiskLevel.GENERAL]
            expect(page.locator("#riskmap-legend li")).to_have_count(5)
            # clicking an area opens its points, worst first, with register and card links
            panel = page.locator(f"#area-panel-{t.area_id}")
            expect(panel).to_be_hidden()
            stamping.click()
            expect(panel).to_be_visible()
            items = panel.locator(".riskmap-points li")
            expect(items).to_have_count(2)
            expect(items.nth(0)).to_contain_text("模具更换作业")
            expect(items.nth(1)).to_contain_text("1号压力机")
            expect(panel.locator(f'a[href="/risk/points/{served.points["die"]}"]')).to_be_visible()
            expect(page.locator(f"#area-panel-{t.area2_id}")).to_be_hidden()
            welding.click()
            expect(page.locator(f"#area-panel-{t.area2_id}")).to_contain_text("焊接烟尘")
            expect(panel).to_be_hidden()
            # the editor: draw the empty area's outline with three clicks and save it
            page.select_option("#rm-area", str(served.empty_area))
            page.click("#rm-start")
            svg = page.locator("#riskmap")
            box = svg.bounding_box()
            assert box is not None
            for fx, fy in ((0.62, 0.55), (0.9, 0.55), (0.9, 0.9)):
                page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            expect(page.locator("#riskmap-handles circle")).to_have_count(3)
            page.click("#rm-save")
            drawn = page.locator(f'.riskmap-area[data-area-id="{served.empty_area}"] polygon')
            expect(drawn).to_have_count(1, timeout=15_000)  # the page reloaded with the saved outline
            assert drawn.get_attribute("fill") == UNASSESSED_COLOUR
            pts = [tuple(float(v) for v in xy.split(",")) for xy in (drawn.get_attribute("points") or "").split()]
            assert len(pts) == 3 and all(120 <= x <= 185 and 60 <= y <= 110 for x, y in pts), pts
            problems.assert_none()
        finally:
            ctx.close()
            browser.close()
