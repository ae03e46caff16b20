"""An app on the test database, two tenants, and clients signed in per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from plantguard.api.app import create_app
from plantguard.api.runtime import Runtime
from plantguard.core.settings import Settings
from tests.conftest import Db
from tests.factories import PASSWORD, Tenant, make_tenant


@dataclass
class Env:
    db: Db
    client: TestClient
    t1: Tenant
    t2: Tenant
    _tokens: dict[str, str]

    def token(self, username: str) -> str:
        if username not in self._tokens:
            r = self.client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def as_role(self, role: str, tenant: Tenant | None = None, lang: str = "en") -> dict[str, str]:
        tenant = tenant or self.t1
        return {"Authorization": f"Bearer {self.token(tenant.users[role])}", "Accept-Language": lang}


_IDLE_APPS: list[FastAPI] = []


class _PooledClient(TestClient):
    """A client whose app goes back to the pool when the client closes."""

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)  # type: ignore[arg-type]
        finally:
            _IDLE_APPS.append(self.app)  # type: ignore[arg-type]


def build_app(db: Db, tmp_path: object) -> TestClient:
    """A client on a fresh runtime (engine, caches, bus) for ``db``.

    The FastAPI app object is reused across tests: building one (about 300 routes, each
    analysed by FastAPI) costs about a second of CPU, more than most tests. Everything a
    test could leave behind lives on the runtime, which is new each time; two clients open
    at once get two apps.
    """
    settings = Settings(database_url=db.url, bus_url="inprocess://")
    rt = Runtime(settings, db.engine, db.factory, db.read_factory)
    app = _IDLE_APPS.pop() if _IDLE_APPS else create_app(settings, runtime=rt)
    app.state.runtime = rt
    return _PooledClient(app)


@pytest.fixture
def env(db: Db, tmp_path: object) -> Iterator[Env]:
    t1 = make_tenant(db.factory, "E1")
    t2 = make_tenant(db.factory, "E2")
    with build_app(db, tmp_path) as client:
        yield Env(db, client, t1, t2, {})


@pytest.fixture
def sqlite_env(sqlite_db: Db, tmp_path: object) -> Iterator[Env]:
    t1 = make_tenant(sqlite_db.factory, "E1")
    t2 = make_tenant(sqlite_db.factory, "E2")
    with build_app(sqlite_db, tmp_path) as client:
        yield Env(sqlite_db, client, t1, t2, {})
