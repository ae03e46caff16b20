"""The dashboard's sensing panel counts what is really there: devices by state, points beyond
their limits, rejected input; and says what will appear while nothing is connected."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from plantguard.audit.ledger import bind_actor
from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Role
from plantguard.ingest.config import DeviceCreate, device_service
from plantguard.ingest.models import DeviceStatus, QuarantinedInput
from plantguard.ingest.reading import ReadingBatch, to_us
from plantguard.timeseries.store import write_batch
from tests.api.conftest import Env
from tests.web.test_pages import login


def test_empty_then_counted(env: Env) -> None:
    login(env.client, env.t1.users["worker"])
    r = env.client.get("/dashboard/sensing")
    assert r.status_code == 200 and gettext("Sensing", "zh_CN") in r.text
    assert "No devices are connected yet" in gettext(
        "No devices are connected yet. Import or create devices (Devices page) and their availability, the points "
        "out of bounds and the rejected input will be summed up here.", "en")
    assert "stat-list" not in r.text

    actor = Actor(user_id=0, enterprise_id=env.t1.enterprise_id, role=Role.ADMIN, username="test")
    with env.db.factory() as s:
        bind_actor(s, actor)
        dev = device_service.create(s, actor, DeviceCreate(code="GW", protocol="http", points=[]))
        s.flush()
        s.add(DeviceStatus(device_id=dev.id, enterprise_id=env.t1.enterprise_id, available=True, state="online"))
        s.add(QuarantinedInput(enterprise_id=env.t1.enterprise_id, device_id=dev.id, reason="out_of_range"))
        s.add(QuarantinedInput(enterprise_id=env.t1.enterprise_id, device_id=dev.id, reason="malformed",
                               received_at=datetime.now(UTC) - timedelta(days=2)))
        s.commit()
    batch = ReadingBatch(env.t1.enterprise_id)
    batch.append(env.t1.point_id, to_us(datetime.now(UTC)), 29.0, 0)  # EQ-1-HP: high alarm at 28
    write_batch(env.db.engine, batch)

    html = env.client.get("/dashboard/sensing").text
    figures = [int(x) for x in re.findall(r"<strong[^>]*>(\d+)", html)]
    # devices online 1 (of 1), points reporting 1, beyond alarm 1, beyond warning 0, stale 0, rejected in 24 h 1
    assert figures[:1] == [1] and "1 / 1" in html
    assert 'class="text-alarm">1<' in html
    assert html.rstrip().count("<li>") == 5
    assert ">1</strong></li>" in html.split("/quarantine")[1][:200]
