"""Stored readings for detection: warming detectors up after a (re)start, and backtests.

Reads the reading table directly by point id (the callers have already scoped the points to
one enterprise), newest or oldest first with a bound per point, so neither a warm-up nor a
backtest can pull an unbounded history into memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.ingest.reading import Quality
from plantguard.timeseries.models import ReadingRow

US = 1_000_000


def read(session: Session, point_ids: Iterable[int], start_us: int, end_us: int, *, per_point: int,
         newest: bool = False) -> tuple[list[tuple[int, float, float]], bool]:
    """Usable readings ``(point_id, t_s, value)`` of ``[start_us, end_us)`` in time order, at most
    ``per_point`` per point (the newest ones when ``newest``), and whether any point had more."""
    rows: list[tuple[int, float, float]] = []
    truncated = False
    for pid in sorted(set(point_ids)):
        q = (select(ReadingRow.ts, ReadingRow.value)
             .where(ReadingRow.point_id == pid, ReadingRow.ts >= start_us, ReadingRow.ts < end_us,
                    ReadingRow.value.is_not(None), ReadingRow.quality < int(Quality.BAD))
             .order_by(ReadingRow.ts.desc() if newest else ReadingRow.ts)
             .limit(per_point + 1))
        got = session.execute(q).all()
        if len(got) > per_point:
            truncated = True
            got = got[:per_point]
        rows.extend((pid, t / US, float(v)) for t, v in got if v is not None and math.isfinite(v))
    rows.sort(key=lambda r: r[1])
    return rows, truncated
