"""Work-order test world: the API env (two tenants, a client per role) with the roster wired:
the worker and a second worker are members of team T1 (skill ``weld`` for the first), the team
leader account is the team's leader, the contractor belongs to no team."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.tenancy.models import Person, Team, User
from tests.api.conftest import Env, build_app
from tests.conftest import Db
from tests.factories import PASSWORD, Tenant, make_tenant, password_hash

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: day shift


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def wire_roster(db: Db, t: Tenant) -> dict[str, int]:
    """Link accounts to people of team T1; returns user ids by role (and ``worker2``)."""
    with db.factory() as s:
        bind_actor(s, None)
        users = {u.role: u for u in s.scalars(select(User).where(User.enterprise_id == t.enterprise_id))}
        team = s.get(Team, t.team_id)
        assert team is not None
        leader = Person(enterprise_id=t.enterprise_id, employee_no="P010", name="王班长", team_id=team.id)
        p2 = Person(enterprise_id=t.enterprise_id, employee_no="P002", name="李强", team_id=team.id)
        s.add_all([leader, p2])
        s.flush()
        team.leader_id = leader.id
        team.shift = "day"
        users["worker"].person_id = t.person_id
        users["team_leader"].person_id = leader.id
        w2 = User(enterprise_id=t.enterprise_id, username=f"{t.users['worker']}2", password_hash=password_hash(),
                  role="worker", display_name="worker2", person_id=p2.id)
        s.add(w2)
        s.commit()
        ids = {role: u.id for role, u in users.items()}
        ids["worker2"] = w2.id
        t.users["worker2"] = w2.username
        return ids


@dataclass
class WoEnv:
    env: Env
    ids: dict[str, int]

    @property
    def client(self) -> TestClient:
        return self.env.client

    def h(self, role: str, tenant: Tenant | None = None) -> dict[str, str]:
        tenant = tenant or self.env.t1
        if role == "worker2":
            username = tenant.users["worker2"]
            if username not in self.env._tokens:
                r = self.client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
                self.env._tokens[username] = r.json()["access_token"]
            return {"Authorization": f"Bearer {self.env._tokens[username]}", "Accept-Language": "en"}
        return self.env.as_role(role, tenant)

    def post(self, path: str, role: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(f"/api/v1{path}", json=json, headers=self.h(role), **kw)

    def create(self, role: str = "safety_manager", **body: Any) -> dict[str, Any]:
        body.setdefault("title", "液压油泄漏检查")
        r = self.post("/workorders", role, json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
def wo(db: Db, tmp_path: object) -> Iterator[WoEnv]:
    t1 = make_tenant(db.factory, "E1")
    t2 = make_tenant(db.factory, "E2")
    ids = wire_roster(db, t1)
    wire_roster(db, t2)
    with build_app(db, tmp_path) as client:
        yield WoEnv(Env(db, client, t1, t2, {}), ids)
