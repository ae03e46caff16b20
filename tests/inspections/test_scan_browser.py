"""The QR check-in on a phone (headless Chromium, Pixel 7 screen/touch/user agent, location
granted): the scanned URL /i/{token} asks for sign-in, then shows the point's open task; the
worker checks in (the browser's position is recorded), marks one item not OK with a note and
the other OK, and submits. The server has the check-in with the coordinates, the results,
the task done and a hazard raised for the failed item. Browser problems fail the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.hazards.models import Hazard
from plantguard.inspections import plans, tags
from plantguard.inspections.models import InspectionCheckin, InspectionResult, InspectionTask
from tests.factories import PASSWORD
from tests.inspections.conftest import actor_of, make_point
from tests.live import Chromium
from tests.workorders.test_detail_browser import Served, served  # noqa: F401  (the module's live server)

pytestmark = pytest.mark.browser
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"


def test_scan_check_in_and_results(pages: Callable[..., Any], chromium: Chromium,
                                   served: Served) -> None:  # noqa: F811
    srv = served
    point = make_point(SimpleNamespace(factory=srv.factory), srv.tenant, code="RP-SCAN")  # type: ignore[arg-type]
    with srv.factory() as s:
        actor = actor_of(s, srv.tenant, "safety_manager")
        bind_actor(s, actor)
        plans.create(s, actor, {"name": "冲压班检", "frequency": "shift", "risk_point_ids": [point.id],
                                "team_id": srv.tenant.team_id}, now=datetime.now(UTC))
        s.commit()
        token = tags.token_of(s, srv.tenant.enterprise_id, point.id)
    # The scan page's own answers are the test's to check: only console, page errors and failed requests.
    _, page, problems = pages(srv.base, timeout=15_000, watch_requests=False, **chromium.phone, locale="zh-CN",
                             permissions=["geolocation"],
                             geolocation={"latitude": 31.2304, "longitude": 121.4737, "accuracy": 15})
    page.goto(srv.url(f"/i/{token}"))
    page.wait_for_url(re.compile(r"/login\?"))
    page.fill("#username", srv.tenant.users["worker"])
    page.fill("#password", PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").tap()
    page.wait_for_url(srv.url(f"/i/{token}"))
    assert page.locator("h1").inner_text().startswith("RP-SCAN")
    assert page.evaluate(NO_SIDEWAYS)
    page.locator("#insp-checkin").tap()
    page.wait_for_selector("#insp-form:not([hidden])")
    items = page.locator("fieldset[data-item]")
    assert items.count() == 2
    items.nth(0).locator("input[value=not_ok]").check()
    items.nth(0).locator("textarea").fill("光电保护失效，遮挡后滑块未停")
    items.nth(1).locator("input[value=ok]").check()
    page.locator("#insp-submit").tap()
    page.wait_for_selector("body[data-done='1']")
    assert "感谢" in page.locator("#insp-msg").inner_text() or page.locator("#insp-msg").is_visible()
    problems.assert_none()
    with srv.factory() as s:
        task = s.scalars(select(InspectionTask).where(InspectionTask.risk_point_id == point.id)).one()
        assert task.status == "done"
        ci = s.scalars(select(InspectionCheckin).where(InspectionCheckin.task_id == task.id)).one()
        assert ci.token_matched and ci.geo_status == "ok"
        assert ci.lat == pytest.approx(31.2304) and ci.lon == pytest.approx(121.4737) and ci.accuracy_m == 15
        results = s.scalars(select(InspectionResult).where(InspectionResult.task_id == task.id)
                            .order_by(InspectionResult.id)).all()
        assert [r.outcome for r in results] == ["not_ok", "ok"]
        hazard = s.get(Hazard, results[0].hazard_id)
        assert hazard is not None and "光电保护失效" in hazard.description
