"""The token cache: hits within the TTL, misses after it, forgets on sign-out."""

from __future__ import annotations

import pytest

from plantguard.core.permissions import Actor, Role
from plantguard.tenancy import auth_cache as mod
from plantguard.tenancy.auth import Resolved
from plantguard.tenancy.auth_cache import AuthCache

R = Resolved(Actor(user_id=1, enterprise_id=1, role=Role.WORKER, username="w"), "api", "", "zh_CN")


def test_hit_expiry_and_forget(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: now[0])
    cache = AuthCache(ttl=5)
    assert cache.get("tok", ("api",)) is None
    cache.put("tok", ("api",), R)
    assert cache.get("tok", ("api",)) is R
    assert cache.get("tok", ("web",)) is None  # a cookie is not a bearer token
    now[0] += 5.1
    assert cache.get("tok", ("api",)) is None
    cache.put("tok", ("api",), R)
    cache.forget("tok")
    assert cache.get("tok", ("api",)) is None


def test_disabled_and_bounded() -> None:
    off = AuthCache(ttl=0)
    off.put("t", ("api",), R)
    assert off.get("t", ("api",)) is None
    small = AuthCache(ttl=60, max_entries=3)
    for i in range(10):
        small.put(f"t{i}", ("api",), R)
    assert len(small._entries) <= 3
    assert small.get("t9", ("api",)) is R
