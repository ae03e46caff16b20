"""The edge's store-and-forward buffer: one SQLite file (stdlib ``sqlite3``) holding readings,
alarm signals and the local point-id -> code map.

Readings go through the server's own :class:`~plantguard.ingest.buffer.DurableBuffer`
(columnar batches, WAL, bounded, drop-oldest). Signals are few and precious, so they have their
own bounded queue beside it in the same file; both are deleted only after the uplink has
confirmed delivery. The code map is kept in the file too, so that readings buffered before a
configuration change are still forwarded under their codes after a restart.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from plantguard.detection.signals import ConditionSignal
from plantguard.ingest.buffer import DurableBuffer

if TYPE_CHECKING:
    from plantguard.edge.config import BufferConfig

log = logging.getLogger("plantguard.edge")


class EdgeBuffer:
    def __init__(self, cfg: BufferConfig) -> None:
        self.readings = DurableBuffer(cfg.path, cfg.max_readings, cfg.durability)
        self.max_signals = cfg.max_signals
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(cfg.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if cfg.durability == 'full' else 'NORMAL'}")
        self._db.execute("CREATE TABLE IF NOT EXISTS edge_signal (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "data BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS edge_point (id INTEGER PRIMARY KEY, code TEXT NOT NULL)")

    # -- point codes -----------------------------------------------------------------------

    def remember_codes(self, codes: Mapping[str, int]) -> dict[int, str]:
        """Store ``code -> id`` and return the whole map (older entries included) as id -> code."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO edge_point (id, code) VALUES (?, ?)",
                                 [(i, c) for c, i in codes.items()])
            self._db.execute("COMMIT")
            return {int(i): str(c) for i, c in self._db.execute("SELECT id, code FROM edge_point")}

    # -- signals ---------------------------------------------------------------------------

    def put_signals(self, signals: Sequence[ConditionSignal]) -> int:
        """Append durably; returns how many of the oldest had to be dropped for room."""
        if not signals:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO edge_signal (data) VALUES (?)",
                                     [(orjson.dumps(s.to_dict()),) for s in signals])
                (n,) = self._db.execute("SELECT count(*) FROM edge_signal").fetchone()
                over = int(n) - self.max_signals
                if over > 0:
                    self._db.execute("DELETE FROM edge_signal WHERE seq IN "
                                     "(SELECT seq FROM edge_signal ORDER BY seq LIMIT ?)", (over,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if over > 0:
            log.error("edge buffer full: dropped the %d oldest alarm signals (cap %d signals)", over, self.max_signals)
        return max(0, over)

    def peek_signals(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, data FROM edge_signal ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(int(seq), orjson.loads(data)) for seq, data in rows]

    def ack_signals(self, upto_seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM edge_signal WHERE seq <= ?", (upto_seq,))

    @property
    def pending_signals(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM edge_signal").fetchone()
        return int(n)

    def close(self) -> None:
        self.readings.close()
        with self._lock:
            self._db.close()
