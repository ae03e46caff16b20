"""The HTTP uplink against a real HTTP server in the test (standing in for PlantGuard's API):
a 503 phase keeps everything in the buffer; afterwards every reading arrives once, in order,
in the format the server's ``POST /api/v1/ingest`` parses, and the alarm signal arrives at
``POST /api/v1/alarm-signals``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plantguard.detection.signals import ConditionSignal
from plantguard.ingest.http_api import QUALITY_NAMES, parse_ts, parse_value
from tests.edge.helpers import EdgeThread, Plc, Receiver, config, delivered_once_in_order, wait_until


@pytest.fixture
def plc() -> Iterator[Plc]:
    p = Plc(4).start()
    yield p
    p.stop()


def test_http_uplink_survives_a_503_phase(plc: Plc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTGUARD_EDGE_TOKEN", "pgd_edge-test-token")
    rule = {"name": "p0-high", "points": ["P000"], "detector": "threshold",
            "params": {"conditions": [{"signal": "value", "direction": "high", "limit": 50}]}, "severity": "critical"}
    plc.regs[:] = [100, 2, 3, 4]  # P000 is over its limit from the first poll
    rx = Receiver()
    rx.failing = True
    cfg = config(tmp_path / "buffer.sqlite", plc.port, 4, {"kind": "http", "url": rx.url}, rules=[rule], batch=50)
    try:
        with EdgeThread(cfg) as edge:
            pipe = edge.runner.pipeline
            assert pipe is not None
            wait_until(lambda: rx.refused_503 >= 3 and pipe.buffer.pending >= 40, 10, "a backlog behind the 503s")
            assert rx.posts == [] and pipe.edge.pending_signals == 1 and not pipe.forward_ok
            rx.failing = False
            wait_until(lambda: pipe.forward_ok and pipe.buffer.pending == 0 and pipe.edge.pending_signals == 0,
                       15, "the backlog to drain")
        accepted = edge.accepted
    finally:
        rx.close()
    batches = rx.docs("/api/v1/ingest")
    readings = [r for d in batches for r in d["readings"]]
    assert len(delivered_once_in_order(readings)) == accepted
    assert max(len(d["readings"]) for d in batches) <= 50  # batch_max_readings
    for r in readings:  # what the server's own parser makes of each row
        assert parse_ts(r["ts"], datetime.now(UTC)).tzinfo is not None
        assert parse_value(r["value"]) == r["value"] and r["quality"] in QUALITY_NAMES
    headers = [h for p, h, _ in rx.posts]
    assert all(h["authorization"] == "Bearer pgd_edge-test-token" for h in headers)
    assert all(h["x-plantguard-edge"] == cfg.edge_id for h in headers)
    (doc,) = rx.docs("/api/v1/alarm-signals")
    (sig,) = (ConditionSignal.from_dict(s) for s in doc["signals"])
    assert sig.active and sig.source == f"edge:{cfg.edge_id}/p0-high" and sig.severity == "critical"


def test_an_upstream_without_the_alarm_endpoint_still_gets_the_readings(plc: Plc, tmp_path: Path) -> None:
    rule = {"name": "p0-high", "points": ["P000"], "detector": "threshold",
            "params": {"conditions": [{"signal": "value", "direction": "high", "limit": 50}]}}
    plc.regs[:] = [100, 2, 3, 4]
    rx = Receiver()
    rx.status_by_path["/api/v1/alarm-signals"] = 404  # an older server
    cfg = config(tmp_path / "buffer.sqlite", plc.port, 4, {"kind": "http", "url": rx.url}, rules=[rule])
    try:
        with EdgeThread(cfg) as edge:
            pipe = edge.runner.pipeline
            assert pipe is not None
            wait_until(lambda: rx.refused_by_path >= 2 and len(rx.docs("/api/v1/ingest")) >= 5, 10,
                       "readings flowing while the alarm endpoint answers 404")
            assert pipe.edge.pending_signals == 1  # kept, not dropped
            del rx.status_by_path["/api/v1/alarm-signals"]  # the server is upgraded
            wait_until(lambda: len(rx.docs("/api/v1/alarm-signals")) == 1, 10, "the kept signal")
    finally:
        rx.close()
