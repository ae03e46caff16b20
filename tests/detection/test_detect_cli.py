"""``plantguard detect``: a score and an alarm for every row, in order, from rows ≤ t only;
bad input is one line naming the problem and a non-zero exit."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plantguard.cli.main import app


def _series(n: int, spike_at: int | None = None) -> str:
    lines = ["timestamp;flow;pressure;anomaly"]
    for i in range(n):
        p = 5.0 + 0.01 * (i % 7) + (3.0 if spike_at is not None and i >= spike_at else 0.0)
        lines.append(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d};{10 + 0.1 * (i % 5)};{p};0")
    return "\n".join(lines) + "\n"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_every_row_scored_in_order_and_the_step_alarms(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(_series(300, spike_at=250))
    out = tmp_path / "out.csv"
    code, text = _run("detect", str(src), "--output", str(out), "--train-rows", "100")
    assert code == 0, text
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 300 and list(rows[0]) == ["timestamp", "anomaly_score", "alarm"]
    assert rows[0]["timestamp"] == "2026-01-01T00:00:00"
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 and r["alarm"] in ("0", "1") for r in rows)
    assert rows[250]["alarm"] == "1" and all(r["alarm"] == "0" for r in rows[100:240])


def test_no_look_ahead(tmp_path: Path) -> None:
    """The output for the first 200 rows is the same whatever follows them."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(_series(300, spike_at=250))
    b.write_text(_series(300, spike_at=None))
    for src in (a, b):
        assert _run("detect", str(src), "--output", str(src) + ".out")[0] == 0
    head_a = Path(str(a) + ".out").read_text().splitlines()[:201]
    head_b = Path(str(b) + ".out").read_text().splitlines()[:201]
    assert head_a == head_b


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("a;b\n1;2\n", "no timestamp column"),
    ("timestamp,v\n2026-01-01T00:00:02,1\n2026-01-01T00:00:01,2\n",
     "row 3, column 'timestamp': timestamps go backwards"),
    ("timestamp,v\n2026-01-01T00:00:00,1\n2026-01-01T00:00:01,abc\n", "row 3, column 'v': 'abc' is not a number"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path: Path, text: str, message: str) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(text)
    code, output = _run("detect", str(src), "--output", str(tmp_path / "o.csv"))
    assert code == 2 and message in output and "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith("error: ")


def test_unknown_detector_names_the_option(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(_series(10))
    code, output = _run("detect", str(src), "--output", str(tmp_path / "o.csv"), "--detector", "crystal-ball")
    assert code == 2 and "--detector: unknown detector 'crystal-ball'" in output
