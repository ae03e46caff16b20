"""A crashed edge process (SIGKILL) with a non-empty buffer: the next start delivers the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from plantguard.edge.buffer import EdgeBuffer
from plantguard.edge.config import BufferConfig
from plantguard.edge.runner import reading_rows
from plantguard.ingest.reading import ReadingBatch
from tests.edge.helpers import Plc, Watcher, config_doc, wait_until
from tests.faults import TcpProxy
from tests.services import require_mqtt


@pytest.fixture
def plc() -> Iterator[Plc]:
    p = Plc(4).start()
    yield p
    p.stop()


def start(cfg_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "plantguard.edge", "--config", str(cfg_path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def buffered(path: Path) -> tuple[int, set[tuple[str, str]]]:
    """Readings pending in the buffer file, as (point code, ts) keys."""
    buf = EdgeBuffer(BufferConfig(path=path))
    try:
        codes = buf.remember_codes({})
        merged = ReadingBatch(1)
        for _, b in buf.readings.peek(10**9):
            merged.extend(b)
        return buf.readings.pending, {(r["point"], r["ts"]) for r in reading_rows(merged, codes)}
    finally:
        buf.close()


def test_restart_with_a_non_empty_buffer_delivers_the_rest(plc: Plc, tmp_path: Path) -> None:
    require_mqtt()
    plc.regs[:] = [5, 6, 7, 8]
    proxy = TcpProxy("127.0.0.1", 1883)
    proxy.cut()  # the uplink is unreachable during the first run
    prefix = f"pgtest/{uuid.uuid4().hex[:8]}"
    doc = config_doc(tmp_path / "buffer.sqlite", plc.port, 4,
                     {"kind": "mqtt", "host": "127.0.0.1", "port": proxy.port, "topic_prefix": prefix})
    cfg_path = tmp_path / "edge.yaml"
    cfg_path.write_text(yaml.safe_dump(doc))
    w = Watcher(f"{prefix}/{doc['edge_id']}/#")
    first = start(cfg_path)
    try:
        wait_until(lambda: (tmp_path / "buffer.sqlite").exists() and buffered(tmp_path / "buffer.sqlite")[0] >= 20,
                   20, "readings to be buffered by the first process")
        os.kill(first.pid, signal.SIGKILL)  # a crash: nothing is drained or closed
        first.wait(10)
        n, keys = buffered(tmp_path / "buffer.sqlite")
        assert n == len(keys) >= 20 and w.readings() == []
        proxy.restore()
        second = start(cfg_path)
        try:
            wait_until(lambda: keys <= {(r["point"], r["ts"]) for r in w.readings()}, 20,
                       "the first process's readings to arrive")
        finally:
            second.terminate()
            _, err = second.communicate(timeout=20)
        assert second.returncode == 0, err.decode()[-2000:]
        assert b"buffered from before" in err
    finally:
        if first.poll() is None:
            first.kill()
        w.close()
        proxy.close()
    order = [(r["point"], r["ts"]) for r in w.readings() if (r["point"], r["ts"]) in keys]
    assert order[: len(keys)] == sorted(order[: len(keys)], key=lambda k: k[1])  # oldest first
