"""The edge process must not import the web stack or SQLAlchemy: run it for real (both entry
points: ``plantguard edge`` and ``python -m plantguard.edge``) with ``-X importtime``, which
lists every module the interpreter imports, including those imported lazily once the Modbus
connector and the MQTT uplink are running."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.edge.helpers import Plc, config_doc

FORBIDDEN = {"fastapi", "starlette", "sqlalchemy", "jinja2", "alembic", "uvicorn"}


@pytest.fixture
def plc() -> Iterator[Plc]:
    p = Plc(2).start()
    yield p
    p.stop()


@pytest.mark.parametrize("entry", [["-m", "plantguard.cli.main", "edge"], ["-m", "plantguard.edge"]])
def test_the_edge_process_imports_no_web_stack_and_no_sqlalchemy(plc: Plc, tmp_path: Path, entry: list[str]) -> None:
    rule = {"name": "r", "points": ["P000"], "detector": "robust_z", "params": {"window": 10}}
    doc = config_doc(tmp_path / "buffer.sqlite", plc.port, 2,
                     {"kind": "mqtt", "host": "127.0.0.1", "port": 1, "topic_prefix": "pgtest/imports"}, rules=[rule])
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen([sys.executable, "-X", "importtime", *entry, "--config", str(path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (tmp_path / "buffer.sqlite").exists():
        time.sleep(0.1)
    time.sleep(1.5)  # connectors connected and polled, readings buffered
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    text = err.decode()
    assert proc.returncode == 0, text[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in text.splitlines()
                if line.startswith("import time:")}
    assert {"plantguard", "pymodbus", "paho", "pydantic"} <= imported  # it did run the edge
    assert imported & FORBIDDEN == set()
