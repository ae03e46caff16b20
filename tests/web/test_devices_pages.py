"""The devices pages of the console: list with live state, YAML import/export, the device
form with YAML text areas and field-named errors, HTTP tokens, the parser-rule tester, the
quarantine and the simulator's faults, over HTTP with signed-in sessions.

Most checks read the English pages (the catalogue's Chinese for new strings is added by the
translators); the Chinese default is checked where its words already exist.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.api.middleware import LANG_COOKIE
from plantguard.assets.models import MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Role
from plantguard.ingest.config import DeviceCreate, device_service, token_digest
from plantguard.ingest.models import Device, DeviceStatus, QuarantinedInput
from plantguard.ingest.views import mount, parse_config_text, protocol_help, yaml_line
from tests.api.conftest import Env
from tests.factories import Tenant
from tests.web.test_pages import csrf_of, login

TANK_RULES = """\
- name: tank
  match: '^TANK(?P<tank>\\d+) T=(?P<temp>-?\\d+\\.\\d+)$'
  outputs:
    - {point: 'TK-{tank}-TEMP', value: 'float(temp)'}
"""


# -- fixtures and helpers --------------------------------------------------------------------------


def _mounted(env: Env) -> Env:
    mount(env.client.app)  # type: ignore[arg-type]  # once the lead mounts it in the app, a no-op
    mount(env.client.app)  # type: ignore[arg-type]  # mounting twice adds nothing
    return env


@pytest.fixture
def web(sqlite_env: Env) -> Iterator[Env]:
    yield _mounted(sqlite_env)


@pytest.fixture
def both(env: Env) -> Iterator[Env]:
    """SQLite and PostgreSQL: for the pages whose queries differ by backend."""
    yield _mounted(env)


def english(client: TestClient) -> None:
    client.cookies.set(LANG_COOKIE, "en")


def sign_in(env: Env, role: str = "safety_manager", lang: str = "en") -> str:
    """Sign in as the first tenant's ``role``; the CSRF token of the session."""
    r = login(env.client, env.t1.users[role])
    assert r.status_code == 303  # type: ignore[attr-defined]
    if lang == "en":
        english(env.client)
    return csrf_of(env.client.get("/devices").text)


def actor_of(t: Tenant) -> Actor:
    return Actor(user_id=0, enterprise_id=t.enterprise_id, role=Role.ADMIN, username="test", display_name="test")


def add_points(env: Env, *codes: str, t: Tenant | None = None) -> None:
    t = t or env.t1
    with env.db.factory() as s:
        bind_actor(s, None)
        for code in codes:
            s.add(MeasurementPoint(enterprise_id=t.enterprise_id, equipment_id=t.equipment_id, code=code, name=code,
                                   unit="°C", range_low=-50, range_high=200))
        s.commit()


def make_device(env: Env, code: str, protocol: str = "modbus", t: Tenant | None = None, **extra: Any) -> int:
    t = t or env.t1
    values: dict[str, Any] = {"code": code, "protocol": protocol}
    if protocol == "modbus":
        values.update(connection={"host": "127.0.0.1", "port": 5020},
                      points=[{"point": "EQ-1-HP", "address": 0, "type": "float32"}])
    values.update(extra)
    with env.db.factory() as s:
        actor = actor_of(t)
        bind_actor(s, actor)
        d = device_service.create(s, actor, DeviceCreate.model_validate(values))
        s.commit()
        return d.id


def set_status(env: Env, device_id: int, state: str, *, t: Tenant | None = None, **values: Any) -> None:
    t = t or env.t1
    with env.db.factory() as s:
        s.add(DeviceStatus(device_id=device_id, enterprise_id=t.enterprise_id, state=state,
                           available=state == "online", **values))
        s.commit()


def quarantine(env: Env, device_id: int | None, reason: str, n: int = 1, *, t: Tenant | None = None,
               start: datetime | None = None, **values: Any) -> None:
    t = t or env.t1
    start = start or datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    with env.db.factory() as s:
        for i in range(n):
            s.add(QuarantinedInput(enterprise_id=t.enterprise_id, device_id=device_id, source="test", reason=reason,
                                   received_at=start + timedelta(seconds=i), **values))
        s.commit()


def form(values: dict[str, str], token: str) -> dict[str, str]:
    base = {"csrf_token": token, "code": "", "protocol": "", "name": "", "enabled": "on", "poll_interval_s": "1",
            "connection": "", "points": "", "rules": "", "notes": ""}
    return {**base, **values}


