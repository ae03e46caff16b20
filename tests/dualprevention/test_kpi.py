"""Dual-prevention KPIs and list exports: exact values on a constructed October of hazards and
inspections, on both backends; another enterprise's records never counted or exported; the
empty state says "no data", never 0 %; bad parameters are 422 naming the field; XLSX files
read back with openpyxl (translated header, a row, a formula-looking text kept as text,
filters honoured); the dashboard page, its panel and the export buttons.

One world per backend for the whole module (rows written once with explicit lifecycle
times, one app): everything here only reads, so the tests share it.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.errors import PermissionDenied, ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.dualprevention import kpi
from plantguard.hazards.models import Hazard
from plantguard.inspections.models import InspectionCheckin, InspectionPlan, InspectionResult, InspectionTask
from plantguard.risk.models import RiskPoint
from plantguard.tenancy.models import User
from plantguard.workorders import service as workorders
from tests.api.conftest import build_app
from tests.conftest import Db, _truncate_all
from tests.factories import PASSWORD, Tenant, make_tenant
from tests.web.test_pages import login

B = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NOW = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
OCT = ("2026-10-01", "2026-10-31")
INJECTION = "=HYPERLINK(\"http://evil.example\",\"click\")"
D = timedelta(days=1)


@dataclass
class World:
    db: Db
    client: TestClient
    t1: Tenant
    t2: Tenant
    t3: Tenant  # nothing at all
    actors: dict[str, Actor]
    numbers: dict[str, str]

    def kpi(self, who: str = "sm1", first: str | None = OCT[0], last: str | None = OCT[1],
            days: str | None = None) -> kpi.Kpi:
        with self.db.factory() as s:
            return kpi.kpi(s, self.actors[who], first, last, days, now=NOW)

    def headers(self, role: str = "safety_manager", tenant: Tenant | None = None, lang: str = "en") -> dict[str, str]:
        tenant = tenant or self.t1
        r = self.client.post("/api/v1/auth/token", data={"username": tenant.users[role], "password": PASSWORD})
        return {"Authorization": f"Bearer {r.json()['access_token']}", "Accept-Language": lang}


def _actor(db: Db, t: Tenant, role: Role) -> Actor:
    with db.factory() as s:
        uid = s.scalar(select(User.id).where(User.username == t.users[role.value]))
    assert uid is not None
    return Actor(uid, t.enterprise_id, role, role.value)


def _hazards(db: Db, t: Tenant, actor: Actor, full: bool) -> dict[str, str]:
    """Hazards of one enterprise (a1 = 冲压车间, a2 = 焊装车间):

    H1 a1 machinery general  reported B      deadline B+7  accepted B+5 (on time)  closed B+6
    H2 a1 machinery general  reported B+10   deadline B+12 accepted B+14 (late)    not closed
    H3 a2 electrical major   reported B+1    deadline B+15 in treatment            (overdue)
    H4 a1 —          —       reported B+2    only reported; title looks like a formula
    H5 a2 fire       —       reported B+3    rejected (not a hazard)
    H6 a1 machinery general  reported 20 Sep deadline 27 Sep accepted 26 Sep closed 28 Sep
    H7 a2 electrical general reported B+23   deadline 5 Nov assessed
    H8 a1 electrical general reported B+4    deadline B+5  accepted B+6 (late)     closed B+7
    """
    a1, a2 = t.area_id, t.area2_id
    sep = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)
    rows = {
        "H1": dict(area_id=a1, category="machinery", grade="general", reported_at=B, deadline_at=B + 7 * D,
                   accepted_at=B + 5 * D, closed_at=B + 6 * D, status="closed"),
        "H2": dict(area_id=a1, category="machinery", grade="general", reported_at=B + 10 * D,
                   deadline_at=B + 12 * D, accepted_at=B + 14 * D, status="accepted"),
        "H3": dict(area_id=a2, category="electrical", grade="major", reported_at=B + D, deadline_at=B + 15 * D,
                   status="in_treatment"),
        "H4": dict(area_id=a1, reported_at=B + 2 * D, status="reported", title=INJECTION),
        "H5": dict(area_id=a2, category="fire", reported_at=B + 3 * D, status="rejected"),
        "H6": dict(area_id=a1, category="machinery", grade="general", reported_at=sep, deadline_at=sep + 7 * D,
                   accepted_at=sep + 6 * D, closed_at=sep + 8 * D, status="closed"),
        "H7": dict(area_id=a2, category="electrical", grade="general", reported_at=B + 23 * D,
                   deadline_at=datetime(2026, 11, 5, 2, 0, tzinfo=UTC), status="assessed"),
        "H8": dict(area_id=a1, category="electrical", grade="general", reported_at=B + 4 * D,
                   deadline_at=B + 5 * D, accepted_at=B + 6 * D, closed_at=B + 7 * D, status="closed"),
    }
    if not full:  # the other enterprise: one hazard in October, closed
        rows = {"H1": rows["H1"]}
    out: dict[str, str] = {}
    with db.factory() as s:
        bind_actor(s, actor)
        for i, (name, values) in enumerate(rows.items(), start=1):
            number = f"YH-{t.enterprise_id}-{i:03d}"
            title = str(values.pop("title", f"hazard {name}"))
            s.add(Hazard(enterprise_id=t.enterprise_id, number=number, title=title, description=f"{name} text",
                         grade_basis=[], rectified_by=[], **values))
            out[name] = number
        s.commit()
    return out


def _inspections(db: Db, t: Tenant, actor: Actor, full: bool) -> None:
    """Daily windows of one point: 3 done and 1 missed in October, 1 still open after its
    window (not settled), 1 done in September; one "not OK" result in October."""
    with db.factory() as s:
        bind_actor(s, actor)
        point = RiskPoint(enterprise_id=t.enterprise_id, code="RP-1", name="1号压力机", kind="equipment",
                          area_id=t.area_id)
        plan = InspectionPlan(enterprise_id=t.enterprise_id, name="日检", frequency="day", assignee_role="worker")
        s.add_all([point, plan])
        s.flush()

        def task(day: datetime, status: str) -> InspectionTask:
            start = day.replace(hour=16) - D  # plant midnight of ``day`` (UTC+8)
            tk = InspectionTask(enterprise_id=t.enterprise_id, plan_id=plan.id, risk_point_id=point.id,
                                period=f"day:{day:%Y-%m-%d}", window_start=start, window_end=start + D,
                                status=status, assignee_role="worker", created_at=start,
                                done_at=start + timedelta(hours=3) if status == "done" else None,
                                done_by=actor.user_id if status == "done" else None)
            s.add(tk)
            s.flush()
            return tk

        first = task(datetime(2026, 10, 10, tzinfo=UTC), "done")
        if full:
            task(datetime(2026, 10, 11, tzinfo=UTC), "done")
            task(datetime(2026, 10, 12, tzinfo=UTC), "done")
            task(datetime(2026, 10, 13, tzinfo=UTC), "missed")
            task(datetime(2026, 10, 14, tzinfo=UTC), "open")
            task(datetime(2026, 9, 14, tzinfo=UTC), "done")
            at = first.window_start + timedelta(hours=2)
            ci = InspectionCheckin(enterprise_id=t.enterprise_id, task_id=first.id, risk_point_id=point.id,
                                   user_id=actor.user_id, at=at, token_matched=True)
            s.add(ci)
            s.flush()
            s.add_all([InspectionResult(enterprise_id=t.enterprise_id, task_id=first.id, checkin_id=ci.id,
                                        item_id=None, text=txt, outcome=o, note="", user_id=actor.user_id, at=at)
                       for txt, o in (("护栏完好", "ok"), ("急停按钮有效", "not_ok"))])
        s.commit()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("dpkpi")
    if request.param == "sqlite":
        path = tmp / "plantguard.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    db = Db(request.param, url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
    try:
        t1, t2, t3 = (make_tenant(db.factory, c) for c in ("E1", "E2", "E3"))
        actors = {"sm1": _actor(db, t1, Role.SAFETY_MANAGER), "sm2": _actor(db, t2, Role.SAFETY_MANAGER),
                  "sm3": _actor(db, t3, Role.SAFETY_MANAGER), "worker1": _actor(db, t1, Role.WORKER)}
        numbers = _hazards(db, t1, actors["sm1"], full=True)
        _hazards(db, t2, actors["sm2"], full=False)
        _inspections(db, t1, actors["sm1"], full=True)
        _inspections(db, t2, actors["sm2"], full=False)
        with db.factory() as s:  # one work order each, for the export
            for t, who in ((t1, "sm1"), (t2, "sm2")):
                bind_actor(s, actors[who])
                workorders.create(s, actors[who], {"title": f"-1+1 order of {t.enterprise_id}", "priority": "p2"})
            s.commit()
        with build_app(db, tmp) as client:
            yield World(db, client, t1, t2, t3, actors, numbers)
    finally:
        if request.param == "postgres":
            _truncate_all(engine)
        engine.dispose()


# -- the figures -------------------------------------------------------------------------------


def test_exact_values_for_october(world: World) -> None:
    k = world.kpi()
    h = k.hazards
    assert (h.reported, h.rejected) == (7, 1)
    assert h.by_status == {"reported": 1, "registered": 0, "assessed": 1, "in_treatment": 1,
                           "awaiting_acceptance": 0, "accepted": 1, "closed": 2, "rejected": 1}
    assert h.by_grade == {"general": 4, "major": 1, "": 1}
    assert h.by_category == [("electrical", 3), ("machinery", 2), ("", 1)]
    assert [(a, n) for a, _name, n in h.by_area] == [(world.t1.area_id, 4), (world.t1.area2_id, 2)]
    assert h.by_area[0][1] == "冲压车间"
    assert (h.on_time.numerator, h.on_time.denominator) == (1, 3)  # H1 on time; H2, H8 late
    assert (h.closure.numerator, h.closure.denominator) == (2, 6)  # H1, H8 of 6 (H5 rejected)
    assert h.closure.value == pytest.approx(1 / 3)
    # H1 came back after H6, H2 after H1
    assert (h.recurrence.numerator, h.recurrence.denominator, h.recurrence_days) == (2, 5, 90)
    assert (h.open_now, h.overdue_now, h.major_open_now) == (4, 1, 1)  # H2 H3 H4 H7 open; H3 overdue
    i = k.inspections
    assert (i.done, i.missed, i.unsettled, i.failed_items) == (3, 1, 1, 1)
    assert (i.completion.numerator, i.completion.denominator) == (3, 4)
    assert not k.empty


def test_recurrence_window_and_trend(world: World) -> None:
    short = world.kpi(days="5").hazards.recurrence  # H6 → H1 is 7 days: no longer a recurrence
    assert (short.numerator, short.denominator) == (1, 5)
    t = world.kpi().trend
    assert t.months[0] == "2025-11" and t.months[-1] == "2026-10" and len(t.months) == 12
    s = t.series
    assert (s["reported"][-2], s["reported"][-1]) == (1, 7)  # September: H6; October: all 7 reports
    assert (s["closed"][-2], s["closed"][-1]) == (1, 2)
    assert s["overdue"][-1] == 3  # deadlines in October missed: H2 (accepted late), H3, H8
    assert s["overdue"][-2] == 0  # H6 was accepted before its deadline
    assert (s["inspections_done"][-2:], s["inspections_missed"][-1]) == ([1, 3], 1)
    assert sum(s["reported"][:-2]) == sum(s["closed"][:-2]) == 0


def test_other_enterprise_and_empty_state(world: World) -> None:
    other = world.kpi("sm2")
    assert (other.hazards.reported, other.hazards.closure.numerator, other.inspections.done) == (1, 1, 1)
    assert other.hazards.recurrence.numerator == 0
    empty = world.kpi("sm3")
    assert empty.empty
    h = empty.hazards
    assert (h.on_time.value, h.closure.value, h.recurrence.value, empty.inspections.completion.value) == (
        None, None, None, None)  # "no data yet", never 0 %
    assert h.by_category == [] and h.by_area == []


def test_bad_parameters_name_the_field(world: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        world.kpi(first="2026-13-01", days="0")
    assert {e.field for e in exc.value.errors} == {"from", "recurrence_days"}
    with pytest.raises(ValidationFailed) as exc:
        world.kpi(first="2026-10-05", last="2026-10-01")
    assert [e.field for e in exc.value.errors] == ["to"]
    with pytest.raises(PermissionDenied):
        world.kpi("worker1")


def test_api(world: World) -> None:
    r = world.client.get("/api/v1/dual-prevention/kpi", params={"from": OCT[0], "to": OCT[1]},
                         headers=world.headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"]["from"] == OCT[0]
    hz = body["hazards"]
    assert hz["closure"] == {"rate": pytest.approx(1 / 3), "closed": 2, "counted": 6}
    assert hz["on_time_rectification"] == {"rate": pytest.approx(1 / 3), "on_time": 1, "rectified": 3}
    assert hz["recurrence"]["recurring"] == 2 and hz["by_grade"] == {"general": 4, "major": 1, "ungraded": 1}
    assert {"category": None, "count": 1} in hz["by_category"]
    assert body["inspections"]["completion"] == {"rate": 0.75, "done": 3, "settled": 4, "missed": 1}
    assert body["trend"]["reported"][-1] == 7
    empty = world.client.get("/api/v1/dual-prevention/kpi", params={"from": OCT[0], "to": OCT[1]},
                             headers=world.headers(tenant=world.t3)).json()
    assert empty["hazards"]["closure"] == {"rate": None, "closed": 0, "counted": 0}
    bad = world.client.get("/api/v1/dual-prevention/kpi", params={"from": "x", "recurrence_days": "abc"},
                           headers=world.headers(lang="zh-CN"))
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"from", "recurrence_days"}
    assert world.client.get("/api/v1/dual-prevention/kpi", headers=world.headers("worker")).status_code == 403


# -- exports -----------------------------------------------------------------------------------


def _sheet(content: bytes) -> list[list[object]]:
    ws = openpyxl.load_workbook(io.BytesIO(content)).active
    assert ws is not None
    assert ws.freeze_panes == "A2"
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_hazard_export(world: World) -> None:
    r = world.client.get("/api/v1/hazards.xlsx", headers=world.headers())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert 'filename="hazards-' in r.headers["content-disposition"]
    rows = _sheet(r.content)
    head = rows[0]
    assert head[:3] == ["Number", "Title", "Grade"] and "Reported at" in head
    assert len(rows) - 1 == int(r.headers["x-total-count"]) == 8
    by_number = {row[0]: row for row in rows[1:]}
    h3 = by_number[world.numbers["H3"]]
    assert h3[2] == "Major hazard" and h3[head.index("Area")] == "WD 焊装车间"
    assert h3[head.index("Reported at")] == datetime(2026, 10, 6, 10, 0)  # plant time (UTC+8)
    assert h3[head.index("Overdue")] == "Yes"
    # the formula-looking title is a text cell with the quote prefix: never evaluated
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    cell = next(c for c in ws["B"] if c.value == INJECTION)
    assert cell.data_type == "s" and cell.quotePrefix
    # filters as in the list; other enterprises never exported
    major = _sheet(world.client.get("/api/v1/hazards.xlsx", params={"grade": "major"},
                                    headers=world.headers()).content)
    assert [row[0] for row in major[1:]] == [world.numbers["H3"]]
    zh = _sheet(world.client.get("/api/v1/hazards.xlsx", params={"status": "closed"},
                                 headers=world.headers(lang="zh-CN")).content)
    assert zh[0][0] == "编号" and len(zh) == 4  # H1, H6, H8
    other = _sheet(world.client.get("/api/v1/hazards.xlsx", headers=world.headers(tenant=world.t2)).content)
    assert len(other) == 2 and other[1][0] not in by_number
    bad = world.client.get("/api/v1/hazards.xlsx", params={"grade": "huge"}, headers=world.headers())
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "grade"


def test_other_exports(world: World) -> None:
    h = world.headers()
    points = _sheet(world.client.get("/api/v1/risk-points.xlsx", headers=h).content)
    assert points[0][:2] == ["Code", "Name"] and points[1][0] == "RP-1" and len(points) == 2
    tasks = world.client.get("/api/v1/inspections.xlsx", params={"status": "done"}, headers=h)
    rows = _sheet(tasks.content)
    assert rows[0][:3] == ["Task", "Plan", "Risk point"] and len(rows) - 1 == 4  # 3 in October, 1 in September
    failed = rows[0].index("Failed items")
    assert sorted(r[failed] for r in rows[1:]) == [0, 0, 0, 1]
    orders = world.client.get("/api/v1/workorders.xlsx", headers=h)
    sheet = _sheet(orders.content)
    assert sheet[0][:2] == ["Number", "Title"] and len(sheet) == 2
    assert sheet[1][1] == f"-1+1 order of {world.t1.enterprise_id}"  # kept as text
    assert world.client.get("/api/v1/workorders.xlsx", params={"priority": "p9"},
                            headers=h).json()["errors"][0]["field"] == "priority"
    assert world.client.get("/api/v1/risk-points.xlsx").status_code == 401


# -- console -----------------------------------------------------------------------------------


def test_pages(world: World) -> None:
    client = world.client
    client.cookies.clear()
    login(client, world.t1.users["safety_manager"])
    page = client.get("/dual-prevention", params={"from": OCT[0], "to": OCT[1]}, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    for key in ("grade", "status", "category", "area", "trend", "inspections"):
        assert f'id="dp-chart-{key}"' in page.text
    assert page.text.count("data-chart=") == 6
    assert 'id="dp-closure" data-rate="0.3333" data-n="6"' in page.text
    bad = client.get("/dual-prevention", params={"from": "2026-02-30", "recurrence_days": "-1"})
    assert bad.status_code == 422 and 'id="err-from"' in bad.text and 'id="err-recurrence_days"' in bad.text
    assert 'hx-get="/dashboard/dual-prevention"' in client.get("/dashboard").text
    panel = client.get("/dashboard/dual-prevention")
    assert panel.status_code == 200 and 'id="dp-open" data-open="' in panel.text
    listing = client.get("/hazards", params={"grade": "major"})
    assert 'href="/api/v1/hazards.xlsx?grade=major&amp;status=open"' in listing.text
    for path in ("/risk", "/inspections", "/workorders"):
        assert 'id="export-xlsx"' in client.get(path).text
    client.cookies.clear()
    login(client, world.t3.users["safety_manager"])
    empty = client.get("/dual-prevention", headers={"Accept-Language": "en"})
    assert empty.status_code == 200 and "data-chart=" not in empty.text
    assert "will be drawn here" in empty.text and "No data yet" in empty.text
    client.cookies.clear()
    login(client, world.t1.users["worker"])
    assert client.get("/dual-prevention").status_code == 403
    assert 'hx-get="/dashboard/dual-prevention"' not in client.get("/dashboard").text
    client.cookies.clear()
