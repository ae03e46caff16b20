"""The durable local buffer between connectors and the store (or the bus).

Every accepted batch is first appended here, in its own SQLite file under the var dir, and
only deleted once the store (or JetStream) has acknowledged it. When the database or the
bus is down, batches simply accumulate and are replayed in order when it returns; a crash of
the process loses nothing that was appended, because the file survives it. Replays are safe
because the store is idempotent on (point, timestamp). Several processes may append to the
same file (SQLite locks it); one of them, the ingest leader, drains it.

It is bounded by a number of readings. When full, the *oldest* batches are dropped and
counted (``dropped``): after a long outage the most recent data is the most useful, and the
count is shown in the console so the loss is never silent.

Durability: WAL with ``synchronous=NORMAL`` survives a crash of the process (every append
is committed before the connector acknowledges its message); ``durability="full"`` also
survives a power cut, at the cost of an fsync per append.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Literal

from plantguard.ingest.reading import ReadingBatch

DEFAULT_MAX_READINGS = 5_000_000


class DurableBuffer:
    def __init__(self, path: Path | str, max_readings: int = DEFAULT_MAX_READINGS,
                 durability: Literal["normal", "full"] = "normal") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_readings = max_readings
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self._db.execute("CREATE TABLE IF NOT EXISTS batch (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "n INTEGER NOT NULL, data BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    @property
    def pending(self) -> int:
        """Readings waiting to be forwarded (by any process sharing the file)."""
        with self._lock:
            return self._count()[0]

    @property
    def dropped(self) -> int:
        with self._lock:
            got = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
            return int(got[0]) if got else 0

    @property
    def batches(self) -> int:
        with self._lock:
            return self._count()[1]

    def put(self, batch: ReadingBatch) -> int:
        """Append ``batch`` durably; returns how many old readings had to be dropped for room."""
        n = len(batch)
        if n == 0:
            return 0
        data = batch.to_bytes()
        dropped = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO batch (n, data) VALUES (?, ?)", (n, data))
                pending = self._count()[0]
                while pending > self.max_readings:
                    row = self._db.execute("SELECT seq, n FROM batch ORDER BY seq LIMIT 1").fetchone()
                    if row is None or pending - row[1] < 0:
                        break
                    self._db.execute("DELETE FROM batch WHERE seq = ?", (row[0],))
                    pending -= row[1]
                    dropped += row[1]
                if dropped:
                    self._db.execute("INSERT INTO meta (key, value) VALUES ('dropped', ?) ON CONFLICT (key) "
                                     "DO UPDATE SET value = value + excluded.value", (dropped,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dropped

    def _count(self) -> tuple[int, int]:
        row = self._db.execute("SELECT coalesce(sum(n), 0), count(*) FROM batch").fetchone()
        return int(row[0]), int(row[1])

    def peek(self, max_readings: int) -> list[tuple[int, ReadingBatch]]:
        """The oldest batches, in order, up to about ``max_readings`` (at least one batch)."""
        out: list[tuple[int, ReadingBatch]] = []
        total = 0
        with self._lock:
            cur = self._db.execute("SELECT seq, n, data FROM batch ORDER BY seq LIMIT 1000")
            for seq, n, data in cur:
                if out and total + n > max_readings:
                    break
                out.append((int(seq), ReadingBatch.from_bytes(data)))
                total += n
            cur.close()
        return out

    def ack(self, upto_seq: int) -> None:
        """Forget every batch up to and including ``upto_seq`` (it is stored downstream)."""
        with self._lock:
            self._db.execute("DELETE FROM batch WHERE seq <= ?", (upto_seq,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
