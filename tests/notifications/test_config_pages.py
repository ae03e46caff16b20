"""Console pages for channels and targeting rules: add/edit/delete with secrets and webhook
addresses never shown again (an empty field keeps them), errors at the field in the user's
language, "send test message" through the real dispatcher to a local receiver, the rules
editor (save, refuse with field errors, restore defaults), roles and tenancy.

One app per module (SQLite: storage is covered by the API tests on both backends)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.i18n import gettext
from plantguard.notifications.dispatcher import Dispatcher
from plantguard.notifications.models import NotificationChannel, NotificationRule
from plantguard.notifications.policy import Throttle
from plantguard.notifications.targeting import DEFAULT_RULES
from tests.api.conftest import build_app
from tests.conftest import Db
from tests.factories import Tenant, make_tenant
from tests.notifications.conftest import Receiver
from tests.notifications.helpers import rows
from tests.web.test_pages import csrf_of, login


@dataclass
class Web:
    db: Db
    client: TestClient
    t1: Tenant
    t2: Tenant

    def as_(self, role: str, tenant: Tenant | None = None, lang: str = "en") -> str:
        self.client.cookies.clear()
        login(self.client, (tenant or self.t1).users[role])
        self.client.cookies.set("plantguard_lang", lang)
        return csrf_of(self.client.get("/notifications").text)

    def channel(self, name: str) -> NotificationChannel:
        with self.db.factory() as s:
            return s.scalars(select(NotificationChannel).where(NotificationChannel.name == name)).one()


@pytest.fixture(scope="module")
def web(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    tmp = tmp_path_factory.mktemp("notify-pages")
    shutil.copy(sqlite_template, tmp / "plantguard.db")
    url = f"sqlite:///{tmp / 'plantguard.db'}"
    engine = make_engine(url)
    db = Db("sqlite", url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
    t1, t2 = make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLANTGUARD_NOTIFY_DISPATCH_S", "0")  # the test drives the dispatcher itself
        with build_app(db, tmp) as client:
            yield Web(db, client, t1, t2)
    engine.dispose()


def test_channels_add_edit_mask_test_delete(web: Web, receiver: Receiver) -> None:
    token = web.as_("safety_manager")
    c = web.client
    assert "No channels yet" in c.get("/notifications/channels").text
    hook = f"{receiver.url}/cgi-bin/webhook/send?key=KEY-0123456789"
    r = c.post("/notifications/channels/new", data={"csrf_token": token, "kind": "wecom", "name": "车间群",
                                                    "url": hook, "enabled": "on"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = c.post("/notifications/channels/new", data={"csrf_token": token, "kind": "dingtalk", "name": "DT",
                                                    "url": "https://oapi.dingtalk.com/robot/send?access_token=TOK",
                                                    "secret": "SEC-s3cr3t", "enabled": "on"}, follow_redirects=False)
    assert r.status_code == 303
    listing = c.get("/notifications/channels").text
    assert "KEY-0123456789" not in listing and "SEC-s3cr3t" not in listing and "TOK" not in listing
    assert "http://127.0.0.1/…" in listing and "********" in listing
    dt = web.channel("DT")
    edit = c.get(f"/notifications/channels/{dt.id}/edit").text
    assert "SEC-s3cr3t" not in edit and "TOK" not in edit and "Leave empty to keep it" in edit
    # empty secret and URL on edit: both kept; the name changes
    r = c.post(f"/notifications/channels/{dt.id}/edit", data={"csrf_token": token, "kind": "dingtalk",
                                                              "name": "DT2", "url": "", "secret": "",
                                                              "enabled": "on"}, follow_redirects=False)
    assert r.status_code == 303
    kept = web.channel("DT2")
    assert kept.secret == "SEC-s3cr3t" and kept.config["url"].endswith("access_token=TOK")
    # field errors at the field, in the user's language; nothing saved
    bad = c.post("/notifications/channels/new", data={"csrf_token": token, "kind": "email", "name": "DT2",
                                                      "port": "abc", "sender": "nobody"})
    assert bad.status_code == 422 and 'id="err-port"' in bad.text
    bad = c.post("/notifications/channels/new", data={"csrf_token": token, "kind": "wecom", "name": "x"})
    assert bad.status_code == 422 and 'id="err-url"' in bad.text and "webhook URL" in bad.text
    web.client.cookies.set("plantguard_lang", "zh_CN")
    zh = c.post("/notifications/channels/new", data={"csrf_token": token, "kind": "wecom", "name": "x"})
    assert zh.status_code == 422 and 'id="err-url"' in zh.text and "Give the robot" not in zh.text
    web.client.cookies.set("plantguard_lang", "en")
    dup = c.post("/notifications/channels/new", data={"csrf_token": token, "kind": "wecom", "name": "DT2",
                                                      "url": "https://example.invalid/x"})
    assert dup.status_code == 422 and 'id="err-name"' in dup.text
    # send a test message: queued, then sent by the dispatcher to the local robot
    wecom = web.channel("车间群")
    r = c.post(f"/notifications/channels/{wecom.id}/test", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"tested={wecom.id}")
    counts = Dispatcher(web.db.factory, throttle=Throttle(0, 0), base_url="http://pg.test").run_once()
    assert counts["sent"] == 1 and len(receiver.hits) == 1
    # rendered in the sender's language (the catalogue's default, zh-CN, for this account)
    assert gettext("PlantGuard test message", "zh_CN") in receiver.hits[0].body["markdown"]["content"]
    assert receiver.hits[0].path.endswith("key=KEY-0123456789")
    assert 'data-status="sent"' in c.get("/notifications/channels").text
    # an email test needs the caller's address: refused with a message, nothing queued
    with web.db.factory() as s:
        s.add(NotificationChannel(enterprise_id=web.t1.enterprise_id, kind="email", name="mail",
                                  config={"host": "127.0.0.1", "sender": "pg@plant.test"}))
        s.commit()
    before = len(rows(web.db.factory))
    r = c.post(f"/notifications/channels/{web.channel('mail').id}/test", data={"csrf_token": token})
    assert r.status_code == 422 and 'id="channel-error"' in r.text and len(rows(web.db.factory)) == before
    # another enterprise's manager cannot see, test or delete it; a worker cannot open the page
    other = web.as_("safety_manager", web.t2)
    assert c.get(f"/notifications/channels/{kept.id}/edit").status_code == 404
    assert c.post(f"/notifications/channels/{kept.id}/test", data={"csrf_token": other}).status_code == 404
    assert c.post(f"/notifications/channels/{kept.id}/delete", data={"csrf_token": other}).status_code == 404
    assert "DT2" not in c.get("/notifications/channels").text
    web.as_("worker")
    assert c.get("/notifications/channels").status_code == 403
    assert c.get("/notifications/rules").status_code == 403
    token = web.as_("safety_manager")
    r = c.post(f"/notifications/channels/{kept.id}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "DT2" not in c.get("/notifications/channels").text


def _rule(i: int, **values: Any) -> dict[str, Any]:
    return {f"r{i}.{k}": v for k, v in values.items()}


def test_rules_editor_save_refuse_restore(web: Web) -> None:
    token = web.as_("safety_manager")
    c = web.client
    page = c.get("/notifications/rules").text
    # the defaults and one blank row to add a rule
    assert 'id="rules-defaults"' in page and page.count('class="card rule') == len(DEFAULT_RULES) + 1
    form = {"csrf_token": token, "rows": "3",
            **_rule(0, name="closed to managers", event="workorder.closed", roles=["safety_manager", "admin"],
                    channels=["inapp", "email"], min_severity="major", assignee="on", enabled="on"),
            **_rule(1, event="alarm.*", channels="inapp", team_leader="on", delete="1"),  # marked for deletion
            **_rule(2, event="", name="left empty")}  # the blank row
    r = c.post("/notifications/rules", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/notifications/rules?saved=1"
    with web.db.factory() as s:
        (rule,) = s.scalars(select(NotificationRule).where(NotificationRule.enterprise_id == web.t1.enterprise_id))
        assert (rule.name, rule.event, rule.min_severity, rule.channels) == ("closed to managers", "workorder.closed",
                                                                              "major", ["inapp", "email"])
        assert sorted(rule.audience["roles"]) == ["admin", "safety_manager"] and rule.audience["assignee"] is True
        assert rule.audience["team_leader"] is False and rule.enabled
    saved = c.get("/notifications/rules?saved=1").text
    assert 'id="rules-saved"' in saved and 'id="rules-defaults"' not in saved
    assert saved.count('class="card rule') == 1 + 1 and 'value="workorder.closed" selected' in saved
    bad = {"csrf_token": token, "rows": "2", **_rule(0, event="workorder.closed", roles="king"),
           **_rule(1, event="nothing.real", channels="pager")}
    web.client.cookies.set("plantguard_lang", "zh_CN")
    r = c.post("/notifications/rules", data=bad)
    assert r.status_code == 422
    assert 'id="err-r1-channels"' in r.text  # the schema refuses the unknown channel first
    r = c.post("/notifications/rules", data={**bad, "r1.channels": "inapp"})
    assert r.status_code == 422 and 'id="err-r0-roles"' in r.text and 'id="err-r1-event"' in r.text
    assert "Unknown event type" not in r.text  # said in Chinese
    web.client.cookies.set("plantguard_lang", "en")
    assert 'value="workorder.closed" selected' in c.get("/notifications/rules").text  # nothing changed
    r = c.post("/notifications/rules", data={"csrf_token": token, "rows": "0", "restore_defaults": "1"},
               follow_redirects=False)
    assert r.status_code == 303 and 'id="rules-defaults"' in c.get("/notifications/rules").text
