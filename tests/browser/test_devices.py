"""The devices pages in a real browser, end to end: the plant simulator serving Modbus TCP, its
devices imported through the console, PlantGuard polling them, a fault started from the
console taking a device offline, the parser-rule tester, an HTTP device's token used to push
readings (one of them refused into the quarantine), all with headless Chromium.

The server is ``plantguard run`` with sensing on; it runs with the devices pages mounted
(see ``LAUNCHER``). The browser fixtures and their problem watching (console errors, failed
requests, unexpected 4xx/5xx, requests to other origins) are the console tests'.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import test_console as console
from tests.browser.test_console import DESKTOP, Server, Session, save_shot, sign_in

pytestmark = pytest.mark.browser

# The console's browser fixtures, driving this module's server.
browser = console.browser
open_session = console.open_session

PHONE = {"width": 390, "height": 844}
# ``plantguard run`` with the devices pages mounted even before the application factory
# mounts them itself (mounting is idempotent, so this stays correct afterwards).
LAUNCHER = """\
import sys
import plantguard.api.app as factory
from plantguard.ingest.views import mount

_create = factory.create_app

def create_app(*args, **kwargs):
    app = _create(*args, **kwargs)
    mount(app)
    return app

factory.create_app = create_app
from plantguard.cli.main import app
sys.argv = ["plantguard", "run"]
app()
"""

CUSTOM_RULES = """\
- name: pressure
  match: '^P(?P<press>\\d\\d) HP=(?P<hp>-?\\d+\\.\\d+)$'
  outputs:
    - {point: 'ST-P{press}-HP', value: 'float(hp) / 10'}
