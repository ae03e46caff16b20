"""Reading a CSV for ``plantguard detect``: the layout found by itself, and one clear error
naming file, row and column for every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantguard.detection.csvio import InputError, chunks, sniff

SKAB_LIKE = ("datetime;Accelerometer1RMS;Pressure;anomaly;changepoint\r\n"
             "2020-03-09 10:14:33;0.02;0.38;0.0;0.0\r\n"
             "2020-03-09 10:14:34;0.03;;0.0;0.0\r\n"
             "2020-03-09 10:14:35;0.02;0.40;1.0;1.0\r\n")


def _write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8", newline="")
    return p


def test_layout_and_rows(tmp_path: Path) -> None:
    p = _write(tmp_path, SKAB_LIKE)
    layout = sniff(p)
    assert layout.separator == ";" and layout.feature_names == ("Accelerometer1RMS", "Pressure")
    (chunk,) = list(chunks(p, layout))
    assert chunk.x.shape == (3, 2) and chunk.t[1] - chunk.t[0] == 1.0
    assert str(chunk.x[1, 1]) == "nan"  # an empty cell is a gap, not an error


def test_epoch_timestamps_and_comma_and_bounded_chunks(tmp_path: Path) -> None:
    rows = "\n".join(f"{1_700_000_000_000 + i * 1000},{i}" for i in range(10))
    p = _write(tmp_path, "ts,value\n" + rows + "\n")
    got = list(chunks(p, sniff(p), size=4))
    assert [len(c.t) for c in got] == [4, 4, 2] and got[1].first_row == 6
    assert got[0].t[0] == 1_700_000_000.0


@pytest.mark.parametrize("text, problem, row, column", [
    ("", "the file is empty", None, None),
    ("a;b\n1;2\n", "no timestamp column", None, None),
    ("timestamp;anomaly\n2020-01-01T00:00:00;0\n", "no numeric column", None, None),
    ("timestamp,v\n", "no data rows", 2, None),
    ("timestamp,v\n2020-01-01T00:00:02,1\n2020-01-01T00:00:01,2\n", "timestamps go backwards", 3, "timestamp"),
    ("timestamp,v\n2020-01-01T00:00:00,1\n2020-01-01T00:00:01,high\n", "'high' is not a number", 3, "v"),
    ("timestamp,v\n2020-01-01T00:00:00,1\nyesterday,2\n", "'yesterday' is not a timestamp", 3, "timestamp"),
])
def test_bad_input_is_one_clear_error(tmp_path: Path, text: str, problem: str, row: int | None,
                                      column: str | None) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        list(chunks(p, sniff(p)))
    err = info.value
    assert problem in err.problem and err.row == row and err.column == column and err.file == str(p)
    assert str(p) in str(err)
