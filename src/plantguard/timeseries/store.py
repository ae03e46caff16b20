"""Bulk, idempotent writes of readings, with their rollups and last values in the same
transaction.

One batch is one statement sequence in one transaction: the new readings are inserted with
"on conflict do nothing" on (point, time), and only the rows that were actually new feed the
1-minute and 1-hour rollups and the point's last value. A batch replayed after a crash, or
delivered twice by the bus, therefore changes nothing: the store is idempotent on
point + timestamp, rollups included.

PostgreSQL does it in a single statement of data-modifying CTEs over ``unnest``ed arrays
(one round trip, no per-row parameters). SQLite stages the batch in a temporary table and
runs the same steps; the writer holds SQLite's write lock (``BEGIN IMMEDIATE``) throughout.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, Engine

from plantguard.ingest.reading import ReadingBatch
from plantguard.timeseries.models import RESOLUTIONS

_RES_VALUES = ", ".join(f"({r})" for r in RESOLUTIONS)

PG_WRITE = f"""
WITH b AS (
    SELECT DISTINCT ON (p, t) p, t, CASE WHEN v = 'NaN'::float8 THEN NULL ELSE v END AS v, q
    FROM unnest(%(p)s::bigint[], %(t)s::bigint[], %(v)s::float8[], %(q)s::int2[]) AS u(p, t, v, q)
    ORDER BY p, t
), ins AS (
    INSERT INTO reading (point_id, ts, value, quality)
    SELECT p, t, v, q FROM b
    ON CONFLICT (point_id, ts) DO NOTHING
    RETURNING point_id, ts, value, quality
), roll AS (
    INSERT INTO reading_rollup (point_id, res, bucket, vmin, vmax, vsum, n)
    SELECT ins.point_id, r.res, (ins.ts / (r.res::bigint * 1000000)) * (r.res::bigint * 1000000),
           min(ins.value), max(ins.value), sum(ins.value), count(*)
    FROM ins CROSS JOIN (VALUES {_RES_VALUES}) AS r(res)
    WHERE ins.quality = 0 AND ins.value IS NOT NULL
    GROUP BY 1, 2, 3
    ON CONFLICT (point_id, res, bucket) DO UPDATE SET
        vmin = LEAST(reading_rollup.vmin, EXCLUDED.vmin),
        vmax = GREATEST(reading_rollup.vmax, EXCLUDED.vmax),
        vsum = reading_rollup.vsum + EXCLUDED.vsum,
        n = reading_rollup.n + EXCLUDED.n
    RETURNING 1
), last AS (
    INSERT INTO point_last (point_id, enterprise_id, ts, value, quality)
    SELECT DISTINCT ON (point_id) point_id, %(ent)s, ts, value, quality FROM ins ORDER BY point_id, ts DESC
    ON CONFLICT (point_id) DO UPDATE SET
        enterprise_id = EXCLUDED.enterprise_id, ts = EXCLUDED.ts, value = EXCLUDED.value, quality = EXCLUDED.quality
    WHERE point_last.ts < EXCLUDED.ts
    RETURNING 1
)
SELECT count(*) FROM ins
"""

# PostgreSQL stages the batch with binary COPY (psycopg packs the rows in C: ~0.3 µs of client
# CPU a reading, against ~3.4 µs for four Python lists sent as text arrays), then the same
# statement reads the stage. Sorting a large batch (twice) spills to disk at the default 4 MB.
PG_STAGE = "CREATE TEMP TABLE IF NOT EXISTS _rb (p bigint, t bigint, v float8, q int2) ON COMMIT DELETE ROWS"
PG_COPY = "COPY _rb (p, t, v, q) FROM STDIN (FORMAT BINARY)"
PG_WRITE_STAGED = PG_WRITE.replace(
    "FROM unnest(%(p)s::bigint[], %(t)s::bigint[], %(v)s::float8[], %(q)s::int2[]) AS u(p, t, v, q)",
    "FROM _rb AS u")
PG_WORK_MEM = "SET LOCAL work_mem = '32MB'"

SQLITE_SETUP = (
    "CREATE TEMP TABLE IF NOT EXISTS _rb (point_id INTEGER, ts INTEGER, value REAL, quality INTEGER)",
    "CREATE TEMP TABLE IF NOT EXISTS _rnew (point_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL, "
    "quality INTEGER NOT NULL, PRIMARY KEY (point_id, ts)) WITHOUT ROWID",
)
SQLITE_STEPS = (
    # New rows only (and each (point, ts) once within the batch).
    "INSERT OR IGNORE INTO _rnew SELECT b.point_id, b.ts, b.value, b.quality FROM _rb b "
    "WHERE NOT EXISTS (SELECT 1 FROM reading r WHERE r.point_id = b.point_id AND r.ts = b.ts)",
    "INSERT INTO reading (point_id, ts, value, quality) SELECT point_id, ts, value, quality FROM _rnew",
    f"""INSERT INTO reading_rollup (point_id, res, bucket, vmin, vmax, vsum, n)
    SELECT n.point_id, r.res, (n.ts / (r.res * 1000000)) * (r.res * 1000000), min(n.value), max(n.value),
           sum(n.value), count(*)
    FROM _rnew n CROSS JOIN (SELECT column1 AS res FROM (VALUES {_RES_VALUES})) r
    WHERE n.quality = 0 AND n.value IS NOT NULL
    GROUP BY 1, 2, 3
    ON CONFLICT (point_id, res, bucket) DO UPDATE SET
        vmin = min(reading_rollup.vmin, excluded.vmin),
        vmax = max(reading_rollup.vmax, excluded.vmax),
        vsum = reading_rollup.vsum + excluded.vsum,
        n = reading_rollup.n + excluded.n""",
    """INSERT INTO point_last (point_id, enterprise_id, ts, value, quality)
    SELECT n.point_id, :ent, n.ts, n.value, n.quality FROM _rnew n
    WHERE n.ts = (SELECT max(m.ts) FROM _rnew m WHERE m.point_id = n.point_id)
    ON CONFLICT (point_id) DO UPDATE SET
        enterprise_id = excluded.enterprise_id, ts = excluded.ts, value = excluded.value, quality = excluded.quality
    WHERE excluded.ts > point_last.ts""",
)


def write_batch(bind: Engine | Connection, batch: ReadingBatch) -> int:
    """Store ``batch``; returns how many readings were new. Atomic: all or nothing.

    Given an Engine it runs in its own transaction; given a Connection it runs in the
    caller's (which must be a writer's)."""
    if len(batch) == 0:
        return 0
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return _write(conn, batch)
    return _write(bind, batch)


def _write(conn: Connection, batch: ReadingBatch) -> int:
    if conn.dialect.name == "postgresql":
        return _write_pg(conn, batch)
    return _write_sqlite(conn, batch)


def _write_pg(conn: Connection, batch: ReadingBatch) -> int:
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(PG_WORK_MEM)
        cur.execute(PG_STAGE)
        cur.execute("DELETE FROM _rb")  # empty, unless an earlier batch went in this same transaction
        with cur.copy(PG_COPY) as copy:
            copy.set_types(["int8", "int8", "float8", "int2"])
            for row in zip(batch.point_id, batch.ts, batch.value, batch.quality, strict=True):
                copy.write_row(row)
        cur.execute(PG_WRITE_STAGED, {"ent": batch.enterprise_id})
        row = cur.fetchone()
        return int(row[0]) if row else 0


def _write_sqlite(conn: Connection, batch: ReadingBatch) -> int:
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        for stmt in SQLITE_SETUP:
            cur.execute(stmt)
        cur.execute("DELETE FROM _rb")
        cur.execute("DELETE FROM _rnew")
        cur.executemany(
            "INSERT INTO _rb VALUES (?, ?, ?, ?)",
            ((p, t, None if math.isnan(v) else v, q)
             for p, t, v, q in zip(batch.point_id, batch.ts, batch.value, batch.quality, strict=True)),
        )
        for stmt in SQLITE_STEPS:
            cur.execute(stmt, {"ent": batch.enterprise_id} if ":ent" in stmt else ())
        (n,) = cur.execute("SELECT count(*) FROM _rnew").fetchone()
        cur.execute("DELETE FROM _rb")
        cur.execute("DELETE FROM _rnew")
        return int(n)
    finally:
        cur.close()
