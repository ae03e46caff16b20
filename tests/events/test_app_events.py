"""End to end: a write through the API leaves as an ``entity.changed`` event on the
configured bus, carrying the caller in its Context, on each database and each backend."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from plantguard.api.app import create_app
from plantguard.api.runtime import Runtime
from plantguard.core.settings import Settings
from plantguard.events.envelope import Envelope
from tests.conftest import Db
from tests.factories import PASSWORD, make_tenant
from tests.services import NATS_URL, require_nats


@pytest.fixture(params=["inprocess", "nats"])
def bus_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "inprocess":
        yield "inprocess://"
        return
    require_nats()
    stream = f"PGTEST_APP_{uuid.uuid4().hex[:8].upper()}"
    yield f"{NATS_URL}?stream={stream}&prefix=pgt{uuid.uuid4().hex[:8]}&poll=0.2"
    import asyncio

    import nats

    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        with contextlib.suppress(Exception):  # already gone
            await nc.jetstream().delete_stream(stream)
        await nc.close()

    asyncio.run(drop())


def test_api_write_reaches_bus_subscribers(db: Db, bus_url: str) -> None:
    tenant = make_tenant(db.factory, "E1")
    settings = Settings(database_url=db.url, bus_url=bus_url, relay_interval_s=0.05)
    rt = Runtime(settings, db.engine, db.factory, db.read_factory)
    received: list[Envelope] = []

    async def handler(env: Envelope) -> None:
        received.append(env)

    with TestClient(create_app(settings, runtime=rt)) as client:
        assert client.portal is not None
        client.portal.call(rt.bus.subscribe, "test-consumer", handler)
        token = client.post("/api/v1/auth/token", data={"username": tenant.users["safety_manager"],
                                                         "password": PASSWORD}).json()["access_token"]
        r = client.patch(f"/api/v1/equipment/{tenant.equipment_id}", json={"status": "maintenance"},
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        deadline = time.monotonic() + 15
        mine: list[Envelope] = []
        while time.monotonic() < deadline and not mine:
            mine = [e for e in received if e.type == "entity.changed"
                    and e.payload["entity_type"] == "equipment" and e.payload["action"] == "update"]
            time.sleep(0.05)
        assert mine, f"no equipment update event among {len(received)} received"
        env = mine[0]
        assert env.enterprise_id == tenant.enterprise_id
        assert env.payload["entity_id"] == tenant.equipment_id and env.payload["changed"] == ["status"]
        assert env.context.user_id is not None
        health = client.get("/healthz").json()
        assert health["bus"]["ok"] and health["bus"]["backend"] == bus_url.split(":", 1)[0]
