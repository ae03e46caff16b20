"""No URL or form sent to the console makes it answer 5xx, on either database."""

from __future__ import annotations

from tests.api.conftest import Env
from tests.web.test_pages import login


def test_hostile_urls_and_forms(env: Env) -> None:
    c = env.client
    assert login(c, "bad\x00user", "x").status_code == 401  # type: ignore[attr-defined]
    login(c, "e1-admin")
    urls = [
        "/equipment/99999999999999999999999", "/equipment/-1", "/equipment/abc",
        "/equipment?offset=99999999999999999999", "/equipment?offset=-5",
        "/equipment?area_id=99999999999999999999999", "/equipment?q=%00x", "/equipment?status=%00",
        "/people?team_id=1%00", "/audit?entity_type=%00", "/audit?offset=99999999999",
        "/history/equipment/99999999999999999999", "/history/%00/1", "/points/0/edit",
        "/lang/xx?next=//evil.example", "/teams/1/delete",
    ]
    for url in urls:
        r = c.get(url)
        assert r.status_code < 500, f"{url}: {r.status_code}"
    r = c.post("/equipment/99999999999999999999/edit", data={"name": "x"})
    assert r.status_code < 500
