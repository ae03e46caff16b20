"""Work-order metrics: exact values on a constructed month of orders, on both backends; the
other enterprise's orders never counted; the empty state says "no data", never 0 %; bad period
parameters are 422 naming the field; role check; the metrics page and the dashboard panel.

One world per backend for the whole module (orders built once through the service with
explicit times, one app): the figures are read-only, so the tests share it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.errors import PermissionDenied, ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.workorders import metrics, service
from tests.api.conftest import build_app
from tests.conftest import Db, _truncate_all
from tests.factories import PASSWORD, Tenant, make_tenant
from tests.web.test_pages import login
from tests.workorders.conftest import wire_roster
from tests.workorders.test_lifecycle_api import SIGNATURE

B = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: the day team is on duty
NOW = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
OCT = ("2026-10-01", "2026-10-31")


@dataclass
class World:
    db: Db
    client: TestClient
    t1: Tenant
    t2: Tenant
    manager: Actor
    orders: dict[str, int]
    other: Actor

    def session_metrics(self, actor: Actor | None = None, first: str | None = OCT[0], last: str | None = OCT[1],
                        team_id: int | None = None) -> metrics.Metrics:
        with self.db.factory() as s:
            return metrics.metrics(s, actor or self.manager, first, last, team_id, now=NOW)

    def api(self, role: str = "safety_manager", tenant: Tenant | None = None, **params: str) -> object:
        tenant = tenant or self.t1
        r = self.client.post("/api/v1/auth/token", data={"username": tenant.users[role], "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}", "Accept-Language": "en"}
        return self.client.get("/api/v1/workorder-metrics", params=params, headers=headers)


def _build(db: Db, t: Tenant, ids: dict[str, int], var: Path, full: bool) -> dict[str, int]:
    """Orders of one enterprise (p3: due 24 h after creation), times chosen so every figure is exact:

    A  created B,     taken on +10 min, closed +4 h (on time)
    B  created B+1 d, taken on +30 min, closed +30 h (late)
    C  created B+2 d, taken on +20 min, still in progress (overdue)
    D  created B+3 d, no team: pending (overdue)
    E  created B+4 d, cancelled after 1 h (not counted in the closure rate)
    F  created 20 Sep (before the period), taken on 5 min later, closed 2 Oct (late, 12 days)
    """
    manager = Actor(ids["safety_manager"], t.enterprise_id, Role.SAFETY_MANAGER, "sm")
    worker = Actor(ids["worker"], t.enterprise_id, Role.WORKER, "w")
    out: dict[str, int] = {}

    def step(actor: Actor, fn: object, *args: object, **kw: object) -> None:
        with db.factory() as s:
            bind_actor(s, actor)
            fn(s, actor, *args, **kw)  # type: ignore[operator]
            s.commit()

    def new(name: str, at: datetime, team: bool = True) -> int:
        with db.factory() as s:
            bind_actor(s, manager)
            o = service.create(s, manager, {"title": f"order {name}", "priority": "p3",
                                            **({"team_id": t.team_id} if team else {})}, now=at)
            s.commit()
            out[name] = o.id
            return o.id

    def to_closed(oid: int, at: datetime, accept_after: timedelta, close_after: timedelta) -> None:
        step(worker, service.accept, oid, now=at + accept_after)
        step(worker, service.submit, oid, now=at + close_after - timedelta(minutes=1))
        step(manager, service.close, oid, SIGNATURE, var, now=at + close_after)

    to_closed(new("A", B), B, timedelta(minutes=10), timedelta(hours=4))
    if not full:
        return out
    to_closed(new("B", B + timedelta(days=1)), B + timedelta(days=1), timedelta(minutes=30), timedelta(hours=30))
    c = new("C", B + timedelta(days=2))
    step(worker, service.accept, c, now=B + timedelta(days=2, minutes=20))
    new("D", B + timedelta(days=3), team=False)
    e = new("E", B + timedelta(days=4))
    step(manager, service.cancel, e, "duplicate", now=B + timedelta(days=4, hours=1))
    f_at = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)
    to_closed(new("F", f_at), f_at, timedelta(minutes=5), timedelta(days=12))
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("metrics")
    if request.param == "sqlite":
        path = tmp / "plantguard.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    db = Db(request.param, url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
    try:
        t1, t2 = make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")
        ids1, ids2 = wire_roster(db, t1), wire_roster(db, t2)
        orders = _build(db, t1, ids1, tmp, full=True)
        _build(db, t2, ids2, tmp, full=False)  # the other enterprise: one order, closed on 5 Oct
        manager = Actor(ids1["safety_manager"], t1.enterprise_id, Role.SAFETY_MANAGER, "sm")
        other = Actor(ids2["safety_manager"], t2.enterprise_id, Role.SAFETY_MANAGER, "sm2")
        with build_app(db, tmp) as client:
            yield World(db, client, t1, t2, manager, orders, other)
    finally:
        if request.param == "postgres":
            _truncate_all(engine)
        engine.dispose()


def test_exact_values_for_the_month(world: World) -> None:
    m = world.session_metrics()
    assert (m.period.first_day.isoformat(), m.period.last_day.isoformat(), m.period.days) == (*OCT, 31)
    assert m.period.start == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # plant midnight (UTC+8)
    assert (m.mtta.n, m.mtta.mean_seconds) == (3, 1200)  # A 600 s, B 1800 s, C 1200 s
    assert (m.mttr.n, m.mttr.mean_seconds) == (3, (14400 + 108000 + 1036800) // 3)  # A, B, F
    assert (m.on_time.numerator, m.on_time.denominator) == (1, 3)  # only A before its due time
    c = m.closure
    assert (c.created, c.cancelled, c.closed, c.rate.denominator) == (5, 1, 2, 4)
    assert c.rate.value == 0.5 and c.passed is False
    backlog = {t.team_id: (t.total, t.by_status["in_progress"], t.by_status["pending"]) for t in m.backlog}
    assert backlog == {world.t1.team_id: (1, 1, 0), None: (1, 0, 1)}
    assert m.backlog[-1].team_id is None  # "no team" comes last
    assert [o.id for o in m.overdue] == [world.orders["C"], world.orders["D"]] and m.overdue_total == 2
    assert m.overdue[0].overdue_seconds == int((NOW - (B + timedelta(days=3))).total_seconds())


def test_team_filter_and_a_passing_day(world: World) -> None:
    m = world.session_metrics(team_id=world.t1.team_id)
    assert (m.closure.created, m.closure.cancelled, m.closure.closed) == (4, 1, 2)  # D has no team
    assert [o.id for o in m.overdue] == [world.orders["C"]]
    assert [t.team_id for t in m.backlog] == [world.t1.team_id]
    day = world.session_metrics(first="2026-10-05", last="2026-10-05")
    assert day.closure.rate.value == 1.0 and day.closure.passed is True
    assert (day.mtta.n, day.mtta.mean_seconds, day.mttr.mean_seconds) == (1, 600, 14400)


def test_other_enterprise_not_counted_and_empty_state(world: World) -> None:
    m = world.session_metrics(world.other)  # E2: only its own order A
    assert (m.closure.created, m.closure.closed, m.mttr.n, m.mtta.n, m.overdue_total) == (1, 1, 1, 1, 0)
    empty = world.session_metrics(first="2025-01-01", last="2025-01-31", actor=world.other)
    assert empty.mtta == metrics.Duration(None, 0) and empty.mttr == metrics.Duration(None, 0)
    assert empty.on_time.value is None and empty.closure.rate.value is None and empty.closure.passed is None
    assert empty.empty
    with world.db.factory() as s, pytest.raises(ValidationFailed) as exc:
        metrics.metrics(s, world.other, team_id=world.t1.team_id)  # another enterprise's team
    assert [e.field for e in exc.value.errors] == ["team_id"]


def test_permission_in_the_service(world: World) -> None:
    worker = Actor(world.manager.user_id, world.t1.enterprise_id, Role.WORKER, "w")
    with world.db.factory() as s, pytest.raises(PermissionDenied):
        metrics.metrics(s, worker)


def test_api_values_bad_params_and_roles(world: World) -> None:
    r = world.api(**{"from": OCT[0], "to": OCT[1]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"]["from"] == OCT[0] and body["period"]["days"] == 31
    assert body["closure"] == {"rate": 0.5, "closed": 2, "created": 5, "cancelled": 1, "counted": 4, "target": 0.92,
                               "passed": False}
    assert body["mtta"] == {"mean_seconds": 1200, "n": 3}
    assert body["on_time_closure"] == {"rate": pytest.approx(1 / 3), "on_time": 1, "closed": 3}
    assert [o["number"].startswith("WO-") for o in body["overdue"]["items"]] == [True, True]
    empty = world.api(tenant=world.t2, **{"from": "2025-01-01", "to": "2025-01-31"}).json()
    assert empty["closure"]["rate"] is None and empty["closure"]["passed"] is None and empty["mtta"]["n"] == 0
    for params, field in (({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"),
                          ({"from": "2026-10-31", "to": "2026-10-01"}, "to"),
                          ({"from": "2024-01-01", "to": "2026-01-01"}, "to"), ({"from": "1999-12-31"}, "from"),
                          ({"team_id": "0"}, "team_id"), ({"team_id": str(world.t2.team_id)}, "team_id")):
        r = world.api(**params)
        assert r.status_code == 422, (params, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], params
    assert world.api("worker").status_code == 403 and world.api("auditor").status_code == 403
    assert world.api("team_leader").status_code == 200


def test_metrics_page_dashboard_panel_and_errors(world: World) -> None:
    client = world.client
    client.cookies.clear()
    login(client, world.t1.users["safety_manager"])
    client.cookies.set("plantguard_lang", "en")
    page = client.get("/workorders/metrics", params={"from": OCT[0], "to": OCT[1]})
    assert page.status_code == 200
    assert 'data-rate="0.5000" data-passed="0"' in page.text and "Below the 92.0 % bar" in page.text
    assert "2 closed of 4 created (1 cancelled not counted)" in page.text
    assert 'id="wo-mtta" data-n="3" data-seconds="1200"' in page.text and "20 min" in page.text
    assert f'data-order="{world.orders["C"]}"' in page.text and "No team (pending dispatch)" in page.text
    ok = client.get("/workorders/metrics", params={"from": "2026-10-05", "to": "2026-10-05"})
    assert 'data-passed="1"' in ok.text and "Meets the 92.0 % bar" in ok.text
    bad = client.get("/workorders/metrics", params={"from": "2026-02-30", "team_id": "x"})
    assert bad.status_code == 422 and 'id="err-from"' in bad.text and 'id="err-team_id"' in bad.text
    client.cookies.set("plantguard_lang", "zh_CN")
    zh = client.get("/workorders/metrics", params={"from": "2026-02-30"})
    assert zh.status_code == 422 and 'id="err-from"' in zh.text and "YYYY-MM-DD" in zh.text
    client.cookies.set("plantguard_lang", "en")
    # the dashboard: the panel is there for a manager; the last 30 days hold none of October's orders
    assert 'id="panel-workorder-metrics"' in client.get("/dashboard").text
    panel = client.get("/dashboard/workorder-metrics")
    assert panel.status_code == 200 and 'data-passed=""' in panel.text and "No data yet" in panel.text
    assert "0.0 %" not in panel.text and 'data-count="2"' in panel.text  # two overdue, as of now
    client.cookies.clear()
    login(client, world.t1.users["worker"])
    assert 'id="panel-workorder-metrics"' not in client.get("/dashboard").text
    assert client.get("/workorders/metrics").status_code == 403
    client.cookies.clear()
