"""The demo permits (issue 7 point 9): every type in several states, written through the
services with real histories, analyses, sign-offs and approvals by the assigned approvers.

One seed per backend (module scope) on top of the basic demo plant; a second seed changes
nothing. ``NOW`` is a Wednesday morning in plant time; a separate SQLite run seeds just after
midnight on a statutory holiday, where today's hot work is raised a grade and the windows cross
midnight.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.audit.verify import verify
from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.permissions import Actor, Role
from plantguard.demo import permits as demo
from plantguard.demo.seed import DEMO_PASSWORD, seed_demo
from plantguard.events.models import OutboxMessage
from plantguard.permits import approvals, points
from plantguard.permits.contract import PERMIT_TYPES, SignStep
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import (
    GasAnalysis,
    Permit,
    PermitApprover,
    PermitConfig,
    PermitEvent,
    PermitLink,
    PermitMeasure,
    PermitSignature,
    PermitWorker,
)
from plantguard.permits.types import approver_roles
from plantguard.tenancy.models import Person, User
from tests.api.conftest import build_app
from tests.conftest import Db, _truncate_all

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
ALL_STATES = {S.DRAFT, S.PENDING, S.APPROVED, S.ACTIVE, S.SUSPENDED, S.COMPLETED, S.CLOSED, S.REJECTED,
              S.CANCELLED, S.EXPIRED}


@dataclass
class World:
    db: Db
    client: TestClient
    enterprise_id: int
    first: demo.Summary
    second: demo.Summary


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("permits")
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
        first = demo.seed_permits(db.factory, now=NOW)
        second = demo.seed_permits(db.factory, now=NOW)
        with build_app(db, tmp) as client:
            yield World(db, client, ent, first, second)
    finally:
        if request.param == "postgres":
            _truncate_all(engine)
        engine.dispose()


def _rows(world: World, model: Any, *conds: Any) -> list[Any]:
    with world.db.factory() as s:
        return list(s.scalars(select(model).where(model.enterprise_id == world.enterprise_id, *conds)))


def _by_key(world: World) -> dict[str, Permit]:
    """The seeded permits by their key in permits.yaml (matched on content, which is unique)."""
    permits = {p.content: p for p in _rows(world, Permit)}
    return {spec["key"]: permits[spec["content"]] for spec in demo.load()["permits"]}


def test_every_type_in_several_states_and_every_state(world: World) -> None:
    permits = _rows(world, Permit)
    assert world.first.created and world.first.permits == len(permits) == len(demo.load()["permits"])
    assert set(Counter(p.status for p in permits)) == ALL_STATES
    assert world.first.by_status == dict(Counter(p.status for p in permits))
    by_type: dict[str, set[str]] = {}
    for p in permits:
        by_type.setdefault(p.type_code, set()).add(p.status)
    assert set(by_type) == set(PERMIT_TYPES)
    for type_code, states in by_type.items():
        assert S.CLOSED in states and len(states) >= 2, (type_code, states)
    # today's work is under way: hot work, the confined space and its temporary power
    active = {p.type_code for p in permits if p.status == S.ACTIVE}
    assert {"hot_work", "confined_space", "temp_electricity"} <= active
    assert all(_aware(p.planned_start) <= NOW < _aware(p.planned_end) for p in permits if p.status == S.ACTIVE)
    # idempotent: the second run wrote nothing
    assert not world.second.created and world.second.permits == 0 and world.second.approvers == 0


def test_histories_are_real_and_in_time(world: World) -> None:
    events = _rows(world, PermitEvent)
    by_permit: dict[int, list[PermitEvent]] = {}
    for e in sorted(events, key=lambda e: e.id):
        by_permit.setdefault(e.permit_id, []).append(e)
    for p in _rows(world, Permit):
        history = by_permit[p.id]
        assert history[0].kind == "applied", p.number
        times = [_aware(e.at) for e in history]
        assert times == sorted(times) and times[-1] <= NOW, p.number
        moves = [e for e in history if e.status_to is not None]
        assert (moves[-1].status_to if moves else S.DRAFT) == p.status, p.number
        if p.status in (S.ACTIVE, S.SUSPENDED, S.COMPLETED, S.CLOSED):
            kinds = Counter(e.kind for e in history)
            assert kinds["measure_confirmed"] >= 4 and kinds["signed"] >= 3 and kinds["started"] == 1, p.number
    # the seed's events were not sent: a month of them would flood the demo users' phones
    with world.db.factory() as s:
        sent = [m.envelope["type"] for m in s.scalars(select(OutboxMessage))]
    assert not [t for t in sent if t.startswith("permit.")]
    with world.db.factory() as s:
        assert verify(s, world.enterprise_id).ok


def test_work_done_has_measures_analyses_signatures_and_acceptance(world: World) -> None:
    permits = {p.id: p for p in _rows(world, Permit)}
    measures = _rows(world, PermitMeasure)
    analyses = _rows(world, GasAnalysis)
    sigs = _rows(world, PermitSignature)
    for p in permits.values():
        if p.status not in (S.ACTIVE, S.SUSPENDED, S.COMPLETED, S.CLOSED):
            continue
        mine = [m for m in measures if m.permit_id == p.id]
        assert mine and all(m.applicable is not None and m.confirmed_by_person_id for m in mine), p.number
        steps = {s.step for s in sigs if s.permit_id == p.id}
        assert {SignStep.WORK_LEADER, SignStep.BRIEFER, SignStep.BRIEFEE} <= steps, p.number
        assert p.guardian_id is None or SignStep.GUARDIAN in steps
        if p.type_code in ("hot_work", "confined_space"):
            before = [a for a in analyses if a.permit_id == p.id and a.passed and p.started_at is not None
                      and 0 <= (_aware(p.started_at) - _aware(a.sampled_at)).total_seconds() <= 30 * 60]
            assert before, f"{p.number}: no passed analysis within 30 min before the start"
        if p.status == S.CLOSED:
            accepted = [s for s in sigs if s.permit_id == p.id and s.step == SignStep.ACCEPTANCE]
            workers = {w.person_id for w in _rows(world, PermitWorker, PermitWorker.permit_id == p.id)}
            assert len(accepted) == 1 and accepted[0].person_id not in workers | {p.work_leader_id}
    # a confined-space job had a break and resumed after a new analysis
    assert any(e.kind == "resumed" for e in _rows(world, PermitEvent))


def test_approvals_signed_by_the_assigned_approvers(world: World) -> None:
    permits = {p.id: p for p in _rows(world, Permit)}
    sigs = [s for s in _rows(world, PermitSignature) if s.step.startswith(("approve:", "countersign:"))]
    assert len(sigs) >= 30
    with world.db.factory() as s:
        for sig in sigs:
            role = sig.step.split(":", 1)[1]
            assert sig.user_id in approvals.candidates(s, permits[sig.permit_id], role), (sig.step, sig.name)
    roles = {s.step for s in sigs}
    assert {"approve:unit", "approve:safety_dept", "approve:specialist_dept", "approve:plant_leader",
            "approve:power_unit", "countersign:cs_fire", "countersign:cs_water"} <= roles
    for p in permits.values():  # the applicant never gives the final approval
        if p.approved_at is not None:
            last = max((s for s in sigs if s.permit_id == p.id), key=lambda s: (s.at, s.id))
            assert last.user_id != p.applicant_user_id, p.number
    rejected = [p for p in permits.values() if p.status == S.REJECTED]
    assert rejected and all(any(s.permit_id == p.id and s.decision == "rejected" and s.comment for s in sigs)
                            for p in rejected)
    assignments = _rows(world, PermitApprover)
    assert world.first.approvers == len(assignments) >= 20
    assert len(_rows(world, PermitConfig)) == 1


def test_special_hot_work_waits_for_the_plant_leader(world: World) -> None:
    by_key = _by_key(world)
    p1 = by_key["P1"]
    assert p1.status == S.PENDING and p1.grade == "special"
    with world.db.factory() as s:
        director = s.scalars(select(User).where(User.enterprise_id == world.enterprise_id,
                                                User.username == "director")).one()
        actor = Actor(director.id, world.enterprise_id, Role(director.role), director.username)
        steps = approvals.pending(s, actor, p1)
        inbox = approvals.my_pending(s, actor)
    assert [st["role"] for st in steps] == ["plant_leader"] and steps[0]["can_sign"]
    assert p1.id in {p.id for p in inbox}


def test_live_link_gas_alarm_links_and_contractors(world: World) -> None:
    by_key = _by_key(world)
    a2, a3, s1 = by_key["A2"], by_key["A3"], by_key["S1"]
    with world.db.factory() as s:
        safety = s.scalars(select(User).where(User.enterprise_id == world.enterprise_id,
                                              User.username == "safety")).one()
        actor = Actor(safety.id, world.enterprise_id, Role.SAFETY_MANAGER, "safety")
        bound = points.bound(s, actor, a2.id)
        people = {p.id: p.employee_no for p in s.scalars(select(Person).where(
            Person.enterprise_id == world.enterprise_id))}
    # the confined space under way is watched: its oxygen and combustible points are bound
    assert a2.status == S.ACTIVE and a2.continuous_monitoring
    assert {"PS-CS01-O2", "PS-CS01-LEL"} <= {b["code"] for b in bound}
    assert {b["kind"] for b in bound} == {"oxygen", "combustible", "toxic"}
    # its temporary power is linked to it and does not outlast it
    links = _rows(world, PermitLink, PermitLink.permit_id == a3.id)
    assert [link.linked_id for link in links] == [a2.id] and a3.planned_end <= a2.planned_end
    # the other confined space was stopped by a failed analysis (6.5)
    assert s1.status == S.SUSPENDED and s1.suspend_reason == "gas_alarm"
    failed = _rows(world, GasAnalysis, GasAnalysis.permit_id == s1.id, GasAnalysis.passed.is_(False))
    assert failed and failed[0].kind == "toxic"
    # contractors' workers are on permits, and those permits name the company
    named = {(w.permit_id, people[w.person_id]) for w in _rows(world, PermitWorker)}
    named |= {(p.id, people[p.work_leader_id]) for p in _rows(world, Permit) if p.work_leader_id}
    contractor_permits = {pid for pid, no in named if no in ("CT0001", "CT0002")}
    assert len(contractor_permits) >= 2
    assert all(by_id.contractor_company_id for by_id in _rows(world, Permit) if by_id.id in contractor_permits)
    # hot work applied for at the confined space under way is flagged, not refused
    applied = _rows(world, PermitEvent, PermitEvent.permit_id == by_key["D1"].id, PermitEvent.kind == "applied")
    assert {c["number"] for c in applied[0].detail["conflicts"]} == {a2.number}


def test_visible_through_the_api(world: World) -> None:
    r = world.client.post("/api/v1/auth/token", data={"username": "safety", "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}", "Accept-Language": "en"}
    r = world.client.get("/api/v1/permits", params={"limit": 100}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    items = body["items"] if isinstance(body, dict) else body
    assert len(items) == world.first.permits
    closed = next(p for p in items if p["status"] == "closed" and p["type_code"] == "confined_space")
    r = world.client.get(f"/api/v1/permits/{closed['id']}/pdf", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/pdf")


def test_seeds_after_midnight_on_a_holiday(sqlite_db: Db) -> None:
    """00:05 on National Day: today's windows began yesterday, hot work is raised a grade and
    approved along the raised grade's chain; nothing is recorded after now."""
    now = datetime(2026, 10, 1, 16, 5, tzinfo=UTC)  # 2 October 00:05 in Shanghai
    seed_demo(sqlite_db.factory, today=now.date())
    out = demo.seed_permits(sqlite_db.factory, now=now)
    assert set(out.by_status) == ALL_STATES
    with sqlite_db.factory() as s:
        hot = s.scalars(select(Permit).where(Permit.type_code == "hot_work", Permit.status == S.ACTIVE)).one()
        steps = set(s.scalars(select(PermitSignature.step).where(PermitSignature.permit_id == hot.id)))
        latest = max(_aware(t) for t in s.scalars(select(PermitEvent.at)))
    assert hot.requested_grade == "second" and hot.grade == "first" and hot.grade_reasons
    assert {"approve:unit", "approve:safety_dept"} <= steps
    assert latest <= now