"""


# -- processes -------------------------------------------------------------------------------------


def _stop(proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            pytest.fail(f"{name} did not stop within 15 s of Ctrl-C:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plantguard-var")


@pytest.fixture(scope="module")
def simulator(var_dir: Path) -> Iterator[int]:
    """``plantguard simulate`` on free ports, its control channel in the server's var dir; the
    Modbus port."""
    console._require_browser()
    modbus, opcua = console._free_port(), console._free_port()
    env = {**os.environ, "PLANTGUARD_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"}
    log = var_dir / "simulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "plantguard.simulator.cli", "run", "--modbus-port", str(modbus),
                                 "--opcua-port", str(opcua), "--speed", "10", "--seed", "4"],
                                env=env, cwd=var_dir, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (var_dir / "simulator" / "status.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the simulator did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield modbus
    finally:
        _stop(proc, "plantguard simulate", log)
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-8000:]


@pytest.fixture(scope="module")
def server(var_dir: Path) -> Iterator[Server]:
    """``plantguard run`` (demo plant, sensing on) on a free port; stopped with Ctrl-C."""
    console._require_browser()
    port = console._free_port()
    env = {**os.environ, "PLANTGUARD_VAR_DIR": str(var_dir), "PLANTGUARD_PORT": str(port),
           "PLANTGUARD_HOST": "127.0.0.1", "PLANTGUARD_INGEST": "1", "PYTHONUNBUFFERED": "1"}
    for name in ("PLANTGUARD_DATABASE_URL", "PLANTGUARD_BUS_URL", "PLANTGUARD_LOCALE"):
        env.pop(name, None)
    log = var_dir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], env=env, cwd=var_dir, stdout=out,
                                stderr=subprocess.STDOUT)
    srv = Server(f"http://127.0.0.1:{port}", log, proc)
    try:
        deadline = time.monotonic() + 90
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
                pytest.fail(f"/healthz did not answer 200 within 90 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield srv
    finally:
        _stop(proc, "plantguard run", log)
        text = log.read_text(errors="replace")
        assert proc.returncode == 0, text[-4000:]
        assert "Traceback" not in text, text[-8000:]


# -- helpers ----------------------------------------------------------------------------------------


def until(check: Callable[[], bool], timeout: float, what: str, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(every)


def device_state(s: Session, code: str) -> str:
    """The state badge of ``code`` on a fresh list page (the page also refreshes itself)."""
    s.goto(f"/devices?q={code}")
    row = s.page.locator("#device-list tr.dev-row", has=s.page.get_by_role("link", name=code, exact=True))
    cls = row.locator("td[data-label] .badge").first.get_attribute("class") or ""
    m = re.search(r"dev-(\w+)", cls)
    return m.group(1) if m else ""


def post_readings(server: Server, token: str, readings: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(server.url("/api/v1/ingest"), data=json.dumps({"readings": readings}).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- the tests -----------------------------------------------------------------------------------------


def test_simulator_devices_imported_polled_and_taken_offline(open_session: Callable[..., Session], server: Server,
                                                             simulator: int, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from plantguard.simulator.deviceconfig import device_config_yaml
    from plantguard.simulator.plant import load_demo_plant

    s = open_session(locale="zh-CN", viewport=DESKTOP)
    s.problems.allow("POST", "/devices/import", 422)
    page = s.page
    sign_in(s)

    # No devices yet: the page says how to get the simulator's.
    s.goto("/devices")
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("#device-list .empty")).to_contain_text("plantguard simulate device-config")
    save_shot(page, tmp_path, "devices-empty-zh.png")

    # A broken file is refused as a whole, each error with its field path and line.
    page.get_by_role("link", name=re.compile("Import YAML|导入")).first.click()
    page.wait_for_url(re.compile(r"/devices/import$"))
    page.fill("#f-yaml", "devices:\n  - code: X-1\n    protocol: modbus\n    connection: {host: 127.0.0.1}\n"
                         "    points:\n      - {point: ST-P01-HP, address: -1}\n")
    page.locator("form[action='/devices/import'] button[type=submit]").click()
    errors = page.locator("#import-errors li")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("devices.0.points.0.address")
    expect(errors.first).to_contain_text("6")  # the line
    expect(page.locator("#f-yaml")).to_have_value(re.compile("address: -1"))

    # The simulator's devices, uploaded as a file.
    plant = load_demo_plant()
    config = tmp_path / "sim-devices.yaml"
    config.write_text(device_config_yaml(plant, modbus_port=simulator, opcua_port=1, layout="modbus"), "utf-8")
    page.fill("#f-yaml", "")
    page.set_input_files("#f-file", str(config))
    page.locator("form[action='/devices/import'] button[type=submit]").click()
    expect(page.locator("#import-summary")).to_be_visible()
    stations = len(plant.stations)
    expect(page.locator("#import-summary li")).to_have_count(stations)

    # Polled by the running PlantGuard: they come online by themselves.
    s.goto("/devices")
    expect(page.locator("#device-list tr.dev-row")).to_have_count(stations)
    until(lambda: device_state(s, "SIM-MB-AC") == "online", 60, "SIM-MB-AC online")

    def all_online() -> bool:
        s.goto("/devices")
        return page.locator("#device-list tr.dev-row .badge.dev-online").count() == stations

    until(all_online, 60, "every simulated device online")
    save_shot(page, tmp_path, "devices-online-zh.png", full_page=True)

    # The filters apply in place.
    with page.expect_response(lambda r: "state=offline" in r.url):
        page.select_option(".filters select[name=state]", "offline")
    expect(page.locator("#device-list tr.dev-row")).to_have_count(0)
    page.wait_for_url(re.compile(r"/devices\?.*state=offline"))

    # A dropout of the air-compressor station, started from the console: its PLC goes offline.
    s.goto("/simulator")
    expect(page.locator("#sim-status h2").first).to_be_visible()
    page.select_option("#f-fault", "dropout")
    page.fill("#f-target", "AC")
    with page.expect_response(lambda r: r.url.endswith("/simulator") and r.request.method == "POST"):
        page.locator("#sim-trigger button[type=submit].primary").click()
    expect(page.locator("#sim-message")).to_contain_text("AC")
    expect(page.locator("tr[data-fault=dropout]")).to_have_count(1)
    save_shot(page, tmp_path, "simulator-zh.png", full_page=True)
    errors: list[str] = []

    def offline_with_error() -> bool:
        if device_state(s, "SIM-MB-AC") != "offline":
            return False
        errors.append(page.locator("#device-list tr.dev-row td.last-error").first.inner_text().strip())
        return True

    until(offline_with_error, 60, "SIM-MB-AC offline after the dropout")
    assert errors[-1] not in ("", "—"), errors  # why, on the list
    save_shot(page, tmp_path, "device-offline-zh.png", full_page=True)
    assert device_state(s, "SIM-MB-ST") == "online"  # the other stations keep answering

    # Cleared from the console again.
    s.goto("/simulator")
    with page.expect_response(lambda r: r.url.endswith("/simulator") and r.request.method == "POST"):
        page.locator("tr[data-fault=dropout] button").click()
    expect(page.locator("tr[data-fault=dropout]")).to_have_count(0)
    expect(page.locator("#sim-message")).to_be_visible()
    s.problems.assert_none()


def test_custom_device_rules_tried_then_saved(open_session: Callable[..., Session], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    s = open_session(locale="zh-CN", viewport=DESKTOP)
    s.problems.allow("POST", "/devices/new", 422)
    page = s.page
    sign_in(s)
    s.goto("/devices/new")
    with page.expect_response(re.compile(r"/devices/help\?protocol=custom")):
        page.select_option("#f-protocol", "custom")
    expect(page.locator("#protocol-help")).to_contain_text("line_terminator")
    expect(page.locator("#protocol-help")).to_contain_text("rules › outputs")
    page.fill("#f-code", "GAUGE-P")
    page.fill("#f-name", "压力表网关")
    page.fill("#f-connection", "host: 127.0.0.1\nport: 4001\n")
    page.fill("#f-points", "- {point: ST-P01-HP}\n- {point: ST-P02-HP}\n")
    page.fill("#f-rules", CUSTOM_RULES)

    # Tried on a sample line before saving.
    tester = page.locator("#rule-tester")
    tester.locator("summary").click()
    tester.locator("#f-sample").fill("P01 HP=123.0")
    with page.expect_response(re.compile(r"/devices/rules/try$")):
        tester.get_by_role("button").click()
    rows = tester.locator("table.try-outputs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").first).to_have_text("ST-P01-HP")
    expect(rows.first.locator("td").nth(2)).to_have_text("12.3")
    # The text area as it stands is what is tried: a broken pattern is refused, naming the field.
    page.fill("#f-rules", CUSTOM_RULES.replace("(?P<hp>", "(?P<hp"))
    with page.expect_response(re.compile(r"/devices/rules/try$")):
        tester.get_by_role("button").click()
    expect(tester.locator(".alert")).to_contain_text("rules.0.match")
    save_shot(page, tmp_path, "device-rule-tester.png", full_page=True)

    # Saving the broken rules and a broken point map: errors next to each text area.
    page.fill("#f-points", "- {point: ST-P01-HP\n")
    page.locator("form.device-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#err-points")).to_contain_text("2:1")
    expect(page.locator("#err-rules")).to_contain_text("rules.0.match")
    expect(page.locator("#f-code")).to_have_value("GAUGE-P")
    page.fill("#f-points", "- {point: ST-P01-HP}\n- {point: ST-P02-HP}\n")
    page.fill("#f-rules", CUSTOM_RULES)
    page.locator("form.device-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/devices/\d+$"))
    expect(page.locator("h1")).to_contain_text("压力表网关")
    expect(page.locator("#f-points")).to_have_value(re.compile(r"ST-P02-HP"))
    history = page.locator("section.card", has=page.locator("h2", has_text="变更记录"))
    expect(history.locator("ol.history > li").first).to_contain_text("新建")

    # On the saved device the tester is open and uses the text area's (unsaved) rules.
    tester = page.locator("#rule-tester")
    expect(tester.locator("details")).to_have_attribute("open", "")
    page.fill("#f-rules", CUSTOM_RULES.replace("/ 10", "/ 100"))
    tester.locator("#f-sample").fill("P02 HP=50.0")
    with page.expect_response(re.compile(r"/devices/\d+/rules/try$")):
        tester.get_by_role("button").click()
    expect(tester.locator("table.try-outputs tbody tr td").nth(2)).to_have_text("0.5")

    # Deleted after a confirmation.
    page.once("dialog", lambda d: d.accept())
    page.locator("form[action$='/delete'] button").click()
    page.wait_for_url(re.compile(r"/devices$"))
    expect(page.get_by_role("link", name="GAUGE-P", exact=True)).to_have_count(0)
    s.problems.assert_none()


def test_http_device_token_pushes_readings_and_quarantine(open_session: Callable[..., Session], server: Server,
                                                          tmp_path: Path) -> None:
    from playwright.sync_api import expect

    s = open_session(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    s.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    page = s.page
    sign_in(s)
    s.goto("/devices/new?protocol=http")
    page.fill("#f-code", "GW-HTTP")
    page.fill("#f-points", "- {point: ST-P01-HP}\n")
    page.locator("form.device-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/devices/\d+$"))
    device_path = page.url[len(server.base):]

    panel = page.locator("#token-panel")
    with page.expect_response(re.compile(r"/devices/\d+/token$")):
        panel.get_by_role("button").click()
    token = page.locator("#device-token").input_value()
    assert re.fullmatch(r"pgd_[A-Za-z0-9_-]{20,}", token)
    expect(panel.locator(".alert.warn")).to_be_visible()
    page.locator("#copy-token").click()
    expect(page.locator("#copy-token")).not_to_have_text(re.compile("^(Copy|复制)$"))
    assert page.evaluate("navigator.clipboard.readText()") == token
    panel.scroll_into_view_if_needed()
    save_shot(page, tmp_path, "device-token-phone.png")
    s.goto(device_path)
    assert token not in page.content()  # shown once

    # The device pushes readings with it; an impossible value is quarantined with its reason.
    found = server.api("GET", "/api/v1/points?q=ST-P01-HP", token=server.token())["items"]
    point = next(p for p in found if p["code"] == "ST-P01-HP")
    assert point["range_high"] is not None
    status, body = post_readings(server, token, [{"point": "ST-P01-HP", "value": point["range_high"] / 2},
                                                 {"point": "ST-P01-HP", "value": point["range_high"] * 100},
                                                 {"point": "NO-SUCH", "value": 1}])
    assert status == 200 and body["accepted"] == 1 and body["refused"] == 2, body

    def counted() -> bool:
        s.goto("/devices?q=GW-HTTP")
        cells = page.locator("#device-list tr.dev-row td[data-label]")
        texts = cells.all_inner_texts()
        return len(texts) > 8 and texts[7].strip() == "1" and texts[8].strip() == "2"

    until(counted, 30, "readings and rejected counted on the list")
    # Phones: the table is a list of labelled cards.
    expect(page.locator("#device-list table thead")).to_be_hidden()
    save_shot(page, tmp_path, "devices-phone.png", full_page=True)

    s.goto("/quarantine")
    chips = page.locator(".chips a[data-reason]")
    expect(chips.first).to_be_visible()
    reasons = {c.get_attribute("data-reason") for c in chips.all()}
    assert {"out_of_range", "unknown_point"} <= reasons, reasons
    with page.expect_response(lambda r: "reason=out_of_range" in r.url):
        page.select_option(".filters select[name=reason]", "out_of_range")
    rows = page.locator("#quarantine tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("GW-HTTP")
    expect(rows.first.locator("code").first).to_have_text("ST-P01-HP")
    save_shot(page, tmp_path, "quarantine-phone.png", full_page=True)
    s.problems.assert_none()
