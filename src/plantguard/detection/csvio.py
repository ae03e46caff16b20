"""Reading a time series CSV for ``plantguard detect``: the timestamp column found by itself,
numeric feature columns, the separator guessed, rows streamed in chunks of bounded size.

Every problem is one :class:`InputError` naming the file, the row (1-based line number in
the file) and the column, so the command can print one clear line and exit non-zero, never a
traceback. Label columns (``anomaly``, ``changepoint``, ``label``) are never features.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

LABEL_COLUMNS = frozenset({"anomaly", "changepoint", "label"})
TIME_NAMES = ("timestamp", "datetime", "time", "date", "ts")
CHUNK_ROWS = 4096


class InputError(ValueError):
    def __init__(self, file: str, problem: str, row: int | None = None, column: str | None = None) -> None:
        where = file + (f", row {row}" if row is not None else "") + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {problem}")
        self.file, self.row, self.column, self.problem = file, row, column, problem


@dataclass(frozen=True)
class Layout:
    separator: str
    header: tuple[str, ...]
    time_column: int
    features: tuple[int, ...]  # column indexes used as features

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.header[i] for i in self.features)


@dataclass
class Chunk:
    first_row: int  # file line number of the chunk's first row
    raw_time: list[str]
    t: np.ndarray  # seconds since the epoch (float64)
    x: np.ndarray  # rows × features, NaN where empty


def parse_time(text: str) -> float:
    """ISO-8601 (naive = UTC) or a number (epoch seconds, or ms/µs told apart by magnitude)."""
    s = text.strip()
    try:
        v = float(s)
    except ValueError:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(v):
        raise ValueError("not a finite number")
    return v / 1e6 if abs(v) >= 1e14 else (v / 1e3 if abs(v) >= 1e11 else v)


def _separator(first: str) -> str:
    return ";" if first.count(";") > first.count(",") else ","


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff(path: Path) -> Layout:
    name = str(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
        if not first.strip():
            raise InputError(name, "the file is empty")
        sep = _separator(first)
        header = tuple(h.strip() for h in next(csv.reader([first], delimiter=sep)))
        sample = next(csv.reader([fh.readline()], delimiter=sep), None)
    if not sample:
        raise InputError(name, "the file has a header but no data rows", row=2)
    lowered = [h.lower() for h in header]
    time_col = next((i for i, h in enumerate(lowered) if h in TIME_NAMES), None)
    if time_col is None:  # a column whose first value parses as a time but not as a plain number
        for i, value in enumerate(sample):
            if i < len(header) and not _is_number(value):
                try:
                    parse_time(value)
                except ValueError:
                    continue
                time_col = i
                break
    if time_col is None:
        raise InputError(name, "no timestamp column (named timestamp/datetime/time, or holding ISO-8601 times)")
    features = tuple(i for i, h in enumerate(lowered)
                     if i != time_col and h not in LABEL_COLUMNS and i < len(sample) and
                     (_is_number(sample[i]) or sample[i].strip() == ""))
    if not features:
        raise InputError(name, "no numeric column to score")
    return Layout(sep, header, time_col, features)


def chunks(path: Path, layout: Layout, size: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """The rows in order, ``size`` at a time: memory stays bounded whatever the file's length.
    Timestamps must not go backwards; a feature cell must be a number or empty (→ NaN)."""
    name = str(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(_lines(fh), delimiter=layout.separator)
        next(reader)  # header
        last_t = -math.inf
        row_no = 1
        raw: list[str] = []
        ts: list[float] = []
        xs: list[list[float]] = []
        first_row = 2
        for row in reader:
            row_no += 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(layout.time_column, *layout.features):
                raise InputError(name, f"expected {len(layout.header)} columns, found {len(row)}", row=row_no)
            cell = row[layout.time_column]
            try:
                t = parse_time(cell)
            except (ValueError, OverflowError):
                raise InputError(name, f"{cell!r} is not a timestamp", row_no,
                                 layout.header[layout.time_column]) from None
            if t < last_t:
                raise InputError(name, "timestamps go backwards", row_no, layout.header[layout.time_column])
            last_t = t
            values: list[float] = []
            for i in layout.features:
                c = row[i].strip()
                if not c:
                    values.append(math.nan)
                    continue
                try:
                    values.append(float(c))
                except ValueError:
                    raise InputError(name, f"{c!r} is not a number", row_no, layout.header[i]) from None
            raw.append(cell)
            ts.append(t)
            xs.append(values)
            if len(ts) >= size:
                yield Chunk(first_row, raw, np.asarray(ts), np.asarray(xs, dtype=float))
                raw, ts, xs = [], [], []
                first_row = row_no + 1
        if ts:
            yield Chunk(first_row, raw, np.asarray(ts), np.asarray(xs, dtype=float))


def _lines(fh: TextIO) -> Iterator[str]:
    for line in fh:
        yield line.rstrip("\r\n")
