"""The demo plant: what it contains, that seeding is idempotent, and that it is audited."""

from __future__ import annotations

import re
from datetime import date, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.models import AuditEntry
from plantguard.audit.verify import verify
from plantguard.core.permissions import Role
from plantguard.core.security import verify_password
from plantguard.demo.seed import (
    DEMO_ACCOUNTS,
    DEMO_PASSWORD,
    THRESHOLDS,
    DemoSeedError,
    load_plant,
    point_specs,
    seed_demo,
    validate,
)
from plantguard.tenancy.models import Area, Certificate, Enterprise, Person, Site, Team, User
from tests.conftest import Db

TODAY = date(2026, 3, 2)


def _inside(x: float, y: float, polygon: list[list[float]]) -> bool:
    """Ray casting: is (x, y) strictly inside the polygon (no vertex or edge through it)?"""
    inside = False
    for (x1, y1), (x2, y2) in pairwise([*polygon, polygon[0]]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


# --- the data itself (no database) -----------------------------------------------------------


def test_plant_yaml_is_consistent() -> None:
    data = load_plant()
    validate(data)
    assert data["enterprise"]["code"] == "DEMO"
    assert data["enterprise"]["is_demo"] is True
    kinds = {a["kind"] for a in data["areas"]}
    # The areas that the risk register and permits will need.
    assert {"production", "electrical_room", "confined_space", "hazmat_store", "paint_mixing",
            "logistics", "forklift_charging", "utility", "tank_farm"} <= kinds
    types = {e["type"] for e in data["equipment"]}
    assert {"stamping_press", "spot_welding_robot", "arc_welding_robot", "paint_booth", "forklift",
            "air_compressor", "dry_transformer", "confined_space", "env_monitor"} <= types


def test_area_polygons_do_not_overlap() -> None:
    """Sample the plan on a 1 m grid (cell centres): no point lies in two areas. The polygons
    have integer, axis-parallel edges, so any overlap covers at least one whole cell."""
    data = load_plant()
    width, height = data["site"]["plan_width"], data["site"]["plan_height"]
    polygons = {a["code"]: a["polygon"] for a in data["areas"]}
    for poly in polygons.values():
        assert all(x1 == x2 or y1 == y2 for (x1, y1), (x2, y2) in pairwise([*poly, poly[0]]))
    boxes = {}
    for code, poly in polygons.items():
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        boxes[code] = (min(xs), min(ys), max(xs), max(ys))
    for gx in range(int(width)):
        for gy in range(int(height)):
            x, y = gx + 0.5, gy + 0.5
            hits = [
                code for code, poly in polygons.items()
                if boxes[code][0] < x < boxes[code][2] and boxes[code][1] < y < boxes[code][3]
                and _inside(x, y, poly)
            ]
            assert len(hits) <= 1, f"({x}, {y}) lies in {hits}"


def test_point_templates_and_overrides() -> None:
    data = load_plant()
    press = next(e for e in data["equipment"] if e["code"] == "EQ-ST-001")
    points = {p["code"]: p for p in point_specs(press, data["point_templates"])}
    assert {"ST-P01-HP", "ST-P01-OT", "ST-P01-VIB", "ST-P01-TON"} <= set(points)
    assert points["ST-P01-HP"]["unit"] == "MPa"
    assert points["ST-P01-TON"]["high_alarm"] == 20000  # the 2000 t press's own rating
    pool = next(e for e in data["equipment"] if e["type"] == "confined_space")
    gases = {p["quantity"]: p for p in point_specs(pool, data["point_templates"])}
    assert gases["gas_o2"]["low_alarm"] == 19.5 and gases["gas_o2"]["high_alarm"] == 23.5
    assert {"gas_h2s", "gas_co", "gas_lel"} <= set(gases)
    booth = next(e for e in data["equipment"] if e["type"] == "paint_booth")
    lel = next(p for p in point_specs(booth, data["point_templates"]) if p["quantity"] == "gas_lel")
    assert (lel["high_warning"], lel["high_alarm"]) == (10, 25)


# --- seeding -----------------------------------------------------------------------------------


def test_seed_creates_the_demo_plant(db: Db) -> None:
    summary = seed_demo(db.factory, today=TODAY)
    assert summary.created
    c = summary.counts
    assert c["sites"] == 1
    assert c["areas"] >= 10
    assert c["equipment"] >= 50
    assert c["points"] >= 200
    assert c["teams"] >= 8
    assert c["people"] >= 40
    assert dict(summary.accounts) == {name: role.value for name, role in DEMO_ACCOUNTS.items()}

    with db.session() as s:
        ent = s.get(Enterprise, summary.enterprise_id)
        assert ent is not None and ent.code == "DEMO" and ent.is_demo
        site = s.scalars(select(Site).where(Site.enterprise_id == ent.id)).one()
        assert site.plan_width > 0 and site.plan_height > 0

        areas = s.scalars(select(Area).where(Area.enterprise_id == ent.id)).all()
        assert len(areas) == c["areas"]
        for area in areas:
            assert area.kind
            assert len(area.polygon) >= 3, area.code
            for x, y in area.polygon:
                assert 0 <= x <= site.plan_width and 0 <= y <= site.plan_height, area.code

        equipment = s.scalars(select(Equipment).where(Equipment.enterprise_id == ent.id)).all()
        assert {e.area_id for e in equipment} <= {a.id for a in areas}
        assert len({e.area_id for e in equipment}) >= 10
        statuses = [e.status for e in equipment]
        assert statuses.count("in_service") > len(statuses) / 2
        assert {"standby", "maintenance"} <= set(statuses)
        assert {e.criticality for e in equipment} == {"A", "B", "C"}
        assert all(re.fullmatch(r"EQ-[A-Z0-9]+-[A-Z0-9]+", e.code) for e in equipment)

        points = s.scalars(select(MeasurementPoint).where(MeasurementPoint.enterprise_id == ent.id)).all()
        assert len(points) == c["points"]
        assert s.scalar(select(MeasurementPoint.id).where(MeasurementPoint.code == "ST-P01-HP")) is not None
        for p in points:
            assert p.code.isascii() and p.unit is not None
            assert p.range_low is not None and p.range_high is not None and p.range_low < p.range_high
            limits = [getattr(p, k) for k in THRESHOLDS if getattr(p, k) is not None]
            assert limits == sorted(limits), p.code
            assert all(p.range_low <= v <= p.range_high for v in limits), p.code

        teams = s.scalars(select(Team).where(Team.enterprise_id == ent.id)).all()
        people = s.scalars(select(Person).where(Person.enterprise_id == ent.id)).all()
        by_id = {p.id: p for p in people}
        for team in teams:
            assert team.leader_id in by_id and by_id[team.leader_id].team_id == team.id, team.code
        assert {"冲压一班", "设备维修班", "安环部", "电工班"} <= {t.name for t in teams}
        for person in people:
            assert person.skills, person.employee_no
            assert re.fullmatch(r"1[3-9]\d\*{4}\d{4}", person.phone), person.phone

        certs = s.scalars(select(Certificate).where(Certificate.enterprise_id == ent.id)).all()
        assert all(cert.issued_on is not None and cert.expires_on is not None for cert in certs)
        assert all(cert.issued_on < cert.expires_on for cert in certs if cert.issued_on and cert.expires_on)
        soon = [x for x in certs if x.expires_on and TODAY <= x.expires_on <= TODAY + timedelta(days=30)]
        expired = [x for x in certs if x.expires_on and x.expires_on < TODAY]
        valid = [x for x in certs if x.expires_on and x.expires_on > TODAY + timedelta(days=30)]
        assert len(soon) >= 2 and len(expired) >= 2 and len(valid) > len(soon) + len(expired)
        assert any("焊接与热切割作业" in x.kind for x in certs)
        assert any("N1 叉车司机" in x.kind for x in certs)


def test_seed_is_idempotent(db: Db) -> None:
    first = seed_demo(db.factory, today=TODAY)
    with db.session() as s:
        entries = s.scalar(select(func.count()).select_from(AuditEntry))
    second = seed_demo(db.factory, today=TODAY + timedelta(days=10))
    assert first.created and not second.created
    assert second.enterprise_id == first.enterprise_id
    assert second.counts == first.counts
    assert second.accounts == first.accounts
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Enterprise)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == entries


