"""The dual-prevention demo data (issue 6, requirement 6): a realistic register, a site plan,
inspection plans with history, a year of hazards; idempotent; visible through the APIs.

One seed per backend (module scope): writing the history through the services is the slow part.
The hazard count is reduced here (``HAZARDS``); the shipped default is checked separately.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from plantguard.audit.verify import verify
from plantguard.core.db import make_engine, make_session_factory
from plantguard.demo import dual_prevention as dp
from plantguard.demo.seed import DEMO_PASSWORD, load_plant, seed_demo
from plantguard.events.models import OutboxMessage
from plantguard.hazards.models import Hazard, HazardAttachment, HazardEvent
from plantguard.inspections.models import InspectionPlan, InspectionResult, InspectionTask
from plantguard.risk.contract import area_levels
from plantguard.risk.models import ControlMeasure, HazardSource, RiskAssessment, RiskPoint
from plantguard.risk.siteplan_models import SitePlan
from plantguard.tenancy.models import Area, Enterprise
from tests.api.conftest import build_app
from tests.conftest import Db, _truncate_all

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
HAZARDS = 60


@dataclass
class World:
    db: Db
    client: TestClient
    enterprise_id: int
    first: dp.Summary
    second: dp.Summary
    var: Path


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("dual")
    if request.param == "sqlite":
        path = tmp / "plantguard.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    db = Db(request.param, url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
    try:
        ent = seed_demo(db.factory, today=NOW.date()).enterprise_id
        first = dp.seed_dual_prevention(db.factory, tmp, now=NOW, hazards_per_year=HAZARDS)
        second = dp.seed_dual_prevention(db.factory, tmp, now=NOW, hazards_per_year=HAZARDS)
        with build_app(db, tmp) as client:
            yield World(db, client, ent, first, second, tmp)
    finally:
        if request.param == "postgres":
            _truncate_all(engine)
        engine.dispose()


def _rows(world: World, model: Any, *conds: Any) -> list[Any]:
    with world.db.factory() as s:
        return list(s.scalars(select(model).where(model.enterprise_id == world.enterprise_id, *conds)))


# --- the data files (no database) ------------------------------------------------------------


def test_register_file_covers_the_plant() -> None:
    data = dp.register_data(NOW)
    points = data["points"]
    assert len(points) >= 60
    assert len({p["code"] for p in points}) == len(points)
    kinds = {a["code"]: a["kind"] for a in load_plant()["areas"]}
    covered = {kinds[p["area"]] for p in points}
    assert {"production", "paint_mixing", "electrical_room", "confined_space", "logistics", "forklift_charging",
            "tank_farm", "utility"} <= covered
    for code in ("ST", "WD", "PT", "WH", "FC", "ER1", "ER2", "PS"):  # stamping ... confined spaces
        assert sum(p["area"] == code for p in points) >= 1, code
    measure_kinds = Counter(m["kind"] for p in points for s in p["sources"] for m in s["measures"])
    assert set(measure_kinds) == {"engineering", "management", "training", "ppe", "emergency"}
    assert all(s["assessments"] for p in points for s in p["sources"])
    methods = Counter(a["method"] for p in points for s in p["sources"] for a in s["assessments"])
    assert methods["lec"] > 40 and methods["ls"] >= 10
    assert dp.HAZARDS_PER_YEAR >= 300


def test_site_plan_drawing_is_accepted_and_in_the_site_frame() -> None:
    from plantguard.risk import siteplan

    plant = load_plant()
    checked = siteplan.check(dp.site_plan_svg(plant))
    assert checked.content_type == "image/svg+xml" and not checked.removed
    assert (checked.width, checked.height) == (plant["site"]["plan_width"], plant["site"]["plan_height"])
    assert "冲压车间".encode() in checked.data


# --- the seeded enterprise ---------------------------------------------------------------------


def test_register_levels_and_map(world: World) -> None:
    points = _rows(world, RiskPoint)
    assert len(points) >= 60 and world.first.points == len(points)
    levels = Counter(p.current_level for p in points)
    assert None not in levels  # every point assessed
    assert 2 <= levels["major"] <= 6
    assert levels["significant"] > levels["major"]
    assert levels["general"] >= 10 and levels["low"] >= 10
    measures = _rows(world, ControlMeasure)
    assert {m.kind for m in measures} == {"engineering", "management", "training", "ppe", "emergency"}
    assert len(_rows(world, HazardSource)) >= 80
    # re-assessment history: some points were assessed more than once, the older ones earlier
    assessments = _rows(world, RiskAssessment)
    per_point = Counter(a.risk_point_id for a in assessments)
    assert sum(n > 1 for n in per_point.values()) >= 5
    assert min(_aware(a.assessed_at) for a in assessments) < datetime(2026, 3, 1, tzinfo=UTC)
    with world.db.factory() as s:
        by_area = area_levels(s, world.enterprise_id)
        codes = {a.id: a.code for a in s.scalars(select(Area).where(Area.enterprise_id == world.enterprise_id))}
    coloured = {codes[i]: str(level) for i, level in by_area.items()}
    assert coloured["PS"] == coloured["PM"] == coloured["TF"] == "major"
    assert coloured["ST"] == "significant"
    assert len(set(coloured.values())) == 4  # red, orange, yellow and blue all on the map
    assert len(_rows(world, SitePlan)) == 1


def test_inspection_plans_and_history(world: World) -> None:
    plans = _rows(world, InspectionPlan)
    assert world.first.plans == len(plans) == len(dp.PLANS)
    assert {p.frequency for p in plans} == {"shift", "day", "week", "month", "quarter"}
    assert any(p.team_id for p in plans) and any(p.assignee_role for p in plans)
    tasks = _rows(world, InspectionTask)
    status = Counter(t.status for t in tasks)
    assert status["done"] > 100 and 0 < status["missed"] < status["done"] / 5
    assert status["open"] >= len(plans)  # the current windows, from the normal generation
    done = [t for t in tasks if t.status == "done"]
    assert all(_aware(t.window_start) <= _aware(t.done_at) < _aware(t.window_end) for t in done)
    assert all(_aware(t.window_end) <= NOW for t in tasks if t.status == "missed")
    failed = _rows(world, InspectionResult, InspectionResult.outcome == "not_ok")
    assert failed and all(r.hazard_id for r in failed)
    with world.db.factory() as s:
        raised = s.scalars(select(Hazard).where(Hazard.id.in_([r.hazard_id for r in failed]))).all()
    assert all(h.source == "inspection" for h in raised)
    # the hazard is reported when the item failed, not when the seed ran
    at = {r.hazard_id: _aware(r.at) for r in failed}
    assert all(_aware(h.reported_at) == at[h.id] for h in raised)


def test_a_year_of_hazards(world: World) -> None:
    hazards = _rows(world, Hazard, Hazard.source == "report")
    assert len(hazards) == HAZARDS == world.first.hazards
    reported = [_aware(h.reported_at) for h in hazards]
    assert max(reported) < NOW and (NOW - min(reported)).days >= 330
    assert len({(t.year, t.month) for t in reported}) >= 12
    every = _rows(world, Hazard)
    status = Counter(h.status for h in every)
    assert status["closed"] > len(every) * 0.6
    open_ = [h for h in every if h.status not in ("closed", "rejected")]
    assert 5 <= len(open_) < len(every) * 0.25
    assert status["rejected"] >= 1
    overdue = [h for h in every if h.status in ("assessed", "in_treatment") and _aware(h.deadline_at) < NOW]
    assert overdue
    closed = [h for h in every if h.status == "closed"]
    late = [h for h in closed if _aware(h.submitted_at) > _aware(h.deadline_at)]
    assert 0 < len(late) < len(closed) / 2  # most on time, some late
    assert len({h.category for h in every}) >= 8 and len({h.area_id for h in every}) >= 12
    majors = [h for h in every if h.grade == "major"]
    assert 2 <= len(majors) <= 6
    assert all(h.responsible_id and h.measures and h.funds and h.plan_deadline_at and h.emergency_plan
               for h in majors if h.status not in ("reported", "registered", "assessed"))
    assert all(h.grade_basis or h.grade_basis_text for h in majors)
    # the loop's rules held: accepted by someone who did not rectify, with before and after photos
    for h in closed:
        assert h.accepted_by not in h.rectified_by
    with world.db.factory() as s:
        kinds = Counter((a.hazard_id, a.kind) for a in s.scalars(select(HazardAttachment).where(
            HazardAttachment.enterprise_id == world.enterprise_id)))
        history = Counter(e.hazard_id for e in s.scalars(select(HazardEvent).where(
            HazardEvent.enterprise_id == world.enterprise_id, HazardEvent.kind == "closed")))
    assert all(kinds[(h.id, "before")] == 1 and kinds[(h.id, "after")] >= 1 for h in closed)
    assert all(history[h.id] == 1 for h in closed)
    stored = [p for p in world.var.rglob("*") if p.is_file()]
    assert len(stored) >= len(closed)


def test_no_historic_events_leave_and_the_ledger_holds(world: World) -> None:
    assert world.first.suppressed_events > 1000
    with world.db.factory() as s:
        types = set(s.scalars(select(OutboxMessage.event_type).where(
            OutboxMessage.enterprise_id == world.enterprise_id)))
        assert not {t for t in types if t.split(".")[0] in ("hazard", "inspection", "risk")}
        report = verify(s, world.enterprise_id)
    assert report.ok, report.problem


def test_second_run_changes_nothing(world: World) -> None:
    assert world.first.created and not world.second.created
    assert (world.second.points, world.second.plans, world.second.tasks, world.second.hazards) == (0, 0, 0, 0)
    assert world.second.counts == world.first.counts
    with world.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(Enterprise)) == 1


def test_missing_enterprise_is_refused(world: World) -> None:
    with pytest.raises(LookupError):
        dp.seed_dual_prevention(world.db.factory, world.var, enterprise_code="NOPE", now=NOW)


def _get(world: World, path: str, **params: Any) -> Any:
    r = world.client.post("/api/v1/auth/token", data={"username": "safety", "password": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}", "Accept-Language": "zh-CN"}
    resp = world.client.get(path, params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_apis_list_the_seeded_data(world: World) -> None:
    c = world.first.counts
    points = _get(world, "/api/v1/risk-points", limit=10)
    assert points["total"] == c["risk_points"]
    assert points["items"][0]["current_level"] == "major"  # worst first
    hazards = _get(world, "/api/v1/hazards", limit=5)
    assert hazards["total"] == c["hazards"]
    assert _get(world, "/api/v1/hazards", status="closed", limit=1)["total"] > c["hazards"] * 0.6
    assert _get(world, "/api/v1/inspections", limit=5)["total"] == c["inspection_tasks"]
    assert _get(world, "/api/v1/inspections", status="missed", limit=1)["total"] > 0
    assert _get(world, "/api/v1/inspection-plans")["total"] == len(dp.PLANS)
    plans = _get(world, "/api/v1/site-plans")
    assert len(plans if isinstance(plans, list) else plans["items"]) == 1
    assert date.fromisoformat(hazards["items"][0]["reported_at"][:10]) <= NOW.date()