def field_errors(html: str, area: str) -> str:
    """The errors listed under one text area or field (empty when there are none)."""
    m = re.search(rf'<ul class="field-errors" id="err-{area}">(.*?)</ul>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else ""


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def textarea(html: str, name: str) -> str:
    m = re.search(rf'<textarea id="f-{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert m, name
    import html as h

    return h.unescape(m.group(1))


# -- pure helpers -----------------------------------------------------------------------------------------


def test_yaml_lines_and_shapes() -> None:
    text = "- {point: A, address: 0}\n- point: B\n  address: -1\n"
    assert yaml_line(text, ["1", "address"]) == 3
    assert yaml_line(text, ["1", "type"]) == 2  # missing: the entry that lacks it
    assert yaml_line(text, ["5"]) is None and yaml_line("a: [", ["a"]) is None
    assert parse_config_text("points", "points:\n  - {point: A}\n") == ([{"point": "A"}], [])
    assert parse_config_text("connection", "") == ({}, [])
    value, errors = parse_config_text("connection", "- a\n")
    assert value is None and errors[0].field == "connection"
    _value, errors = parse_config_text("points", "- {point: A, scale: .inf}\n")
    assert errors[0].field == "points.0.scale"
    _value, errors = parse_config_text("connection", "since: 2024-01-01\n")
    assert errors[0].field == "connection.since" and errors[0].params == {"value": "2024-01-01"}
    _value, errors = parse_config_text("connection", "!!python/object:os.system {}\n")
    assert errors[0].field == "connection" and "line:column" in errors[0].message
    _value, errors = parse_config_text("points", "- &a [*a]\n")
    assert errors[0].field == "points.0.0" and "contains itself" in errors[0].message
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    _value, errors = parse_config_text("connection", bomb)  # 10⁹ values once expanded
    assert "Too large once its aliases are expanded" in errors[0].message
    _value, errors = parse_config_text("rules", "[" * 300 + "]" * 300)
    assert errors[0].field.startswith("rules.0.0") and "levels deep" in errors[0].message
    _value, errors = parse_config_text("rules", "- " * 60 + "x")
    assert "levels deep" in errors[0].message


def test_protocol_help_comes_from_the_manifest() -> None:
    modbus = protocol_help("modbus")
    assert modbus is not None
    keys = {k.key: k for k in modbus.tables[1].keys}
    assert keys["address"].required and keys["address"].limits
    assert keys["table"].kind == "holding | input | coil | discrete" and keys["table"].default == "holding"
    assert len(modbus.tables) == 2  # no parser rules for a PLC unless it has some
    custom = protocol_help("custom")
    assert custom is not None and [t.title for t in custom.tables][2].startswith("rules")
    assert protocol_help("no-such-protocol") is None


# -- list ----------------------------------------------------------------------------------------------------


def test_empty_list_says_what_will_appear(web: Env) -> None:
    login(web.client, web.t1.users["safety_manager"])
    r = web.client.get("/devices")
    assert r.status_code == 200 and '<html lang="zh-CN">' in r.text
    assert "plantguard simulate device-config" in r.text and "plantguard devices import" in r.text
    assert 'href="/devices/new"' in r.text and 'href="/devices/import"' in r.text


def test_list_shows_live_state_counts_and_filters(both: Env) -> None:
    env = both
    plc = make_device(env, "PLC-A", name="冲压 PLC")
    off = make_device(env, "PLC-B")
    idle = make_device(env, "PLC-C", enabled=False)
    gw = make_device(env, "GW-1", protocol="http", points=[{"point": "EQ-1-HP"}])
    make_device(env, "PLC-OTHER", t=env.t2)  # another enterprise: never listed
    seen = datetime.now(UTC) - timedelta(seconds=30)
    set_status(env, plc, "online", last_seen=seen, readings=1234, rejected=7)
    set_status(env, off, "offline", last_error="ConnectionLost: no answer from 127.0.0.1:5020", reconnects=3)
    set_status(env, idle, "online")  # stale: the device was disabled since
    sign_in(env)
    page = env.client.get("/devices")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "4 devices" in text and "PLC-OTHER" not in text
    row = r'<tr class="dev-row[^"]*">.*?<a href="/devices/\d+">([^<]+)</a>.*?</tr>'
    rows = {m.group(1): m.group(0) for m in re.finditer(row, page.text, re.S)}
    assert set(rows) == {"GW-1", "PLC-A", "PLC-B", "PLC-C"}
    assert 'dev-online">Online' in rows["PLC-A"] and "1234" in rows["PLC-A"]
    assert re.search(r"\b3\d s ago", text_of(rows["PLC-A"]))
    assert f'href="/quarantine?device_id={plc}">7<' in rows["PLC-A"]
    assert 'dev-offline">Offline' in rows["PLC-B"] and "ConnectionLost: no answer" in rows["PLC-B"]
    assert 'dev-disabled">Disabled' in rows["PLC-C"]
    assert 'dev-unknown">Unknown' in rows["GW-1"] and "HTTP ingest" in rows["GW-1"]
    # Counts per state link to the filtered list.
    assert re.search(r'href="/devices\?state=online">.*?Online</span> 1</a>', page.text, re.S)
    r = env.client.get("/devices?state=offline")
    assert re.findall(r'<a href="/devices/(\d+)">', r.text) == [str(off)] and "1 device" in text_of(r.text)
    r = env.client.get("/devices?state=disabled")
    assert re.findall(r'<a href="/devices/(\d+)">', r.text) == [str(idle)]
    r = env.client.get("/devices?protocol=http")
    assert re.findall(r'<a href="/devices/(\d+)">', r.text) == [str(gw)]
    r = env.client.get("/devices?q=%E5%86%B2%E5%8E%8B")  # 冲压: the name
    assert re.findall(r'<a href="/devices/(\d+)">', r.text) == [str(plc)]
    r = env.client.get("/devices?state=online&protocol=http")
    assert "Nothing matches this search." in r.text


# -- the device form -----------------------------------------------------------------------------------------


def test_create_with_errors_next_to_the_text_areas_then_saved(web: Env) -> None:
    token = sign_in(web)
    page = web.client.get("/devices/new?protocol=modbus")
    assert page.status_code == 200
    assert "What this protocol expects" in page.text and "<code>unit_id</code>" in page.text
    bad = form({"code": "PLC-1", "protocol": "modbus", "name": "冲压 PLC",
                "connection": "host: 127.0.0.1\nport: [5020\n",
                "points": "- {point: EQ-1-HP, address: 0, type: float32}\n- point: EQ-1-HP\n  address: -4\n"}, token)
    r = web.client.post("/devices/new", data=bad)
    assert r.status_code == 422
    assert "Not valid YAML (line:column 3:1)" in field_errors(r.text, "connection")
    pts = field_errors(r.text, "points")
    assert "Point map · 2 · address points.1.address · line 3" in pts and "at least 0" in pts
    assert textarea(r.text, "points") == bad["points"]  # what was typed is kept
    assert "Please correct the marked fields." in r.text
    # The YAML is right; the service names what the manifest and the points refuse.
    bad.update(connection="port: 70000\n", points="- {point: NO-SUCH, address: 0}\n- {point: EQ-1-HP, address: 1}\n"
                                                 "- {point: EQ-1-HP, address: 2}\n")
    r = web.client.post("/devices/new", data=bad)
    assert r.status_code == 422
    conn = field_errors(r.text, "connection")
    assert "connection.host" in conn and "This field is required" in conn
    assert "connection.port · line 1" in conn and "at most 65535" in conn
    pts = field_errors(r.text, "points")
    assert "points.0.point · line 1" in pts and "No measurement point with code NO-SUCH" in pts
    assert "points.2.point · line 3" in pts and "already mapped" in pts
    with web.db.factory() as s:
        assert s.scalars(select(Device)).all() == []
    good = {**bad, "connection": "host: 127.0.0.1\nport: 5020\n",
            "points": "- {point: EQ-1-HP, address: 0, type: float32}\n"}
    r = web.client.post("/devices/new", data=good, follow_redirects=False)
    assert r.status_code == 303 and re.fullmatch(r"/devices/\d+", r.headers["location"])
    detail = web.client.get(r.headers["location"])
    assert detail.status_code == 200 and "冲压 PLC" in detail.text
    assert textarea(detail.text, "points") == "- {point: EQ-1-HP, address: 0, type: float32}\n"
    assert yaml.safe_load(textarea(detail.text, "connection")) == {"host": "127.0.0.1", "port": 5020}
    device_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert f'hx-get="/history/device/{device_id}"' in detail.text
    history = web.client.get(f"/history/device/{device_id}")
    assert history.status_code == 200 and "PLC-1" in history.text and "created" in history.text
    # The code is unique per enterprise.
    r = web.client.post("/devices/new", data=good)
    assert r.status_code == 422 and "PLC-1 is already in use" in field_errors(r.text, "code")


def test_edit_keeps_the_device_on_errors_and_saves_changes(web: Env) -> None:
    add_points(web, "EQ-1-OT")
    device_id = make_device(web, "PLC-1")
    token = sign_in(web)
    page = web.client.get(f"/devices/{device_id}")
    values = {"name": "Line A PLC", "poll_interval_s": "0.5", "enabled": "on",
              "connection": textarea(page.text, "connection"), "points": "- {point: EQ-1-HP, address: 0}\n"
              "- {point: EQ-1-OT, table: input, address: 10, type: int16, scale: 0.1, oops: 1}\n", "rules": "",
              "notes": "", "csrf_token": token}
    r = web.client.post(f"/devices/{device_id}", data=values)
    assert r.status_code == 422
    assert "points.1.oops · line 2" in field_errors(r.text, "points") and "Unknown field" in r.text
    assert textarea(r.text, "points") == values["points"]
    assert '<input id="f-code" value="PLC-1" readonly' in r.text  # code and protocol are fixed
    with web.db.factory() as s:
        assert s.get(Device, device_id).points == [{"point": "EQ-1-HP", "address": 0, "type": "float32"}]
    values["points"] = values["points"].replace(", oops: 1", "")
    values.pop("enabled")  # unticked
    r = web.client.post(f"/devices/{device_id}", data=values, follow_redirects=False)
    assert r.status_code == 303
    with web.db.factory() as s:
        d = s.get(Device, device_id)
        assert d.name == "Line A PLC" and d.poll_interval_s == 0.5 and not d.enabled
        assert d.points[1] == {"point": "EQ-1-OT", "table": "input", "address": 10, "type": "int16", "scale": 0.1}
    page = web.client.get(f"/devices/{device_id}")
    assert 'dev-disabled">Disabled' in page.text
    history = web.client.get(f"/history/device/{device_id}")
    assert "Line A PLC" in history.text and "changed" in history.text


def test_delete_asks_first_and_removes_the_device(web: Env) -> None:
    device_id = make_device(web, "PLC-1")
    token = sign_in(web)
    page = web.client.get(f"/devices/{device_id}")
    assert re.search(r'action="/devices/\d+/delete" class="inline"\s+data-confirm="Delete device PLC-1\?', page.text)
    r = web.client.post(f"/devices/{device_id}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/devices"
    assert web.client.get(f"/devices/{device_id}").status_code == 404


# -- HTTP devices: the token -----------------------------------------------------------------------------------


def test_http_token_is_shown_once(web: Env) -> None:
    device_id = make_device(web, "GW-1", protocol="http")
    plc = make_device(web, "PLC-1")
    token = sign_in(web)
    assert "Issue token" not in web.client.get(f"/devices/{plc}").text  # Modbus is polled: no token
    page = web.client.get(f"/devices/{device_id}")
    assert "No token yet" in page.text and f'hx-post="/devices/{device_id}/token"' in page.text
    r = web.client.post(f"/devices/{device_id}/token", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.text.lstrip().startswith('<section class="card" id="token-panel">')  # the panel alone
    issued = re.search(r'id="device-token" class="mono" readonly value="(pgd_[A-Za-z0-9_-]+)"', r.text)
    assert issued and "shown only once" in r.text and 'id="copy-token"' in r.text
    with web.db.factory() as s:
        assert s.get(Device, device_id).token_hash == token_digest(issued.group(1))
    page = web.client.get(f"/devices/{device_id}")
    assert issued.group(1) not in page.text and "A token has been issued" in page.text
    assert "hx-confirm=" in page.text  # replacing a token asks first
    # Without a script the whole page comes back, with the new token in it.
    r = web.client.post(f"/devices/{device_id}/token", data={"csrf_token": token})
    again = re.search(r'id="device-token" class="mono" readonly value="(pgd_[^"]+)"', r.text)
    assert r.status_code == 200 and again and again.group(1) != issued.group(1) and "<h1>" in r.text


# -- the parser-rule tester ----------------------------------------------------------------------------------------


def test_rule_tester_uses_the_rules_in_the_text_area(web: Env) -> None:
    add_points(web, "TK-1-TEMP", "TK-1-LVL")
    device_id = make_device(web, "GAUGE-1", protocol="custom", connection={"host": "127.0.0.1", "port": 4001},
                            points=[{"point": "TK-1-TEMP"}], rules=yaml.safe_load(TANK_RULES))
    token = sign_in(web)
    page = web.client.get(f"/devices/{device_id}")
    assert '<details open>' in page.text and f'hx-post="/devices/{device_id}/rules/try"' in page.text
    assert 'hx-include="#f-rules"' in page.text and "rules › outputs" in page.text
    htmx = {"HX-Request": "true"}
    r = web.client.post(f"/devices/{device_id}/rules/try", headers=htmx,
                        data={"csrf_token": token, "rules": TANK_RULES, "sample": "TANK1 T=21.50"})
    assert r.status_code == 200 and "<html" not in r.text
    assert "Rule tank matched: 1 readings." in text_of(r.text)
    assert "<code>TK-1-TEMP</code>" in r.text and ">21.5<" in r.text
    # Unsaved rules are what is tried: a second output, a point that does not exist.
    edited = TANK_RULES + "    - {point: 'TK-{tank}-LVL', value: 'temp > 20'}\n    - {point: 'TK-9-X', value: '1'}\n"
    r = web.client.post(f"/devices/{device_id}/rules/try", headers=htmx,
                        data={"csrf_token": token, "rules": edited, "sample": "TANK1 T=21.50"})
    rows = re.findall(r"<tr>\s*<td data-label=\"Point\"><code>([^<]+)</code>(.*?)</td>\s*<td[^>]*>.*?</td>\s*"
                      r"<td[^>]*>([^<]+)</td>", r.text, re.S)
    assert [(p, v) for p, _w, v in rows] == [("TK-1-TEMP", "21.5"), ("TK-1-LVL", "1"), ("TK-9-X", "1")]
    assert "would be quarantined" in rows[2][1] and "would be quarantined" not in rows[0][1]
    with web.db.factory() as s:
        assert len(s.get(Device, device_id).rules[0]["outputs"]) == 1  # nothing saved
    r = web.client.post(f"/devices/{device_id}/rules/try", headers=htmx,
                        data={"csrf_token": token, "rules": TANK_RULES, "sample": "hello"})
    assert "No rule matched this line." in r.text and "reason-no_rule" in r.text
    bad = TANK_RULES.replace("float(temp)", "float(temp") .replace("(?P<tank>", "(?P<tank")
    r = web.client.post(f"/devices/{device_id}/rules/try", headers=htmx,
                        data={"csrf_token": token, "rules": bad, "sample": "TANK1 T=21.50"})
    errors = text_of(r.text)
    assert "The rules do not validate" in errors and "rules.0.match · line 2" in errors
    r = web.client.post(f"/devices/{device_id}/rules/try", headers=htmx,
                        data={"csrf_token": token, "rules": "", "sample": "x"})
    assert "Write at least one rule to try" in r.text
    # Without a script the form posts the sample alone: the saved rules, in the whole page.
    r = web.client.post(f"/devices/{device_id}/rules/try", data={"csrf_token": token, "sample": "TANK1 T=-3.25"})
    assert r.status_code == 200 and "<h1>" in r.text and ">-3.25<" in r.text and 'value="TANK1 T=-3.25"' in r.text
    # The new-device page has the tester too.
    r = web.client.post("/devices/rules/try", headers=htmx, data={"csrf_token": token, "rules": TANK_RULES,
                                                                   "sample": "TANK1 T=1.0"})
    assert r.status_code == 200 and "<code>TK-1-TEMP</code>" in r.text


def test_saving_bad_rules_names_each_rule_field(web: Env) -> None:
    add_points(web, "TK-1-TEMP")
    token = sign_in(web)
    data = form({"code": "GAUGE-1", "protocol": "custom", "connection": "host: 127.0.0.1\nport: 4001\n",
                 "points": "- {point: TK-1-TEMP}\n", "rules": TANK_RULES.replace("float(temp)", "import os")}, token)
    r = web.client.post("/devices/new", data=data)
    assert r.status_code == 422
    errors = field_errors(r.text, "rules")
    assert "rules.0.outputs.0.value · line 4" in errors, errors
    data["rules"] = TANK_RULES
    assert web.client.post("/devices/new", data=data, follow_redirects=False).status_code == 303


# -- import and export ----------------------------------------------------------------------------------------


IMPORT = """\
devices:
  - code: PLC-A
    protocol: modbus
    connection: {host: 127.0.0.1, port: 5020}
    points:
      - {point: EQ-1-HP, address: 0, type: float32}
  - code: PLC-B
    protocol: modbus
    connection: {host: 127.0.0.1}
    points:
      - {point: EQ-1-HP, address: 70000}
"""


def test_import_refuses_the_file_with_field_paths_and_lines_then_imports(web: Env) -> None:
    token = sign_in(web)
    page = web.client.get("/devices/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    r = web.client.post("/devices/import", data={"csrf_token": token, "yaml": IMPORT})
    assert r.status_code == 422
    errors = text_of(re.search(r'id="import-errors">(.*?)</div>', r.text, re.S).group(1))  # type: ignore[union-attr]
    assert "Device · 2 · Point map · 1 · address devices.1.points.0.address · line 11" in errors, errors
    assert "at most 65535" in errors and "Nothing was imported" in errors
    assert textarea(r.text, "yaml") == IMPORT
    with web.db.factory() as s:
        assert s.scalars(select(Device)).all() == []  # all or nothing
    fixed = IMPORT.replace("70000", "2")
    r = web.client.post("/devices/import", data={"csrf_token": token},
                        files={"file": ("plant.yaml", ("\ufeff" + fixed).encode(), "application/yaml")})
    assert r.status_code == 200, r.text
    assert "Imported: 2 created, 0 changed, 0 unchanged." in text_of(r.text)
    r = web.client.post("/devices/import", data={"csrf_token": token},
                        files={"file": ("plant.yaml", fixed.replace("5020", "5021").encode(), "application/yaml")})
    assert "0 created, 1 changed, 1 unchanged" in text_of(r.text)
    for body, expected in ((b"\xff\xfe\x00", "The file must be UTF-8 text"),
                           (b"devices: [\n", "Not valid YAML (line:column 2:1)"),
                           (b"- a\n", "Expected a list of devices under the key")):
        r = web.client.post("/devices/import", data={"csrf_token": token},
                            files={"file": ("x.yaml", body, "application/yaml")})
        assert r.status_code == 422 and expected in text_of(r.text), expected
    r = web.client.post("/devices/import", data={"csrf_token": token, "yaml": "  "})
    assert r.status_code == 422 and "Choose a file or paste the YAML" in r.text


def test_export_downloads_what_import_takes(web: Env) -> None:
    make_device(web, "PLC-A", name="冲压 PLC")
    make_device(web, "GW-1", protocol="http", name="网关", points=[{"point": "EQ-1-HP"}])
    make_device(web, "PLC-OTHER", t=web.t2)
    sign_in(web, lang="zh")
    r = web.client.get("/devices/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    assert re.fullmatch(r'attachment; filename="plantguard-devices-\d{8}\.yaml"', r.headers["content-disposition"])
    doc = yaml.safe_load(r.text)
    assert [d["code"] for d in doc["devices"]] == ["GW-1", "PLC-A"] and doc["devices"][1]["name"] == "冲压 PLC"
    token = csrf_of(web.client.get("/devices").text)
    r = web.client.post("/devices/import", data={"csrf_token": token, "yaml": r.text})
    expected = gettext("Imported: %(created)s created, %(updated)s changed, %(unchanged)s unchanged.", "zh_CN")
    assert r.status_code == 200 and expected % {"created": 0, "updated": 0, "unchanged": 2} in text_of(r.text)


# -- quarantine ---------------------------------------------------------------------------------------------------


def test_quarantine_lists_newest_first_with_counts_filters_and_pages(both: Env) -> None:
    env = both
    a = make_device(env, "PLC-A")
    b = make_device(env, "GW-1", protocol="http")
    quarantine(env, a, "out_of_range", 55, point_code="EQ-1-HP", detail="412.0 is outside 0…35", raw="412.0")
    quarantine(env, b, "malformed", 3, start=datetime(2026, 11, 2, tzinfo=UTC), detail="not JSON",
               raw="{" + "x" * 300)
    quarantine(env, None, "clock_skew", 1, start=datetime(2026, 11, 3, tzinfo=UTC))
    other = make_device(env, "PLC-O", t=env.t2)
    quarantine(env, other, "wrong_type", 5, t=env.t2)
    sign_in(env)
    r = env.client.get("/quarantine")
    assert r.status_code == 200
    text = text_of(r.text)
    assert "59 records" in text and "Wrong type" not in re.sub(r"<option.*?</option>", "", r.text, flags=re.S)
    chips = re.findall(r'data-reason="([a-z_]+)".*?<strong>(\d+)</strong>', r.text, re.S)
    assert chips == [("out_of_range", "55"), ("malformed", "3"), ("clock_skew", "1")]
    times = re.findall(r'<time datetime="([^"]+)"', r.text)
    assert len(times) == 50 and times == sorted(times, reverse=True) and times[0].startswith("2026-11-03")
    assert "Timestamp out of tolerance" in text and "Malformed input" in text and "Out of range" in text
    assert "<details class=\"raw\">" in r.text  # long raw input folds
    assert 'href="/quarantine?offset=50"' in r.text
    r = env.client.get("/quarantine?offset=50")
    assert len(re.findall(r"<time datetime=", r.text)) == 9
    r = env.client.get(f"/quarantine?device_id={b}")
    assert "3 records" in text_of(r.text) and f'<a href="/devices/{b}">GW-1</a>' in r.text
    r = env.client.get(f"/quarantine?device_id={a}&reason=malformed")
    assert "0 records" in text_of(r.text) and "Nothing matches this search." in r.text
    r = env.client.get(f"/quarantine?device_id={other}")
    assert "0 records" in text_of(r.text)  # another enterprise's device
    detail = env.client.get(f"/devices/{a}")
    assert len(re.findall(r"reason-out_of_range", detail.text)) == 20  # the recent ones
    assert f'href="/quarantine?device_id={a}">All 55</a>' in detail.text


def test_empty_quarantine_says_what_will_appear(web: Env) -> None:
    sign_in(web)
    r = web.client.get("/quarantine")
    assert "Nothing has been rejected" in r.text and "0 records" in text_of(r.text)


# -- roles, CSRF, hostile input -------------------------------------------------------------------------------------


def test_read_only_roles_see_devices_but_change_nothing(web: Env) -> None:
    device_id = make_device(web, "GW-1", protocol="http")
    token = sign_in(web, "worker")
    page = web.client.get("/devices")
    assert page.status_code == 200 and "/devices/new" not in page.text and "/devices/import" not in page.text
    detail = web.client.get(f"/devices/{device_id}")
    assert detail.status_code == 200
    assert 'class="primary">Save' not in detail.text and "/delete" not in detail.text
    assert "Issue token" not in detail.text and 'id="rule-tester"' not in detail.text
    assert 'name="name" value="" maxlength="200" readonly' in detail.text
    for url in ("/devices/new", "/devices/import"):
        assert web.client.get(url).status_code == 403
    posts = {"/devices/new": {"code": "X", "protocol": "http"}, f"/devices/{device_id}": {"name": "x"},
             f"/devices/{device_id}/delete": {}, f"/devices/{device_id}/token": {},
             f"/devices/{device_id}/rules/try": {"rules": TANK_RULES, "sample": "x"}, "/devices/import": {"yaml": "x"},
             "/simulator": {"action": "clear"}}
    for url, data in posts.items():
        r = web.client.post(url, data={"csrf_token": token, **data})
        assert r.status_code == 403, url
    assert web.client.get("/simulator").status_code == 200 and "Start a fault" not in web.client.get("/simulator").text


def test_writes_need_the_csrf_token_and_other_tenants_are_not_found(web: Env) -> None:
    mine = make_device(web, "GW-1", protocol="http")
    theirs = make_device(web, "GW-2", protocol="http", t=web.t2)
    token = sign_in(web)
    assert web.client.post(f"/devices/{mine}/token", data={}).status_code == 403
    assert web.client.post(f"/devices/{mine}/delete", data={"csrf_token": "forged"}).status_code == 403
    assert web.client.post("/devices/new", data=form({"code": "X", "protocol": "http"}, "forged")).status_code == 403
    for url in (f"/devices/{theirs}", f"/quarantine?device_id={theirs}"):
        r = web.client.get(url)
        assert r.status_code in (200, 404) and "GW-2" not in r.text, url
    assert web.client.post(f"/devices/{theirs}/token", data={"csrf_token": token}).status_code == 404
    assert web.client.post(f"/devices/{theirs}/delete", data={"csrf_token": token}).status_code == 404
    with web.db.factory() as s:
        assert s.get(Device, theirs).token_hash == ""


def test_hostile_urls_and_forms_never_answer_5xx(both: Env) -> None:
    env = both
    device_id = make_device(env, "PLC-A")
    token = sign_in(env)
    urls = ["/devices/99999999999999999999999", "/devices/-1", "/devices/abc", "/devices?offset=-5",
            "/devices?offset=99999999999999", "/devices?state=%00", "/devices?protocol=%00x", "/devices?q=%00",
            "/devices?q=" + "x" * 5000, "/devices/help?protocol=%00", "/devices/help", "/quarantine?device_id=%00",
            "/quarantine?device_id=99999999999999999999999", "/quarantine?reason=%00&offset=1",
            "/devices/new?protocol=%00", "/simulator?x=%00", f"/devices/{device_id}/rules/try"]
    for url in urls:
        r = env.client.get(url)
        assert r.status_code < 500, f"{url}: {r.status_code}"
    hostile = ["a\x00: [1]", "a: !!python/object/apply:os.system ['true']", "&a [*a]", "- " * 2000, "\ufffe\x85",
               "x: 2024-01-01", "x: .nan", "? [a]\n: b", "{" * 500, "x: !!binary aGVsbG8=",
               "- {point: EQ-1-HP, address: 0, scale: .inf}", "[" * 600 + "]" * 600]
    for text in hostile:
        for name in ("connection", "points", "rules"):
            data = form({"code": "H1", "protocol": "modbus", "connection": "host: h\n", name: text}, token)
            r = env.client.post("/devices/new", data=data)
            assert r.status_code == 422, (name, text[:20], r.status_code)
        r = env.client.post(f"/devices/{device_id}", data=form({"points": text}, token))
        assert r.status_code < 500
        r = env.client.post(f"/devices/{device_id}/rules/try", headers={"HX-Request": "true"},
                            data={"csrf_token": token, "rules": text, "sample": text})
        assert r.status_code == 200
        r = env.client.post("/devices/import", data={"csrf_token": token, "yaml": "devices:\n  - " + text})
        assert r.status_code == 422
    # Bytes that are not UTF-8 (a lone surrogate's encoding) in a form field.
    body = urlencode(form({"code": "H1", "protocol": "modbus"}, token)) + "&connection=%ED%A0%80"
    r = env.client.post("/devices/new", content=body.encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422
    r = env.client.post("/devices/new", data=form({"code": "X" * 100, "protocol": "\x00", "poll_interval_s": "nan",
                                                   "name": "n" * 500, "notes": "\x00"}, token))
    assert r.status_code == 422
    for bad in ({"action": "explode"}, {"action": "trigger", "fault": "\x00"}, {"action": "trigger"}):
        r = env.client.post("/simulator", data={"csrf_token": token, **bad})
        assert r.status_code == 422
    with env.db.factory() as s:
        assert [d.code for d in s.scalars(select(Device))] == ["PLC-A"]


# -- the simulator ----------------------------------------------------------------------------------------------


@contextmanager
def running_simulator(control_dir: Path) -> Iterator[Any]:
    """The real simulator with its control channel (no protocol servers), on its own loop."""
    from plantguard.simulator.servers import build_simulator

    sim = build_simulator(seed=3, speed=60.0, modbus_port=None, opcua_port=None, control_dir=control_dir, tick_s=0.5)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        try:
            await sim.start()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        await stop.wait()
        await sim.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="simulator", daemon=True)
    thread.start()
    assert started.wait(60) and not failure, failure
    try:
        yield sim
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()
        assert not thread.is_alive()


def test_simulator_faults_from_the_console(web: Env) -> None:
    token = sign_in(web)
    r = web.client.get("/simulator")
    assert r.status_code == 200 and "Not running" in r.text and "plantguard simulate" in r.text
    r = web.client.post("/simulator", data={"csrf_token": token, "action": "trigger", "fault": "gas-leak"})
    assert r.status_code == 422 and "The simulator is not running" in r.text
    control = web.client.app.state.runtime.settings.var_dir / "simulator"  # type: ignore[attr-defined]
    with running_simulator(control) as sim:
        r = web.client.get("/simulator")
        assert "Running" in r.text and "No fault is active" in r.text
        assert '<option value="EQ-1">' in r.text  # the enterprise's equipment as targets
        htmx = {"HX-Request": "true"}
        r = web.client.post("/simulator", headers=htmx,
                            data={"csrf_token": token, "action": "trigger", "fault": "micro-leak", "target": ""})
        assert r.status_code == 200 and 'id="sim-message">Started:' in r.text
        assert [f.kind for f in sim.faults.active] == ["micro-leak"]
        target = sim.faults.active[0].target
        assert f'data-fault="micro-leak" data-target="{target}"' in r.text
        r = web.client.post("/simulator", headers=htmx,
                            data={"csrf_token": token, "action": "trigger", "fault": "bearing-wear",
                                  "target": "NO-SUCH-EQUIPMENT"})
        assert r.status_code == 200 and "The simulator refused" in r.text and "NO-SUCH-EQUIPMENT" in r.text
        r = web.client.post("/simulator", data={"csrf_token": token, "action": "trigger", "fault": "gas-leak"})
        assert r.status_code == 200 and len(sim.faults.active) == 2
        r = web.client.post("/simulator", headers=htmx, data={"csrf_token": token, "action": "clear",
                                                               "fault": "micro-leak", "target": target})
        assert "Faults cleared: 1" in r.text and [f.kind for f in sim.faults.active] == ["gas-leak"]
        assert 'data-fault="micro-leak"' not in r.text and 'data-fault="gas-leak"' in r.text
        r = web.client.post("/simulator", data={"csrf_token": token, "action": "clear"})
        assert "Faults cleared: 1" in r.text and sim.faults.active == []

