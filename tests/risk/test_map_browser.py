"""The four-colour map in a real browser (headless Chromium): the plan and the coloured area
outlines render, clicking an area opens its risk points, and the editor draws an outline by
clicking on the plan and saves it. Served like tests/notifications/test_bell_browser.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import utcnow
from plantguard.risk import siteplan
from plantguard.risk.contract import LEVEL_COLOURS, RiskLevel
from plantguard.risk.map import UNASSESSED_COLOUR
from plantguard.risk.siteplan_models import SitePlan
from plantguard.tenancy.models import Area
from tests.factories import PASSWORD, Tenant, make_tenant
from tests.live import DESKTOP, LiveApp, log_in
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


@pytest.fixture(scope="module")
def served(live_app: LiveApp) -> Iterator[Served]:
    factory = live_app.factory
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
    with live_app.serve():
        yield Served(live_app.base, t, points, empty_id)


def test_map_renders_areas_opens_points_and_draws_outline(pages: Callable[..., Any], served: Served) -> None:
    from playwright.sync_api import expect

    t = served.tenant
    _, page, _ = pages(served.base, service_workers="block", locale="en-US", viewport=DESKTOP)
    log_in(page, served.base, t.users["safety_manager"], PASSWORD, start="/lang/en?next=/login")
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
