"""The /routing console page: editor with errors naming the rule, history, tester trace."""

from __future__ import annotations

from tests.api.conftest import Env
from tests.web.test_pages import csrf_of, login
from tests.workorders.routing.helpers import doc, p, rule, text
from tests.workorders.routing.test_api import add_teams


def test_routing_page(sqlite_env: Env) -> None:
    env = sqlite_env
    add_teams(env, "PT1")
    c = env.client
    c.cookies.set("plantguard_lang", "en")
    login(c, env.t1.users["safety_manager"])
    page = c.get("/routing")
    assert page.status_code == 200 and "No rule set saved yet" in page.text
    good = text(doc(rule("gas", {"all": [p("area_code", "eq", "PT"), p("quantity", "eq", "gas_lel")]},
                         team="PT1", priority="p1")))
    shadowed = text(doc(rule("painting", p("area_code", "eq", "PT")),
                        rule("gas", {"all": [p("area_code", "eq", "PT"), p("quantity", "eq", "gas_lel")]})))
    r = c.post("/routing", data={"csrf_token": csrf_of(page.text), "source": shadowed, "comment": "x"})
    assert r.status_code == 422
    assert "was not saved" in r.text and "rules.1.when" in r.text
    assert "Rule “gas”: can never match: rule “painting” above it" in r.text.replace("&#34;", '"')
    r = c.post("/routing", data={"csrf_token": csrf_of(r.text), "source": good, "comment": "first"},
               follow_redirects=False)
    assert r.status_code == 303
    page = c.get("/routing")
    assert "Version 1 is in force." in page.text and "first" in page.text
    r = c.post("/routing/try", data={"csrf_token": csrf_of(page.text), "source": good,
                                     "facts": "area_code: PT\nquantity: pressure\n", "alarm_id": ""})
    assert r.status_code == 200, r.text
    assert 'id="try-rule">default<' in r.text and "quantity = gas_lel" in r.text and "did not match" in r.text
    r = c.post("/routing/try", data={"csrf_token": csrf_of(page.text), "source": good,
                                     "facts": "severity: nope\n", "alarm_id": ""})
    assert r.status_code == 422 and "facts.severity" in r.text
    # a worker sees the rules read-only and no tester
    c.cookies.clear()
    c.cookies.set("plantguard_lang", "en")
    login(c, env.t1.users["worker"])
    page = c.get("/routing")
    assert page.status_code == 200 and "readonly" in page.text and "try-form" not in page.text
    r = c.post("/routing", data={"csrf_token": csrf_of(page.text), "source": good})
    assert r.status_code == 403
