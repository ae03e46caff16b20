"""The console pages: the phase-risk report and a machine's context, signed in as a worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from plantguard.core.permissions import Actor, Role
from plantguard.timeseries.alignment.importers import Kind, import_csv
from plantguard.timeseries.alignment.views import mount
from tests.api.conftest import Env, build_app
from tests.conftest import Db
from tests.factories import make_tenant
from tests.web.test_pages import login

MES = """equipment,phase,start,end,order_no,product
EQ-1,changeover,2026-03-02 08:00,2026-03-02 08:30,WO-9,顶盖
EQ-1,first_piece,2026-03-02 08:30,2026-03-02 09:00,WO-9,顶盖
EQ-1,steady,2026-03-02 09:00,2026-03-02 17:00,WO-9,顶盖
"""
PLC = """ts,equipment,code,kind,message
2026-03-02 08:40,EQ-1,I901,incident,光幕急停
2026-03-02 10:00,EQ-1,A101,alarm,滑块过载
"""


@pytest.fixture
def web(sqlite_db: Db, tmp_path: Path) -> Iterator[Env]:
    t1 = make_tenant(sqlite_db.factory, "E1", roles=(Role.WORKER,))
    t2 = make_tenant(sqlite_db.factory, "E2", roles=(Role.WORKER,))
    with sqlite_db.factory() as s:
        actor = Actor(1, t1.enterprise_id, Role.ADMIN, "loader")
        for kind, text in ((Kind.MES_PHASES, MES), (Kind.PLC_EVENTS, PLC)):
            assert import_csv(s, actor, kind, text.encode()).errors == []
        s.commit()
    with build_app(sqlite_db, tmp_path) as client:
        app = client.app
        assert isinstance(app, FastAPI)
        if not any(getattr(r, "path", "") == "/alignment/context" for r in app.routes):
            mount(app)
        yield Env(sqlite_db, client, t1, t2, {})


def test_pages_need_sign_in(web: Env) -> None:
    r = web.client.get("/alignment/phase-risk", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_phase_risk_page(web: Env) -> None:
    login(web.client, "e1-worker")
    r = web.client.get("/alignment/phase-risk", params={"from": "2026-03-02", "to": "2026-03-03", "lang": "en"})
    assert r.status_code == 200
    assert "Risk by work phase" in r.text and "First-piece debugging" in r.text
    assert "data-chart=" in r.text
    bad = web.client.get("/alignment/phase-risk", params={"from": "someday", "lang": "en"})
    assert bad.status_code == 200 and 'class="error"' in bad.text and "From" in bad.text
    empty = web.client.get("/alignment/phase-risk", params={"from": "2025-01-01", "to": "2025-01-02", "lang": "en"})
    assert empty.status_code == 200 and "No MES phases in this period" in empty.text


def test_context_page(web: Env) -> None:
    login(web.client, "e1-worker")
    r = web.client.get("/alignment/context", params={"equipment_id": web.t1.equipment_id,
                                                     "at": "2026-03-02 08:45", "lang": "en"})
    assert r.status_code == 200
    assert "First-piece debugging" in r.text and "WO-9" in r.text and "光幕急停" in r.text
    # Another tenant's machine, or nonsense, is an error next to the form, not a page of data.
    for ident in (str(web.t2.equipment_id), "abc", "99999999999999999999999"):
        other = web.client.get("/alignment/context", params={"equipment_id": ident, "lang": "en"})
        assert other.status_code == 200 and 'class="error"' in other.text and "WO-9" not in other.text
    assert web.client.get("/alignment/context", params={"lang": "en"}).status_code == 200
