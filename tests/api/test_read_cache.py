"""Cached reads are exact: a write is visible on the next read, in this process and in another
one on the same database, and one tenant's writes never serve another tenant's cache."""

from __future__ import annotations

from plantguard.core.readcache import ReadCache
from tests.api.conftest import Env, build_app


def test_lru_keeps_the_newest_and_refuses_an_old_version() -> None:
    cache = ReadCache(maxsize=2)
    cache.put("a", 1, "A1")
    cache.put("b", 1, "B1")
    assert cache.get("a", 1) == (True, "A1")
    assert cache.get("a", 2) == (False, None)  # the tenant's data moved on
    cache.put("c", 1, "C1")  # "b" is the least recently used
    assert cache.get("b", 1) == (False, None)
    assert cache.get("a", 1) == (True, "A1") and len(cache) == 2


def test_a_write_in_another_process_is_seen_on_the_next_read(env: Env, tmp_path: object) -> None:
    h = env.as_role("safety_manager")
    url = "/api/v1/equipment?limit=50"
    before = env.client.get(url, headers=h).json()
    again = env.client.get(url, headers=h).json()
    assert before == again
    cache = env.client.app.state.runtime.read_cache  # type: ignore[attr-defined]
    assert cache.hits >= 1
    with build_app(env.db, tmp_path) as other:  # a second worker: its own cache, the same database
        r = other.patch(f"/api/v1/equipment/{env.t1.equipment_id}", headers=h, json={"name": "改名后的压力机"})
        assert r.status_code == 200, r.text
    after = env.client.get(url, headers=h).json()
    assert [i["name"] for i in after["items"]] == ["改名后的压力机"]
    # The console page and the dashboard follow the same version.
    page = env.client.get("/api/v1/audit?limit=1", headers=h).json()
    assert page["items"][0]["after"]["name"] == "改名后的压力机"


def test_one_tenants_cache_never_answers_another(env: Env) -> None:
    url = "/api/v1/equipment?limit=50"
    one = env.client.get(url, headers=env.as_role("admin")).json()
    two = env.client.get(url, headers=env.as_role("admin", env.t2)).json()
    assert {i["id"] for i in one["items"]}.isdisjoint({i["id"] for i in two["items"]})


def test_a_role_without_the_permission_is_refused_even_when_cached(env: Env) -> None:
    assert env.client.get("/api/v1/audit?limit=5", headers=env.as_role("admin")).status_code == 200
    assert env.client.get("/api/v1/audit?limit=5", headers=env.as_role("worker")).status_code == 403