def test_demo_accounts_sign_in_with_the_demo_password(db: Db) -> None:
    summary = seed_demo(db.factory, today=TODAY)
    assert {"admin", "safety", "leader", "worker", "auditor"} <= set(DEMO_ACCOUNTS)
    with db.session() as s:
        query = select(User).where(User.enterprise_id == summary.enterprise_id)
        users = {u.username: u for u in s.scalars(query)}
        assert set(users) == set(DEMO_ACCOUNTS)
        for username, role in DEMO_ACCOUNTS.items():
            user = users[username]
            assert Role(user.role) is role
            assert user.active and user.display_name
            assert user.person_id is not None
            assert verify_password(user.password_hash, DEMO_PASSWORD)
            assert not verify_password(user.password_hash, "wrong-password")
        leader = s.get(Person, users["leader"].person_id)
        assert leader is not None and leader.team_id is not None
        team = s.get(Team, leader.team_id)
        assert team is not None and team.leader_id == leader.id


def test_seed_is_recorded_in_the_ledger_as_system(db: Db) -> None:
    summary = seed_demo(db.factory, today=TODAY)
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.enterprise_id == summary.enterprise_id)).all()
        total = sum(summary.counts.values()) + 1  # + the enterprise itself
        assert len([e for e in entries if e.action == "create"]) == total
        assert {e.actor_name for e in entries} == {"system"}
        assert all(e.actor_id is None for e in entries)
        assert {"enterprise", "equipment", "measurement_point", "person", "app_user"} <= {
            e.entity_type for e in entries
        }
        # No password hash leaks into the ledger (at most a redacted digest of it).
        for e in entries:
            assert "$argon2" not in str(e.after)
        report = verify(s)
        assert report.ok, report.problem


def test_seed_refuses_when_a_demo_user_name_is_taken(db: Db) -> None:
    with db.session() as s:
        ent = Enterprise(code="ACME", name="Acme")
        s.add(ent)
        s.flush()
        s.add(User(enterprise_id=ent.id, username="admin", password_hash="x", role="admin"))
        s.commit()
    with pytest.raises(DemoSeedError, match="admin"):
        seed_demo(db.factory, today=TODAY)
    with db.session() as s:
        assert s.scalar(select(Enterprise.id).where(Enterprise.code == "DEMO")) is None
        assert s.scalar(select(func.count()).select_from(Equipment)) == 0
