"""bench/loop.py keeps working: a tiny run of the real server (SQLite, in-process bus) whose
every chain must complete — reading → alarm → work order routed to MNT → in-app notifications
and the robot's webhook — and whose JSON has each stage. Behaviour only; no timing is judged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loop_benchmark_runs_every_chain_to_the_end(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "loop.py"), "--samples", "3", "--warmup", "1",
                        "--interval", "0.1", "--timeout", "60", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads((tmp_path / "loop-latest.json").read_text())
    assert report["benchmark"] == "loop" and report["settings"]["backend"] == "sqlite"
    assert report["incomplete_chains"] == [] and report["routed_teams"] == ["MNT"]
    assert report["end_to_end_key"] == "e2e_all"
    for name in ("ingest_to_alarm", "alarm_to_workorder", "workorder_to_inapp", "alarm_to_webhook", "e2e_all"):
        stage = report["stages"][name]
        assert stage["n"] == 3, (name, stage)
        assert 0 < stage["p50_ms"] <= stage["p99_ms"] <= stage["max_ms"]
    assert len(report["chains"]) == 3 and all("e2e_all" in c for c in report["chains"].values())
