"""The role matrix: every write endpoint, every role.

Write endpoints are discovered from the app, so a new endpoint without a permission marker
fails here. A forbidden write answers 403 even with a malformed body: the role is checked
before the body is read.
"""

from __future__ import annotations

import re

import pytest

from plantguard.api.deps import PERMISSION_EXTENSION
from plantguard.core.permissions import Role
from tests.api.conftest import Env

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Sign-in and sign-out act on the caller's own session, not on enterprise data.
# Open to callers without a user session: sign-in, and devices pushing readings with their own
# device token (tests/ingest/test_http_ingest.py covers that token's scope).
# A user's own notification feed and preferences: any role, and only the caller's own rows.
OPEN_WRITES = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/revoke"), ("POST", "/api/v1/ingest"),
               ("POST", "/api/v1/alarm-signals"), ("PUT", "/api/v1/me/notification-preferences"),
               ("POST", "/api/v1/me/notifications/{item_id}/read"), ("POST", "/api/v1/me/notifications/read-all")}

# The policy, spelled out: which roles may use each permission. Changing the policy means
# changing this table on purpose.
EXPECTED = {
    "equipment.write": {"admin", "safety_manager", "team_leader"},
    "points.write": {"admin", "safety_manager", "team_leader"},
    "people.write": {"admin", "safety_manager"},
    "teams.write": {"admin", "safety_manager", "team_leader"},
    "sites.write": {"admin", "safety_manager"},
    "users.manage": {"admin"},
    "devices.write": {"admin", "safety_manager"},
    "alarms.handle": {"admin", "safety_manager", "team_leader", "worker"},
    "alarms.policy": {"admin", "safety_manager"},
    "detection.write": {"admin", "safety_manager"},
    "workorders.manage": {"admin", "safety_manager", "team_leader"},
    "workorders.handle": {"admin", "safety_manager", "team_leader", "worker", "contractor"},
    "workorders.accept": {"admin", "safety_manager", "team_leader"},
    "routing.manage": {"admin", "safety_manager"},
    "notifications.manage": {"admin", "safety_manager"},
    "risk.manage": {"admin", "safety_manager"},
    "inspections.manage": {"admin", "safety_manager", "team_leader"},
    "inspections.perform": {"admin", "safety_manager", "team_leader", "worker"},
    "hazards.report": {"admin", "safety_manager", "team_leader", "worker", "contractor"},
    "hazards.manage": {"admin", "safety_manager", "team_leader"},
    "hazards.rectify": {"admin", "safety_manager", "team_leader", "worker", "contractor"},
    "hazards.accept": {"admin", "safety_manager", "team_leader"},
    "permits.apply": {"admin", "safety_manager", "team_leader", "contractor"},
    "permits.approve": {"admin", "safety_manager", "team_leader"},
    "permits.work": {"admin", "safety_manager", "team_leader", "worker", "contractor"},
    "permits.accept": {"admin", "safety_manager", "team_leader"},
    "permits.manage": {"admin", "safety_manager"},
    "contractors.manage": {"admin", "safety_manager"},
}


def write_routes(env: Env) -> list[tuple[str, str, str]]:
    """Every write operation the API publishes, with the permission it declares."""
    out = []
    spec = env.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            method = method.upper()
            if method not in WRITE_METHODS or (method, path) in OPEN_WRITES:
                continue
            perm = op.get(PERMISSION_EXTENSION)
            assert perm is not None, f"{method} {path} declares no permission"
            out.append((method, path, perm))
    return sorted(out)


def test_every_write_endpoint_is_guarded_and_covered(sqlite_env: Env) -> None:
    routes = write_routes(sqlite_env)
    assert len(routes) >= 12
    for _m, _p, perm in routes:
        assert perm in EXPECTED, f"permission {perm} is missing from the expected matrix"


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_role_matrix(env: Env, role: str) -> None:
    headers = {**env.as_role(role), "Content-Type": "application/json"}
    for method, path, perm in write_routes(env):
        url = re.sub(r"\{[^}]+\}", "999999", path)
        # A malformed body: a forbidden caller must not even learn that it is malformed.
        r = env.client.request(method, url, content=b"{not json", headers=headers)
        if role in EXPECTED[perm]:
            assert r.status_code != 403, f"{role} refused {method} {path}"
            assert r.status_code in (404, 422), f"{role} {method} {path}: {r.status_code} {r.text}"
        else:
            assert r.status_code == 403, f"{role} allowed {method} {path}: {r.status_code} {r.text}"
            assert r.json()["code"] == "forbidden"


def test_unauthenticated_writes_answer_401(sqlite_env: Env) -> None:
    for method, path, _perm in write_routes(sqlite_env):
        url = re.sub(r"\{[^}]+\}", "1", path)
        r = sqlite_env.client.request(method, url, json={})
        assert r.status_code == 401, f"{method} {path}"


def test_allowed_role_really_writes_and_service_rechecks(sqlite_env: Env) -> None:
    """The route pre-check is not the only guard: the service refuses too."""
    from plantguard.assets.schemas import EquipmentUpdate
    from plantguard.assets.service import equipment_service
    from plantguard.core.errors import PermissionDenied
    from plantguard.core.permissions import Actor

    worker = Actor(user_id=1, enterprise_id=sqlite_env.t1.enterprise_id, role=Role.WORKER, username="w")
    with sqlite_env.db.factory() as s, pytest.raises(PermissionDenied):
        equipment_service.update(s, worker, sqlite_env.t1.equipment_id, EquipmentUpdate(name="x"))

    r = sqlite_env.client.patch(f"/api/v1/equipment/{sqlite_env.t1.equipment_id}", json={"status": "standby"},
                                headers=sqlite_env.as_role("team_leader"))
    assert r.status_code == 200 and r.json()["status"] == "standby"
