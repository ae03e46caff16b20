"""The routing API on both databases: versions, refusals that keep the version in force, the
tester's trace, roles and tenancy."""

from __future__ import annotations

from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.audit.models import AuditEntry
from plantguard.core.i18n import gettext
from plantguard.tenancy.models import Team
from plantguard.workorders.routing.models import RoutingRuleSet
from plantguard.workorders.routing.router import RuleRouter
from tests.api.conftest import Env
from tests.workorders.routing.helpers import doc, p, rule, text

URL = "/api/v1/routing"


def add_teams(env: Env, *codes: str) -> None:
    with env.db.factory() as s:
        bind_actor(s, None)
        for code in codes:
            s.add(Team(enterprise_id=env.t1.enterprise_id, code=code, name=code))
        s.commit()


def good() -> str:
    return text(doc(rule("gas", {"all": [p("area_code", "in", ["PT", "PM"]), p("quantity", "eq", "gas_lel")]},
                         team="PT1", priority="p1", skills=["气体检测"]),
                    rule("night", p("time_of_day", "between", ["22:00", "06:00"]), team="UTL"),
                    default={"team": "T1", "priority": "p3"}))


def test_versions_refusal_keeps_version_in_force_and_tester(env: Env) -> None:
    add_teams(env, "PT1", "UTL")
    sm = env.as_role("safety_manager")
    assert env.client.get(f"{URL}/rule-sets/current", headers=sm).status_code == 404
    r = env.client.post(f"{URL}/rule-sets", json={"source": good(), "comment": "first"}, headers=sm)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["author"] == env.t1.users["safety_manager"]

    # invalid: an unknown team in the second rule → 422 naming the rule, nothing stored
    bad = good().replace("team: UTL", "team: NOPE")
    r = env.client.post(f"{URL}/rule-sets", json={"source": bad}, headers=sm)
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["field"] == "rules.1.then.team" and "night" in err["message"] and "NOPE" in err["message"]
    zh = env.client.post(f"{URL}/rule-sets", json={"source": bad}, headers=env.as_role("safety_manager",
                                                                                       lang="zh-CN"))
    assert zh.json()["errors"][0]["message"] == gettext("Rule “%(rule)s”: unknown team “%(team)s”", "zh_CN") % {
        "rule": "night", "team": "NOPE"}
    r = env.client.post(f"{URL}/rule-sets", json={"source": "rules: [\n"}, headers=sm)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "source"
    cur = env.client.get(f"{URL}/rule-sets/current", headers=sm).json()
    assert cur["version"] == 1 and cur["comment"] == "first"

    # a second valid version is in force; history lists both, newest first
    v2 = good().replace("priority: p1", "priority: p2")
    assert env.client.post(f"{URL}/rule-sets", json={"source": v2}, headers=sm).status_code == 201
    assert [v["version"] for v in env.client.get(f"{URL}/rule-sets", headers=sm).json()] == [2, 1]
    assert env.client.get(f"{URL}/rule-sets/1", headers=sm).json()["source"] == good()
    assert env.client.get(f"{URL}/rule-sets/current", headers=env.as_role("auditor")).json()["version"] == 2

    # the tester: decision and trace
    r = env.client.post(f"{URL}/try", json={"facts": {"area_code": "PT", "quantity": "pressure",
                                                      "time_of_day": "23:30"}}, headers=sm)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["decision"]["team_code"] == "UTL" and out["decision"]["rule"] == "night" and out["version"] == 2
    assert [(s["rule"], s["matched"]) for s in out["steps"]] == [("gas", False), ("night", True)]
    assert out["steps"][0]["why"] == {"ok": False, "path": "rules.0.when.all.1", "text": "quantity = gas_lel",
                                      "actual": "pressure", "because": []}
    assert out["steps"][1]["why"]["actual"] == "23:30" and out["facts"]["time_of_day"] == "23:30"
    r = env.client.post(f"{URL}/try", json={"facts": {"area_code": "ST", "time_of_day": "12:00"}}, headers=sm)
    assert r.json()["decision"] == {"team_code": "T1", "priority": "p3", "skills": [], "assignee_username": None,
                                    "rule": "default", "rule_set_version": 2}
    # a draft can be tried without saving it; a bad fact is named
    r = env.client.post(f"{URL}/try", json={"facts": {"area_code": "PM", "quantity": "gas_lel"}, "source": good()},
                        headers=sm)
    assert r.json()["decision"]["priority"] == "p1" and r.json()["version"] is None
    r = env.client.post(f"{URL}/try", json={"facts": {"severity": "catastrophic", "colour": "red"}}, headers=sm)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"facts.severity", "facts.colour"}

    # the router sees the version in force
    d = RuleRouter(env.db.read_factory).route(env.t1.enterprise_id, {"area_code": "PM", "quantity": "gas_lel"})
    assert (d.team_code, d.priority.value, d.rule, d.rule_set_version) == ("PT1", "p2", "gas", 2)

    # versions are audited and immutable
    with env.db.factory() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "routing_rule_set")).all()
        assert len(entries) == 2 and {e.action for e in entries} == {"create"}
        assert {e.actor_name for e in entries} == {env.t1.users["safety_manager"]}
        row = s.scalars(select(RoutingRuleSet).where(RoutingRuleSet.version == 1)).one()
        row.comment = "changed"
        try:
            s.flush()
            raise AssertionError("a saved version was changed")
        except RuntimeError:
            s.rollback()


def test_roles_and_tenancy(env: Env) -> None:
    add_teams(env, "PT1", "UTL")
    for role in ("team_leader", "worker", "auditor", "contractor"):
        h = env.as_role(role)
        assert env.client.post(f"{URL}/rule-sets", json={"source": good()}, headers=h).status_code == 403
        assert env.client.post(f"{URL}/try", json={"facts": {}}, headers=h).status_code == 403
    assert env.client.post(f"{URL}/rule-sets", json={"source": good()},
                           headers=env.as_role("admin")).status_code == 201
    # the other tenant sees none of it, and its teams are not ours
    other = env.as_role("safety_manager", env.t2)
    assert env.client.get(f"{URL}/rule-sets", headers=other).json() == []
    assert env.client.get(f"{URL}/rule-sets/current", headers=other).status_code == 404
    assert env.client.get(f"{URL}/rule-sets/1", headers=other).status_code == 404
    assert env.client.post(f"{URL}/try", json={"facts": {}}, headers=other).status_code == 404
    r = env.client.post(f"{URL}/rule-sets", json={"source": good()}, headers=other)
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"rules.0.then.team",
                                                                                  "rules.1.then.team"}
    # a tenant's router falls back to the default router without a rule set
    d = RuleRouter(env.db.read_factory).route(env.t2.enterprise_id, {"area_code": "ST"})
    assert d.rule_set_version is None and d.trace[0] == "no routing rule set: default router"


def test_assignee_must_be_an_account_of_the_tenant(env: Env) -> None:
    add_teams(env, "PT1", "UTL")
    sm = env.as_role("safety_manager")
    src = good().replace("skills:", f"assignee: {env.t2.users['worker']}\n    skills:")
    r = env.client.post(f"{URL}/rule-sets", json={"source": src}, headers=sm)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rules.0.then.assignee"
    src = good().replace("skills:", f"assignee: {env.t1.users['worker']}\n    skills:")
    assert env.client.post(f"{URL}/rule-sets", json={"source": src}, headers=sm).status_code == 201
