"""The trend chart and the live overview in a real browser (Debian's Chromium, headless).

One server for the module: the app factory on a migrated SQLite file with one small tenant
and a week of 30-second readings of its point, served by uvicorn in a thread (no demo seed,
so the module starts in about a second). The browser watches for console errors, failed
requests and unexpected 4xx/5xx exactly as in test_console.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from plantguard.ingest.reading import ReadingBatch, now_us
from plantguard.timeseries.store import write_batch
from tests.browser.test_console import save_shot
from tests.factories import PASSWORD, Tenant, make_tenant
from tests.live import DESKTOP, LiveApp, log_in
from tests.timeseries.test_api import ensure_mounted

pytestmark = pytest.mark.browser

S = 1_000_000
STEP_S = 30
WEEK = 7 * 86_400 // STEP_S  # readings in a week


@dataclass
class Served:
    base: str
    tenant: Tenant
    engine: Any
    last_value: float

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def served(live_app: LiveApp) -> Iterator[Served]:
    tenant = make_tenant(live_app.factory, "E1")
    # A week of readings up to now: value 10..20 in a slow ramp, one uncertain and one bad
    # reading in the last hour (the chart shows a gap for the bad one).
    end = now_us() - 5 * S
    b = ReadingBatch(tenant.enterprise_id)
    for i in range(WEEK):
        ts = end - (WEEK - 1 - i) * STEP_S * S
        quality = 2 if i == WEEK - 40 else 1 if i == WEEK - 60 else 0
        b.append(tenant.point_id, ts, None if quality == 2 else 10 + 10 * i / WEEK, quality)
    write_batch(live_app.engine, b)
    with live_app.serve(ensure_mounted):
        yield Served(live_app.base, tenant, live_app.engine, 10 + 10 * (WEEK - 1) / WEEK)


@pytest.fixture
def signed_in(pages: Callable[..., Any], served: Served) -> Callable[..., Any]:
    """Factory: a page of a fresh context (zh-CN, desktop unless told), signed in as the worker."""
    def make(**context_args: Any) -> Any:
        context_args.setdefault("locale", "zh-CN")
        context_args.setdefault("viewport", DESKTOP)
        _, page, _ = pages(served.base, service_workers="block", **context_args)
        log_in(page, served.base, served.tenant.users["worker"], PASSWORD)
        return page

    return make


MAIN_SERIES = """() => {
    const opt = echarts.getInstanceByDom(document.getElementById('trend')).getOption();
    const main = opt.series.find(s => s.id === 'main');
    return {n: main.data.filter(d => d[1] !== null).length, gaps: main.data.filter(d => d[1] === null).length,
            marks: (main.markLine && main.markLine.data || []).map(m => m.yAxis), ids: opt.series.map(s => s.id),
            from: opt.xAxis[0].min, to: opt.xAxis[0].max};
}"""


def _loaded(page: Any, agg: str) -> dict[str, Any]:
    from playwright.sync_api import expect

    chart = page.locator("#trend")
    expect(chart).to_have_attribute("data-agg", agg)
    expect(chart).to_have_attribute("aria-busy", "false")
    info: dict[str, Any] = page.evaluate(MAIN_SERIES)
    return info


def test_trend_chart_loads_and_follows_range_and_zoom(signed_in: Callable[..., Any], served: Served,
                                                     tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = signed_in()
    pid = served.tenant.point_id
    with page.expect_response(lambda r: f"/api/v1/points/{pid}/series?" in r.url and "agg=auto" in r.url) as first:
        page.goto(served.url(f"/points/{pid}/trend"))
    assert first.value.status == 200
    expect(page.locator("h1 small")).to_have_text("EQ-1-HP")

    # Default: the last 24 hours, 2,880 raw readings, drawn on a canvas, one of them bad (a gap).
    info = _loaded(page, "raw")
    expect(page.locator("#trend canvas").first).to_be_visible()
    size = int(page.locator("#trend").get_attribute("data-size") or 0)
    assert abs(size - 86_400 // STEP_S) <= 2 and info["n"] == size - 1 and info["gaps"] >= 1
    assert info["marks"] == [28.0]  # the high-alarm threshold line
    assert "uncertain" in info["ids"]
    save_shot(page, tmp_path, "trend-24h.png")
    assert abs(info["to"] - info["from"] - 86_400_000) < 120_000
    expect(page.locator("#trend-status")).to_contain_text(str(size))
    expect(page.locator(".trend-toolbar [data-range='86400']")).to_have_attribute("aria-pressed", "true")
    csv_href = page.locator("#trend-csv").get_attribute("href") or ""
    assert csv_href.startswith(f"/api/v1/points/{pid}/series.csv?from=") and "agg=auto" in csv_href

    # Seven days: too many readings for raw, too long for minutes: hourly min/max band and average.
    with page.expect_response(lambda r: "/series?" in r.url) as week:
        page.locator(".trend-toolbar [data-range='604800']").click()
    assert week.value.status == 200 and week.value.json()["agg"] == "1h"
    info = _loaded(page, "1h")
    assert 160 <= info["n"] <= 170 and {"lo", "band", "main"} <= set(info["ids"])
    expect(page.locator(".trend-toolbar [data-range='604800']")).to_have_attribute("aria-pressed", "true")
    save_shot(page, tmp_path, "trend-7d.png")

    # Zooming into the last tenth of the week asks again for that span: now raw readings.
    with page.expect_response(lambda r: "/series?" in r.url) as zoomed:
        page.evaluate("echarts.getInstanceByDom(document.getElementById('trend'))"
                      ".dispatchAction({type: 'dataZoom', start: 90, end: 100})")
    assert zoomed.value.json()["agg"] == "raw"
    info = _loaded(page, "raw")
    assert 1900 <= info["n"] <= 2100
    expect(page.locator(".trend-toolbar [aria-pressed='true']")).to_have_count(0)

    # One hour: raw again, about 120 readings.
    with page.expect_response(lambda r: "/series?" in r.url):
        page.locator(".trend-toolbar [data-range='3600']").click()
    info = _loaded(page, "raw")
    assert 115 <= info["n"] <= 121


def test_live_overview_on_a_phone_refreshes_by_itself(signed_in: Callable[..., Any], served: Served,
                                                      tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = signed_in(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(served.url("/live"))
    row = page.locator(f".live-row[data-point='{served.tenant.point_id}']")
    expect(row.locator(".value")).to_have_text(f"{served.last_value:.6g}")
    expect(row.locator(".quality")).to_have_class(re.compile(r"\bq-good\b"))
    expect(row).to_have_attribute("data-state", "normal")
    expect(row).to_have_attribute("data-stale", "false")
    assert page.locator(".live-area h2").first.inner_text().startswith("冲压车间")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1

    # A new reading above the alarm limit, with uncertain quality, shows up on the next poll.
    b = ReadingBatch(served.tenant.enterprise_id)
    b.append(served.tenant.point_id, now_us(), 31.25, 1)
    write_batch(served.engine, b)
    expect(row.locator(".value")).to_have_text("31.25", timeout=8_000)
    row = page.locator(f".live-row[data-point='{served.tenant.point_id}']")
    expect(row).to_have_attribute("data-state", "alarm")
    expect(row.locator(".quality")).to_have_class(re.compile(r"\bq-uncertain\b"))
    expect(row.locator(".state-badge")).to_be_visible()
    save_shot(page, tmp_path, "live-phone.png", full_page=True)
    # The trend is one tap away.
    row.locator("a[href$='/trend']").click()
    page.wait_for_url(re.compile(r"/points/\d+/trend$"))
    expect(page.locator("#trend")).to_have_attribute("data-agg", "raw")
