"""The console in a real browser: Debian's Chromium, headless, driven by Playwright.

One ``plantguard run`` (the command an operator types) serves the whole module from a fresh
var directory, so the demo plant is seeded exactly as on a first start. Every test fails on
any browser console error, uncaught page error, failed request or unexpected 4xx/5xx answer
from the console's own origin, and on any request to another origin.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The shared browser pieces live in tests/live.py; the names stay importable from here.
from tests.live import (  # noqa: F401
    CHROMIUM,
    DESKTOP,
    LAUNCH_ARGS,
    Chromium,
    Problems,
    watch,
)
from tests.live import free_port as _free_port
from tests.live import require_browser as _require_browser

pytestmark = pytest.mark.browser

PASSWORD = "plantguard-demo"
SHOTS = Path("/tmp/pg-shots")
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


# -- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.base + path

    def api(self, method: str, path: str, *, token: str | None = None, form: dict[str, str] | None = None) -> Any:
        import json
        from urllib.parse import urlencode

        headers = {"Accept": "application/json"}
        data = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url(path), data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def token(self, username: str = "safety") -> str:
        return str(self.api("POST", "/api/v1/auth/token",
                            form={"username": username, "password": PASSWORD})["access_token"])


def _command() -> list[str]:
    script = Path(sys.executable).parent / "plantguard"
    if script.exists():
        return [str(script), "run"]
    return [sys.executable, "-m", "plantguard.cli.main", "run"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``plantguard run`` on a free port with an empty var directory; stopped with Ctrl-C (SIGINT)."""
    _require_browser()  # no point starting the server without a browser to drive it
    var = tmp_path_factory.mktemp("plantguard-var")
    port = _free_port()
    env = {**os.environ, "PLANTGUARD_VAR_DIR": str(var), "PLANTGUARD_PORT": str(port),
           "PLANTGUARD_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    for name in ("PLANTGUARD_DATABASE_URL", "PLANTGUARD_BUS_URL", "PLANTGUARD_LOCALE"):
        env.pop(name, None)
    log = var / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(_command(), env=env, cwd=var, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(f"http://127.0.0.1:{port}", log, proc)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"plantguard run exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(srv.url("/healthz"), timeout=2) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"/healthz did not answer 200 within 60 s:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    try:
        yield srv
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                pytest.fail(f"plantguard run did not stop within 10 s of Ctrl-C:\n{log.read_text(errors='replace')}")
        else:
            code = proc.returncode
        text = log.read_text(errors="replace")
        assert code == 0, f"plantguard run exited with {code} after Ctrl-C:\n{text}"
        assert "Traceback" not in text, text


# -- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(server: Server, chromium: Chromium) -> Any:
    """The module's Chromium; set up after the server, so it is closed before the server stops."""
    return chromium.browser


@dataclass
class Session:
    context: Any
    page: Any
    problems: Problems
    server: Server

    def goto(self, path: str) -> Any:
        return self.page.goto(self.server.url(path), wait_until="networkidle")


@pytest.fixture
def open_session(browser: Any, server: Server) -> Iterator[Callable[..., Session]]:
    """Factory: a fresh browser context watched for problems; asserts none at the end."""
    made: list[Session] = []

    def make(**context_args: Any) -> Session:
        context_args.setdefault("locale", "zh-CN")
        context_args.setdefault("viewport", DESKTOP)
        ctx = browser.new_context(**context_args)
        ctx.set_default_timeout(10_000)
        problems = watch(ctx, server.base)
        page = ctx.new_page()
        s = Session(ctx, page, problems, server)
        made.append(s)
        return s

    yield make
    try:
        for s in made:
            s.problems.assert_none()
    finally:
        for s in made:
            s.context.close()


def sign_in(s: Session, username: str = "safety") -> None:
    from playwright.sync_api import expect

    page = s.page
    s.goto("/")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.wait_for_load_state("networkidle")


def save_shot(page: Any, tmp_path: Path, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(tmp_path / name), full_page=full_page)
    shutil.copyfile(tmp_path / name, SHOTS / name)


def no_cjk(texts: list[str], where: str) -> None:
    bad = [t for t in texts if CJK.search(t)]
    assert not bad, f"Chinese UI text left in {where} after switching to English: {bad}"


# -- the tests -------------------------------------------------------------------------------


def test_dashboard_and_ledger_in_chinese(open_session: Callable[..., Session], server: Server,
                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect

    s = open_session(locale="zh-CN", viewport=DESKTOP)
    page = s.page
    sign_in(s)

    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("仪表盘")
    expect(page.locator(".mainnav a[aria-current=page]")).to_have_text("仪表盘")

    # KPIs: the demo plant, and the equipment count is the API's.
    kpis = {label: int(value) for label, value in zip(page.locator(".kpi-label").all_inner_texts(),
                                                      page.locator(".kpi-value").all_inner_texts(), strict=True)}
    assert set(kpis) == {"设备", "测点", "人员", "班组"}, kpis
    assert all(v > 0 for v in kpis.values()), kpis
    token = server.token()
    assert kpis["设备"] == server.api("GET", "/api/v1/equipment?limit=1", token=token)["total"]
    assert kpis["测点"] == server.api("GET", "/api/v1/points?limit=1", token=token)["total"]

    # Both ECharts charts drew (SVG renderer), and have content.
    charts = page.locator(".chart")
    expect(charts).to_have_count(2)
    for i in range(2):
        expect(charts.nth(i).locator("svg")).to_have_count(1)
        assert charts.nth(i).locator("svg path").count() > 3
    expect(page.locator("#panel-status svg")).to_contain_text("在用")

    # The panels of modules still to come explain what they will show.
    expect(page.locator("#panel-alarms h2")).to_have_text("当前报警")
    expect(page.locator("#panel-alarms .empty")).to_contain_text("报警")
    for panel in ("#panel-workorders", "#panel-permits"):
        expect(page.locator(f"{panel} .empty")).to_have_text(CJK)
    # The dual-prevention panel: the demo's hazard figures, or what will appear there.
    expect(page.locator("#panel-hazards #dp-open, #panel-hazards .empty")).to_have_count(1)
    # Demo certificates are dated relative to today, so some always expire soon.
    assert page.locator("#panel-certs tbody tr").count() > 0
    save_shot(page, tmp_path, "dashboard-zh-desktop.png", full_page=True)

    # The equipment ledger, through the menu.
    page.locator(".mainnav").get_by_role("link", name="设备台账").click()
    page.wait_for_url(re.compile(r"/equipment$"))
    expect(page.locator("h1")).to_have_text("设备台账")
    rows = page.locator("#list tbody tr")
    expect(rows).to_have_count(25)  # one page
    assert CJK.search(rows.first.inner_text())
    expect(page.locator("#list > p.muted").first).to_have_text(f"共 {kpis['设备']} 条记录")
    expect(page.locator("#list thead th").first).to_have_text("编码")

    # The filters apply in place (htmx) ...
    total = f"共 {kpis['设备']} 条记录"
    with page.expect_response(lambda r: "status=maintenance" in r.url):
        page.select_option(".filters select[name=status]", "maintenance")
    expect(page.locator("#list > p.muted").first).not_to_have_text(total)
    statuses = page.locator("#list td[data-label=状态]").all_inner_texts()
    assert statuses and {t.strip() for t in statuses} == {"维修中"}, statuses
    page.wait_for_url(re.compile(r"/equipment\?.*status=maintenance"))
    with page.expect_response(lambda r: "status=&" in r.url):
        page.select_option(".filters select[name=status]", "")
    expect(page.locator("#list > p.muted").first).to_have_text(total)
    expect(rows).to_have_count(25)

    # ... and so does the search, which keeps the query in the address bar.
    with page.expect_response(lambda r: "/equipment?" in r.url and "q=" in r.url) as answer:
        page.fill("input[name=q]", "空压机")
    assert answer.value.status == 200
    page.wait_for_url(re.compile(r"/equipment\?.*q=%E7%A9%BA%E5%8E%8B%E6%9C%BA"))
    expect(page.locator("#list > p.muted").first).not_to_have_text(total)
    n = rows.count()
    assert 0 < n < kpis["设备"]
    for text in rows.all_inner_texts():
        assert "空压机" in text, text

    # A record, and its change history fetched by htmx.
    first = rows.first.locator("a").first
    code = first.inner_text().strip()
    with page.expect_response(re.compile(r"/history/equipment/\d+$")):
        first.click()
        page.wait_for_url(re.compile(r"/equipment/\d+$"))
    expect(page.locator("h1 small")).to_have_text(code)
    history = page.locator("section.card", has=page.locator("h2", has_text="变更记录"))
    expect(history.locator("ol.history > li").first).to_be_visible()
    expect(history.locator("ol.history > li").first).to_contain_text("新建")
    expect(history.locator("table.diff")).not_to_have_count(0)
    expect(history.locator("table.diff td", has_text="编码").first).to_be_visible()
    s.problems.assert_none()


def test_switch_to_english(open_session: Callable[..., Session]) -> None:
    from playwright.sync_api import expect

    s = open_session(locale="zh-CN", viewport=DESKTOP)
    page = s.page
    sign_in(s)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.locator(".topbar .langs").get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.wait_for_load_state("networkidle")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".topbar .langs strong")).to_have_text("English")
    chrome = [*page.locator(".mainnav a").all_inner_texts(), *page.locator(".kpi-label").all_inner_texts(),
              *page.locator("main h2").all_inner_texts(), *page.locator("main .empty").all_inner_texts(),
              *page.locator("#panel-certs th").all_inner_texts(), page.locator(".brand").inner_text(),
              page.locator(".topbar button").inner_text(), page.title()]
    no_cjk(chrome, "the dashboard")
    expect(page.locator(".chart svg")).to_have_count(2)
    expect(page.locator("#panel-status svg")).to_contain_text("In service")

    page.locator(".mainnav").get_by_role("link", name="Equipment ledger").click()
    page.wait_for_url(re.compile(r"/equipment$"))
    page.wait_for_load_state("networkidle")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Equipment ledger")
    expect(page.locator("#list tbody tr")).to_have_count(25)
    chrome = [*page.locator(".mainnav a").all_inner_texts(), *page.locator("#list th").all_inner_texts(),
              *page.locator(".filters select option:first-child").all_inner_texts(),
              page.locator("input[name=q]").get_attribute("placeholder") or "",
              page.locator("#list > p.muted").inner_text(), page.locator(".pager").inner_text(),
              *page.locator("#list td[data-label=Status]").all_inner_texts(),
              *page.locator("#list td").evaluate_all("tds => tds.map(td => td.dataset.label)"), page.title()]
    no_cjk(chrome, "the equipment ledger")
    assert "In service" in page.locator("#list tbody").inner_text()

    # ... and back: the choice is a cookie, so it sticks across pages.
    page.locator(".topbar .langs").get_by_role("link", name="简体中文").click()
    page.wait_for_url(re.compile(r"/equipment$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("设备台账")
    s.problems.assert_none()


def test_phone_and_pwa(open_session: Callable[..., Session], server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    s = open_session(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                     device_scale_factor=3)
    page = s.page
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    sign_in(s)
    assert page.evaluate(overflow) <= 1, "the dashboard scrolls sideways on a phone"

    s.goto("/equipment")
    expect(page.locator("h1")).to_have_text("设备台账")
    assert page.evaluate("window.innerWidth") == 390
    assert page.evaluate(overflow) <= 1, "the equipment ledger scrolls sideways on a phone"
    # Rows are cards: no header row, every cell on its own line with its label.
    expect(page.locator("#list thead")).to_be_hidden()
    td = page.locator("#list tbody td").first
    assert td.evaluate("el => getComputedStyle(el).display") in ("flex", "block")
    assert td.evaluate("el => getComputedStyle(el, '::before').content") == '"编码"'
    row = page.locator("#list tbody tr").first.bounding_box()
    assert row is not None and row["width"] <= 390 and row["height"] > 100
    # Touch targets.
    box = page.locator("input[name=q]").bounding_box()
    assert box is not None and box["height"] >= 44
    save_shot(page, tmp_path, "equipment-phone.png")

    for path in ("/equipment/new", "/audit", "/people", "/points"):
        s.goto(path)
        assert page.evaluate(overflow) <= 1, f"{path} scrolls sideways on a phone"
    # A detail page with its history loaded.
    s.goto("/equipment")
    page.locator("#list tbody tr").first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/equipment/\d+$"))
    expect(page.locator("ol.history > li").first).to_be_visible()
    assert page.evaluate(overflow) <= 1, "an equipment record scrolls sideways on a phone"

    # Installable: a manifest with the icons browsers ask for, and an active service worker.
    expect(page.locator("link[rel=manifest]")).to_have_attribute("href", "/manifest.webmanifest")
    resp = s.context.request.get(server.url("/manifest.webmanifest"))
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/manifest+json")
    manifest = resp.json()
    assert manifest["name"] and manifest["short_name"]
    assert manifest["start_url"] == "/dashboard"
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"]: icon["src"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= set(sizes), sizes
    for size, src in sizes.items():
        icon = s.context.request.get(server.url(src))
        assert icon.status == 200 and icon.headers["content-type"] == "image/png", src
        png = icon.body()
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert f"{width}x{height}" == size, (src, width, height)

    state = page.evaluate("""async () => {
        const reg = await navigator.serviceWorker.ready;
        return {scope: reg.scope, state: reg.active && reg.active.state, url: reg.active && reg.active.scriptURL};
    }""")
    assert state["state"] in ("activating", "activated"), state
    assert state["scope"] == server.url("/") and state["url"] == server.url("/sw.js"), state
    # The worker claims the page and serves the app shell from its cache.
    page.reload(wait_until="networkidle")
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    cached = page.evaluate("caches.open('plantguard-v1').then(c => c.keys()).then(ks => ks.map(k => k.url))")
    assert server.url("/offline") in cached and server.url("/static/app.css") in cached, cached

    # Offline: a page opened before comes from the cache, any other shows the offline page,
    # which reloads itself when the connection is back.
    s.problems.offline = True
    s.context.set_offline(True)
    page.goto(server.url("/equipment"))
    expect(page.locator("h1")).to_have_text("设备台账")
    page.goto(server.url("/teams"))
    expect(page.locator("h1")).to_have_text("离线")
    assert page.locator(".topbar").evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(11, 92, 173)"
    assert page.evaluate(overflow) <= 1
    s.context.set_offline(False)
    expect(page.locator("h1")).to_have_text("班组", timeout=15_000)
    page.wait_for_load_state("networkidle")
    s.problems.offline = False
    s.problems.assert_none()


def test_create_and_edit_equipment(open_session: Callable[..., Session]) -> None:
    from playwright.sync_api import expect

    s = open_session(locale="zh-CN", viewport=DESKTOP)
    s.problems.allow("POST", "/equipment/new", 422)
    page = s.page
    sign_in(s)
    s.goto("/equipment")
    page.locator("main").get_by_role("link", name="新建").click()
    page.wait_for_url(re.compile(r"/equipment/new$"))
    expect(page.locator("h1")).to_have_text("新建 · 设备")

    code = f"EQ-T-{int(time.time() * 1000) % 10**8}"
    page.fill("#f-code", code)
    page.fill("#f-type", "forklift")
    page.select_option("#f-area_id", index=1)
    expect(page.locator("#f-criticality")).to_have_value("B")
    expect(page.locator("#f-status")).to_have_value("in_service")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="保存").click()
    assert answer.value.status == 422
    page.wait_for_load_state("networkidle")

    name_field = page.locator(".field", has=page.locator("label[for=f-name]"))
    expect(name_field).to_have_class(re.compile(r"\binvalid\b"))
    expect(name_field.locator("label")).to_contain_text("名称")
    error = name_field.locator("p.error")
    expect(error).to_be_visible()
    assert CJK.search(error.inner_text()), error.inner_text()
    expect(page.locator(".alert[role=alert]")).to_contain_text("名称")
    # What was typed is kept.
    expect(page.locator("#f-code")).to_have_value(code)
    expect(page.locator("#f-type")).to_have_value("forklift")
    assert page.locator(".field.invalid").count() == 1

    name = "测试叉车 3t 电动"
    page.fill("#f-name", name)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/equipment/\d+$"))
    expect(page.locator("h1")).to_contain_text(name)
    expect(page.locator("h1 small")).to_have_text(code)
    entries = page.locator("ol.history > li")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("新建")
    expect(entries.first.locator("tr", has_text="名称")).to_contain_text(name)
    expect(entries.first.locator("tr", has_text="状态")).to_contain_text("在用")  # not the code in_service

    # Edit: the history shows what changed.
    page.locator(".actions").get_by_role("link", name="编辑").click()
    page.wait_for_url(re.compile(r"/equipment/\d+/edit$"))
    expect(page.locator("h1")).to_have_text("编辑 · 设备")
    expect(page.locator("#f-name")).to_have_value(name)
    page.fill("#f-model", "CPD30")
    page.fill("#f-name", name + " 改")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/equipment/\d+$"))
    expect(page.locator("h1")).to_contain_text(name + " 改")
    expect(entries).to_have_count(2)
    newest = entries.first
    expect(newest).to_contain_text("修改")
    expect(newest.locator("tr", has_text="型号")).to_contain_text("CPD30")
    expect(newest.locator("tr", has_text="名称")).to_contain_text(name + " 改")

    # It is in the ledger list and found by the search.
    s.goto(f"/equipment?q={code}")
    expect(page.locator("#list tbody tr")).to_have_count(1)
    expect(page.locator("#list tbody tr")).to_contain_text(name + " 改")
    s.problems.assert_none()


def test_clearing_a_required_field_is_refused(open_session: Callable[..., Session]) -> None:
    from playwright.sync_api import expect

    s = open_session(locale="zh-CN", viewport=DESKTOP)
    s.problems.allow("POST", r"/equipment/\d+/edit", 422)
    page = s.page
    sign_in(s)
    s.goto("/equipment")
    page.locator("#list tbody tr").first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/equipment/\d+$"))
    page.locator(".actions").get_by_role("link", name="编辑").click()
    page.wait_for_url(re.compile(r"/equipment/\d+/edit$"))
    page.fill("#f-name", "")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="保存").click()
    assert answer.value.status == 422, "a blank name was accepted (the old name silently kept)"
    name_field = page.locator(".field", has=page.locator("label[for=f-name]"))
    expect(name_field.locator("p.error")).to_have_text(CJK)
    s.problems.assert_none()
