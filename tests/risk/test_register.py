"""The register on both backends: levels from assessments (sources and the point itself),
re-assessment history, method versions kept by old assessments, refusals leaving nothing
written, tenancy, the contract functions, the seed loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import NotFound, PermissionDenied, ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.events.models import OutboxMessage
from plantguard.risk import config, seed, service
from plantguard.risk.contract import RiskLevel, area_levels, measures_of_point
from plantguard.risk.models import ImmutableRow, RiskAssessment, RiskMethodVersion, RiskPoint
from plantguard.tenancy.models import User
from tests.conftest import Db
from tests.factories import Tenant, make_tenant

EXAMPLE = Path(__file__).with_name("register_example.yaml")


def actor_of(db: Db, t: Tenant, role: str = "safety_manager") -> Actor:
    with db.factory() as s:
        user = s.scalars(select(User).where(User.username == t.users[role])).one()
        return Actor(user.id, t.enterprise_id, Role(role), user.username)


def run(db: Db, actor: Actor, fn: object, *args: object, **kw: object) -> object:
    with db.factory() as s:
        bind_actor(s, actor)
        out = fn(s, actor, *args, **kw)  # type: ignore[operator]
        s.commit()
        return out


def count(db: Db, model: object) -> int:
    with db.factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


def new_point(db: Db, actor: Actor, t: Tenant, code: str = "RP-1") -> int:
    p = run(db, actor, service.create_point, {"code": code, "name": "压力机", "kind": "equipment",
                                               "area_id": t.area_id, "equipment_id": t.equipment_id,
                                               "responsible_level": "team", "responsible_team_id": t.team_id})
    return p.id  # type: ignore[attr-defined]


def test_levels_follow_assessments_and_history_is_kept(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    sm = actor_of(db, t)
    pid = new_point(db, sm, t)
    src1 = run(db, sm, service.create_source, pid, {"name": "模具", "consequences": ["machinery"]}).id  # type: ignore[attr-defined]
    src2 = run(db, sm, service.create_source, pid, {"name": "噪声", "consequences": []}).id  # type: ignore[attr-defined]
    run(db, sm, service.create_measure, src1, {"kind": "engineering", "description": "光幕"})
    m2 = run(db, sm, service.create_measure, src1, {"kind": "ppe", "description": "手套"}).id  # type: ignore[attr-defined]
    # the point's own assessment counts only while no source is assessed
    run(db, sm, service.assess, pid, {"method": "ls", "values": {"L": 2, "S": 2}})
    with db.factory() as s:
        assert s.get(RiskPoint, pid).current_level == "low"  # type: ignore[union-attr]
    run(db, sm, service.assess, pid, {"method": "lec", "hazard_source_id": src1, "values": {"L": 3, "E": 6, "C": 7}})
    run(db, sm, service.assess, pid, {"method": "ls", "hazard_source_id": src2, "values": {"L": 2, "S": 3}})
    with db.factory() as s:
        assert s.get(RiskPoint, pid).current_level == "significant"  # type: ignore[union-attr]  # 126 (A)
        assert area_levels(s, t.enterprise_id) == {t.area_id: RiskLevel.SIGNIFICANT}
        assert [m.description for m in measures_of_point(s, t.enterprise_id, pid)] == ["光幕", "手套"]
    # re-assessment after measures: appended, the latest counts
    run(db, sm, service.assess, pid, {"method": "lec", "hazard_source_id": src1, "values": {"L": 1, "E": 6, "C": 3}})
    run(db, sm, service.update_measure, m2, {"active": False})
    with db.factory() as s:
        point = s.get(RiskPoint, pid)
        assert point is not None and point.current_level == "general"  # source 2: 6 under V1
        hist = service.history(s, sm, point)
        assert [h.score for h in hist] == [18, 6, 126, 4]
        assert [m.description for m in measures_of_point(s, t.enterprise_id, pid)] == ["光幕"]
    # deactivating the worse source moves the point down
    run(db, sm, service.update_source, src2, {"active": False})
    with db.factory() as s:
        assert s.get(RiskPoint, pid).current_level == "low"  # type: ignore[union-attr]  # 18 -> low
        types = list(s.scalars(select(OutboxMessage.event_type).order_by(OutboxMessage.id)))
    assert types.count("risk.assessed") == 4 and "risk.level_changed" in types


def test_old_assessments_keep_their_method_version(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    sm = actor_of(db, t)
    pid = new_point(db, sm, t)
    first = run(db, sm, service.assess, pid, {"method": "lec", "values": {"L": 3, "E": 6, "C": 7}})
    assert (first.method_version, first.level) == (1, "significant")  # type: ignore[attr-defined]
    v2 = run(db, sm, config.save, "lec", variant="B", spec=None, comment="省标")
    assert v2.version == 2 and v2.variant == "B"  # type: ignore[attr-defined]
    again = run(db, sm, config.save, "lec", variant="B", spec=None)
    assert again.version == 2  # type: ignore[attr-defined]  # unchanged: no new version
    second = run(db, sm, service.assess, pid, {"method": "lec", "values": {"L": 3, "E": 6, "C": 7}})
    assert (second.method_version, second.level) == (2, "general")  # type: ignore[attr-defined]
    with db.factory() as s:
        old = s.get(RiskAssessment, first.id)  # type: ignore[attr-defined]
        assert old is not None and (old.method_version, old.level) == (1, "significant")
        v1 = s.get(RiskMethodVersion, old.method_version_id)
        assert v1 is not None and v1.variant == "A" and v1.spec["levels"][0]["min"] == 160
        v1.comment = "changed"
        with pytest.raises(ImmutableRow):
            s.flush()
        s.rollback()
        old = s.get(RiskAssessment, first.id)  # type: ignore[attr-defined]
        assert old is not None
        old.level = "low"
        with pytest.raises(ImmutableRow):
            s.flush()


def test_edited_tables_are_a_new_version_and_refusals_write_nothing(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    sm = actor_of(db, t)
    pid = new_point(db, sm, t)
    spec = config.methods.shipped_spec("ls", "V1")
    spec["factors"]["S"]["values"] = spec["factors"]["S"]["values"][:4]  # S 5..2 only
    row = run(db, sm, config.save, "ls", variant="custom", spec=spec)
    assert row.variant == "custom" and row.version == 1  # type: ignore[attr-defined]
    before = (count(db, RiskAssessment), count(db, RiskMethodVersion), count(db, OutboxMessage))
    with pytest.raises(ValidationFailed) as exc:
        run(db, sm, service.assess, pid, {"method": "ls", "values": {"L": 2, "S": 1}})
    assert [e.field for e in exc.value.errors] == ["values.S"]
    with pytest.raises(ValidationFailed) as exc:  # a fresh method (version 1 written on first use) rolls back too
        run(db, sm, service.assess, pid, {"method": "lec", "values": {"L": 2, "E": 6, "C": 7}})
    assert [e.field for e in exc.value.errors] == ["values.L"]
    assert (count(db, RiskAssessment), count(db, RiskMethodVersion), count(db, OutboxMessage)) == before
    bad = dict(spec, levels=[{"level": "major", "min": 5}, {"level": "significant", "min": 10},
                             {"level": "general", "min": 3}, {"level": "low", "min": 1}])
    with pytest.raises(ValidationFailed) as exc:
        run(db, sm, config.save, "ls", variant="custom", spec=bad)
    assert [e.field for e in exc.value.errors] == ["spec.levels.1.min"]
    with pytest.raises(ValidationFailed) as exc:
        run(db, sm, config.save, "ls", variant="V9", spec=None)
    assert exc.value.errors[0].field == "variant"


def test_tenancy_roles_and_references(db: Db) -> None:
    t1 = make_tenant(db.factory, "E1")
    t2 = make_tenant(db.factory, "E2")
    sm1, sm2 = actor_of(db, t1), actor_of(db, t2)
    pid = new_point(db, sm1, t1)
    run(db, sm1, service.assess, pid, {"method": "ls", "values": {"L": 5, "S": 5}})
    with pytest.raises(NotFound):
        run(db, sm2, service.get_point, pid)
    with pytest.raises(NotFound):
        run(db, sm2, service.assess, pid, {"method": "ls", "values": {"L": 1, "S": 1}})
    with pytest.raises(ValidationFailed) as exc:  # another tenant's area
        run(db, sm2, service.create_point, {"code": "X", "name": "x", "area_id": t1.area_id})
    assert exc.value.errors[0].field == "area_id"
    with pytest.raises(ValidationFailed) as exc:  # equipment not in the area
        run(db, sm1, service.create_point, {"code": "X", "name": "x", "area_id": t1.area2_id,
                                            "equipment_id": t1.equipment_id})
    assert exc.value.errors[0].field == "equipment_id"
    with pytest.raises(ValidationFailed) as exc:
        run(db, sm1, service.create_point, {"code": "RP-1", "name": "dup", "area_id": t1.area_id})
    assert exc.value.errors[0].field == "code"
    worker = actor_of(db, t1, "worker")
    with pytest.raises(PermissionDenied):
        run(db, worker, service.create_point, {"code": "Y", "name": "y", "area_id": t1.area_id})
    with db.read_factory() as s:
        assert service.list_points(s, sm2).total == 0
        assert area_levels(s, t2.enterprise_id) == {}
        assert measures_of_point(s, t2.enterprise_id, pid) == []
        page = service.list_points(s, worker, level="major")
        assert [p.id for p in page.items] == [pid]


def test_seed_loads_the_example_register(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    sm = actor_of(db, t)
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    loaded = run(db, sm, seed.load_register, data)
    assert (loaded.points, loaded.sources, loaded.measures, loaded.assessments) == (5, 4, 7, 5)  # type: ignore[attr-defined]
    with db.factory() as s:
        levels = {p.code: p.current_level for p in service.list_points(s, sm, limit=50).items}
        assert levels == {"RP-ST-01": "major", "RP-ST-02": "significant", "RP-WD-01": "general",
                          "RP-WD-02": "low", "RP-WD-03": None}
        assert area_levels(s, t.enterprise_id) == {t.area_id: RiskLevel.MAJOR, t.area2_id: RiskLevel.GENERAL}
        first = service.list_points(s, sm, q="RP-ST-01").items[0]
        assert [h.assessed_at.year for h in service.history(s, sm, first) if h.method == "lec"] == [2026]
    again = run(db, sm, seed.load_register, data)
    assert (again.points, again.skipped) == (0, 5)  # type: ignore[attr-defined]
