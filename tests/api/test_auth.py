"""Sign-in, bearer tokens, back-off after repeated failures, sign-out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from plantguard.core.db import utcnow
from plantguard.tenancy.auth import lock_seconds
from plantguard.tenancy.models import AuthSession, User
from tests.api.conftest import Env
from tests.factories import PASSWORD


def _login(env: Env, username: str, password: str) -> object:
    return env.client.post("/api/v1/auth/token", data={"username": username, "password": password,
                                                        "grant_type": "password"})


def test_token_and_me(env: Env) -> None:
    r = _login(env, "e1-safety_manager", PASSWORD)
    assert r.status_code == 200  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["token_type"] == "bearer" and len(body["access_token"]) >= 40
    me = env.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me["username"] == "e1-safety_manager" and me["role"] == "safety_manager"
    assert me["enterprise_id"] == env.t1.enterprise_id


def test_wrong_password_and_unknown_user_look_the_same(env: Env) -> None:
    a = _login(env, "e1-worker", "wrong-password")
    b = _login(env, "nobody", "wrong-password")
    assert a.status_code == b.status_code == 401  # type: ignore[attr-defined]
    assert a.json()["detail"] == b.json()["detail"]  # type: ignore[attr-defined]
    assert a.headers["www-authenticate"] == "Bearer"  # type: ignore[attr-defined]


def test_backoff_after_repeated_failures(env: Env) -> None:
    for _ in range(4):
        assert _login(env, "e1-worker", "nope").status_code == 401  # type: ignore[attr-defined]
    r = _login(env, "e1-worker", "nope")
    assert r.status_code == 429  # type: ignore[attr-defined]
    assert int(r.headers["retry-after"]) == 30  # type: ignore[attr-defined]
    # Locked: even the right password is refused until the lock runs out.
    r = _login(env, "e1-worker", PASSWORD)
    assert r.status_code == 429  # type: ignore[attr-defined]
    with env.db.factory() as s:
        s.execute(update(User).where(User.username == "e1-worker")
                  .values(locked_until=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert _login(env, "e1-worker", PASSWORD).status_code == 200  # type: ignore[attr-defined]
    # Success resets the counter: one new failure is a plain 401 again.
    assert _login(env, "e1-worker", "nope").status_code == 401  # type: ignore[attr-defined]


def test_lock_grows_and_is_capped() -> None:
    assert [lock_seconds(n) for n in (1, 4, 5, 6, 7)] == [0, 0, 30, 60, 120]
    assert lock_seconds(40) == 15 * 60


def test_revoked_expired_and_disabled(env: Env) -> None:
    tok = env.token("e1-admin")
    h = {"Authorization": f"Bearer {tok}"}
    assert env.client.get("/api/v1/equipment", headers=h).status_code == 200
    assert env.client.post("/api/v1/auth/revoke", headers=h).status_code == 204
    assert env.client.get("/api/v1/equipment", headers=h).status_code == 401

    tok = _login(env, "e1-auditor", PASSWORD).json()["access_token"]  # type: ignore[attr-defined]
    h = {"Authorization": f"Bearer {tok}"}
    with env.db.factory() as s:
        s.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert env.client.get("/api/v1/equipment", headers=h).status_code == 401

    tok = _login(env, "e1-worker", PASSWORD).json()["access_token"]  # type: ignore[attr-defined]
    with env.db.factory() as s:
        s.execute(update(User).where(User.username == "e1-worker").values(active=False))
        s.commit()
    assert env.client.get("/api/v1/equipment", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    assert _login(env, "e1-worker", PASSWORD).status_code == 401  # type: ignore[attr-defined]


def test_tokens_are_stored_only_as_digests(env: Env) -> None:
    tok = env.token("e1-admin")
    with env.db.factory() as s:
        hashes = [a.token_hash for a in s.query(AuthSession).all()]
    assert tok not in hashes and all(len(h) == 64 for h in hashes)


def test_admin_creates_an_account(env: Env) -> None:
    h = env.as_role("admin")
    r = env.client.post("/api/v1/users", headers=h, json={"username": "new.worker", "password": "long-enough-1",
                                                           "role": "worker", "person_id": env.t1.person_id})
    assert r.status_code == 201, r.text
    assert r.json()["enterprise_id"] == env.t1.enterprise_id
    r = env.client.post("/api/v1/users", headers=h, json={"username": "x2", "password": "long-enough-1",
                                                           "role": "worker", "person_id": env.t2.person_id})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "person_id"
    assert _login(env, "new.worker", "long-enough-1").status_code == 200  # type: ignore[attr-defined]


def test_health(env: Env) -> None:
    r = env.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["bus"]["ok"]
    assert body["database"]["backend"] in ("sqlite", "postgresql")
