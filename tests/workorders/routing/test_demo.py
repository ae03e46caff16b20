"""The demo plant's routing rules are valid against the real demo teams, route as documented,
and seeding is idempotent (on both databases)."""

from __future__ import annotations

from plantguard.audit.ledger import bind_actor
from plantguard.workorders.routing.demo import seed_demo_routing
from plantguard.workorders.routing.router import RuleRouter
from tests.conftest import Db


def test_demo_routing(db: Db) -> None:
    from plantguard.demo.seed import seed_demo
    from plantguard.ingest.cli import _system_actor

    seed_demo(db.factory)
    with db.factory() as s:
        actor = _system_actor(s, "DEMO")
        bind_actor(s, actor)
        first = seed_demo_routing(s, actor)
        s.commit()
        assert first is not None and first.version == 1
        assert seed_demo_routing(s, actor) is None
        s.commit()
    router = RuleRouter(db.read_factory)

    def route(**facts: object) -> tuple[str | None, str, str]:
        d = router.route(actor.enterprise_id, {"source": "alarm", **facts})
        assert d.rule_set_version == 1
        return d.team_code, d.priority.value, d.rule

    # the micro-leak on the A-line press (day shift)
    assert route(area_code="ST", equipment_type="stamping_press", equipment_code="EQ-ST-001", severity="major",
                 quantity="pressure", shift="day", time_of_day=600)[:2] == ("MNT", "p2")
    assert route(area_code="PT", quantity="gas_lel", severity="critical", shift="day", time_of_day=600)[:2] == \
        ("PT1", "p1")
    assert route(area_code="PM", quantity="gas_lel", severity="critical", shift="night", time_of_day=120)[:2] == \
        ("PT2", "p1")
    assert route(area_code="WD", quantity="temperature", severity="minor", shift="night")[:2] == ("UTL", "p2")
    assert route(area_code="WD", quantity="temperature", severity="minor", shift="day") == ("EHS", "p3", "default")
    # the compiled rules are cached under the version's full identity, not its bare row id (ids
    # repeat when a database is reset or restored: tests do that all the time)
    from plantguard.workorders.routing.service import _CACHE

    assert [k for k in _CACHE if k[0] == first.id and k[1] == actor.enterprise_id and k[2] == 1]
