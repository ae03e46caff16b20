"""The edge against a real pymodbus server and the real Mosquitto on 127.0.0.1:1883: readings
and alarm signals arrive on their topics; an outage of the broker loses nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plantguard.detection.signals import ConditionSignal, Severity
from tests.edge.helpers import EdgeThread, Plc, Watcher, config, delivered_once_in_order, wait_until
from tests.faults import TcpProxy
from tests.services import require_mqtt


@pytest.fixture(scope="module", autouse=True)
def _broker() -> None:
    require_mqtt()


@pytest.fixture
def plc() -> Iterator[Plc]:
    p = Plc(4).start()
    yield p
    p.stop()


def mqtt(port: int = 1883) -> dict[str, Any]:
    return {"kind": "mqtt", "host": "127.0.0.1", "port": port, "topic_prefix": f"pgtest/{uuid.uuid4().hex[:8]}",
            "client_id": f"pgtest-edge-{uuid.uuid4().hex[:8]}", "ack_timeout_s": 3}


def watch(cfg: Any) -> Watcher:
    return Watcher(f"{cfg.upstream.topic_prefix}/{cfg.edge_id}/#")


def test_readings_arrive_on_the_topic(plc: Plc, tmp_path: Path) -> None:
    plc.regs[:] = [10, 20, 30, 40]
    cfg = config(tmp_path / "buffer.sqlite", plc.port, 4, mqtt())
    w = watch(cfg)
    try:
        with EdgeThread(cfg):
            wait_until(lambda: len({r["point"] for r in w.readings()}) == 4, 10, "readings of all 4 points")
    finally:
        w.close()
    doc = w.docs("readings")[0]
    assert doc["edge"] == cfg.edge_id and doc["enterprise_id"] == 1
    first, last = doc["seq"]
    assert 1 <= first <= last
    latest = {r["point"]: r for r in w.readings()}
    assert {c: r["value"] for c, r in latest.items()} == {"P000": 10.0, "P001": 20.0, "P002": 30.0, "P003": 40.0}
    assert all(r["quality"] == "good" and r["ts"].endswith("Z") for r in latest.values())


def test_an_alarm_signal_arrives_when_a_detector_fires_and_clears(plc: Plc, tmp_path: Path) -> None:
    rule = {"name": "p0-high", "points": ["P000"], "detector": "threshold",
            "params": {"conditions": [{"signal": "value", "direction": "high", "limit": 50}]},
            "duration_s": 0.3, "severity": "major"}
    plc.regs[:] = [10, 0, 0, 0]
    cfg = config(tmp_path / "buffer.sqlite", plc.port, 4, mqtt(), rules=[rule])
    w = watch(cfg)
    try:
        with EdgeThread(cfg):
            wait_until(lambda: any(r["point"] == "P000" for r in w.readings()), 10, "first readings")
            assert w.signals() == []  # nothing while the value is normal
            plc.regs[0] = 100
            wait_until(lambda: len(w.signals()) >= 1, 10, "the active signal")
            plc.regs[0] = 10
            wait_until(lambda: len(w.signals()) >= 2, 10, "the inactive signal")
    finally:
        w.close()
    raised, cleared = (ConditionSignal.from_dict(s) for s in w.signals()[:2])
    assert raised.source == f"edge:{cfg.edge_id}/p0-high" == cleared.source
    assert (raised.active, cleared.active) == (True, False)
    assert raised.kind == "threshold" and raised.severity is Severity.MAJOR and raised.score >= 0.5
    assert raised.title == "p0-high" and raised.enterprise_id == 1
    assert [(c.name, c.value) for c in raised.contributions] == [("P000", 100.0)]
    # duration_s: the signal went active at least 0.3 s (reading time) after the first high reading
    first_high = min(r["ts"] for r in w.readings() if r["point"] == "P000" and r["value"] == 100.0)
    from datetime import datetime

    held = raised.ts - datetime.fromisoformat(first_high.replace("Z", "+00:00"))
    assert held.total_seconds() >= 0.3
    assert cleared.ts > raised.ts


def test_broker_outage_buffers_and_then_delivers_everything_in_order(plc: Plc, tmp_path: Path) -> None:
    plc.regs[:] = [1, 2, 3, 4]
    proxy = TcpProxy("127.0.0.1", 1883)
    cfg = config(tmp_path / "buffer.sqlite", plc.port, 4, mqtt(proxy.port), batch=50)
    w = watch(cfg)  # straight to the broker: it sees what the edge delivers
    try:
        with EdgeThread(cfg) as edge:
            pipe = edge.runner.pipeline
            assert pipe is not None
            wait_until(lambda: len(w.readings()) >= 8, 10, "readings before the outage")
            proxy.cut()
            time.sleep(0.5)  # readings in flight at the cut settle
            during = len(w.readings())
            wait_until(lambda: pipe.buffer.pending >= 40, 10, "readings to pile up in the buffer")
            assert len(w.readings()) == during  # nothing got through the cut
            assert not pipe.forward_ok
            proxy.restore()
            wait_until(lambda: pipe.forward_ok and pipe.buffer.pending == 0 and len(w.readings()) > during + 40,
                       20, "the backlog to drain after the outage")
        accepted = edge.accepted  # every reading the edge took in, drained at stop
        time.sleep(0.3)  # the last PUBLISH reaches the watcher
    finally:
        w.close()
        proxy.close()
    got = delivered_once_in_order(w.readings())
    assert len(got) == accepted, f"{accepted} readings taken in, {len(got)} distinct delivered"