def test_data_refers_to_the_plant() -> None:
    """Every account, person, area, equipment item and point named in permits.yaml exists (a
    renamed code fails here, before a seed does)."""
    from plantguard.demo.seed import load_plant, point_specs

    plant = load_plant()
    point_codes = {p["code"] for e in plant["equipment"] for p in point_specs(e, plant["point_templates"])}
    users = {u["username"] for u in plant["users"]}
    people = {p["employee_no"] for p in plant["people"]}
    areas = {a["code"] for a in plant["areas"]}
    equipment = {e["code"] for e in plant["equipment"]}
    data = demo.load()
    for role, by_area in data["approvers"].items():
        assert role in approver_roles()
        assert set(by_area.values()) <= users and set(by_area) - {"*"} <= areas
    for spec in data["permits"]:
        named = {spec["leader"], spec.get("guardian") or spec["leader"], *(w for w, _ in spec["workers"])}
        assert named <= people, spec["key"]
        assert spec["applicant"] in users and spec["area"] in areas, spec["key"]
        assert spec.get("equipment") is None or spec["equipment"] in equipment, spec["key"]
        assert {b[0] for b in spec.get("bind") or []} <= point_codes, spec["key"]
    specs = data["permits"]
    assert len({s["key"] for s in specs}) == len({s["content"] for s in specs}) == len(specs)
