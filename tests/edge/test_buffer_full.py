"""A full buffer drops the oldest readings and says so in the log (drop-oldest, never stops reading)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from plantguard.edge.buffer import EdgeBuffer
from plantguard.edge.config import parse_config, point_id
from plantguard.edge.detect import Detection
from plantguard.edge.devices import build_specs
from plantguard.edge.runner import EdgePipeline
from plantguard.edge.uplink import make_uplink
from plantguard.ingest.reading import ReadingBatch, now_us


def test_a_full_buffer_drops_the_oldest_and_logs_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config({
        "edge_id": "full", "upstream": {"kind": "http", "url": "http://127.0.0.1:9"},
        "buffer": {"path": str(tmp_path / "b.sqlite"), "max_readings": 1000},
        "devices": [{"code": "D", "protocol": "modbus", "connection": {"host": "127.0.0.1"},
                     "points": [{"point": "A", "address": 0}]}],
    })
    buffer = EdgeBuffer(cfg.buffer)
    codes = buffer.remember_codes({c: pid for c, (pid, _, _) in cfg.point_codes().items()})
    pipe = EdgePipeline(cfg, buffer, make_uplink(cfg), Detection(cfg), codes)
    (spec,) = build_specs(cfg)
    t0 = now_us()
    with caplog.at_level(logging.ERROR, "plantguard.edge"):
        for k in range(15):
            batch = ReadingBatch(0)
            for i in range(100):
                batch.append(point_id("A"), t0 + (k * 100 + i) * 1000, float(k * 100 + i))
            assert pipe.submit_batch(spec, batch) == 100
    assert buffer.readings.pending == 1000 and pipe.dropped == 500
    assert "edge buffer full: dropped the 100 oldest readings (cap 1000 readings; 500 dropped in total)" in caplog.text
    oldest = buffer.readings.peek(1)[0][1]
    assert oldest.value[0] == 500.0  # the newest 1000 were kept
    buffer.close()
