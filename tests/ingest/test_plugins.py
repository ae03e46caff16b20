"""A connector from a separate package: found through its entry point, validated by its own
manifest, run by the coordinator like a built-in one."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import ValidationFailed
from plantguard.core.permissions import Actor, Role
from plantguard.ingest import manifest as manifests
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.config import DeviceCreate, device_service
from plantguard.ingest.coordinator import Coordinator
from plantguard.ingest.pipeline import Pipeline
from plantguard.timeseries.models import ReadingRow
from tests.conftest import Db
from tests.factories import make_tenant

PLUGIN = '''
"""A third-party connector: a counter device that needs no peer."""
from datetime import UTC, datetime
from pydantic import BaseModel, ConfigDict, Field
from plantguard.ingest.connector import PollingConnector
from plantguard.ingest.manifest import Manifest
from plantguard.ingest.reading import Reading


class CounterConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = Field(0.0, ge=0)


class CounterPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    point: str
    step: float = 1.0


class CounterConnector(PollingConnector):
    async def connect(self):
        self.value = self.device.connection.start

    async def read(self):
        self.value += 1
        now = datetime.now(UTC)
        return [Reading(p.point_id, now, self.value * p.spec.step, source=self.device.source)
                for p in self.device.points]


MANIFEST = Manifest(protocol="acme-counter", name="ACME counter", mode="poll", config_model=CounterConnection,
                    point_model=CounterPoint, connector="acme_counter:CounterConnector")
'''


@pytest.fixture
def plugin_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What ``pip install acme-counter`` leaves on the path: a module and its dist-info with the
    entry point. Nothing of PlantGuard is changed."""
    site = tmp_path / "site"
    (site / "acme_counter-1.0.dist-info").mkdir(parents=True)
    (site / "acme_counter.py").write_text(textwrap.dedent(PLUGIN))
    (site / "acme_counter-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-counter\n"
                                                                  "Version: 1.0\n")
    (site / "acme_counter-1.0.dist-info" / "entry_points.txt").write_text(
        "[plantguard.connectors]\nacme-counter = acme_counter:MANIFEST\n")
    monkeypatch.syspath_prepend(str(site))
    manifests.manifests(reload=True)
    yield
    sys.modules.pop("acme_counter", None)
    monkeypatch.undo()
    manifests.manifests(reload=True)


def test_a_connector_package_is_found_validated_and_run(plugin_installed: None, db: Db, tmp_path: Path) -> None:
    assert "acme-counter" in manifests.manifests()
    assert {"modbus", "opcua", "mqtt", "http", "custom"} <= set(manifests.manifests())
    t = make_tenant(db.factory, "E1")
    actor = Actor(user_id=0, enterprise_id=t.enterprise_id, role=Role.ADMIN, username="test")
    with db.factory() as s:
        bind_actor(s, actor)
        with pytest.raises(ValidationFailed) as info:  # the plug-in's own models validate its devices
            device_service.create(s, actor, DeviceCreate(code="C-1", protocol="acme-counter",
                                                         connection={"start": -1}, points=[{"point": "EQ-1-HP"}]))
        assert {e.field for e in info.value.errors} == {"connection.start"}
        s.rollback()
        device_service.create(s, actor, DeviceCreate(code="C-1", protocol="acme-counter", poll_interval_s=0.05,
                                                     points=[{"point": "EQ-1-HP", "step": 0.5}]))
        s.commit()
    pipe = Pipeline(db.engine, DurableBuffer(tmp_path / "b.sqlite"))
    coord = Coordinator(db.factory, pipe, reload_s=0.1)

    def stored() -> list[float]:
        with db.factory() as s:
            return [v for v in s.scalars(select(ReadingRow.value).where(ReadingRow.point_id == t.point_id)) if v]

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(pipe.run(stop)), asyncio.create_task(coord.run(stop))]
        deadline = time.monotonic() + 10
        while len(stored()) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert sorted(stored())[:3] == [0.5, 1.0, 1.5]
