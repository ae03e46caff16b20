"""A per-process cache of read results that is exact, not merely recent.

Every write to a tenant's records goes through the audit ledger, which advances that
enterprise's chain head (``audit_head.seq``) in the same transaction as the change. The head
is therefore a tenant-wide *data version*: a list page or dashboard computed while the head
stood at ``v`` is still correct for as long as the head is at ``v``. A cached value is served
only after one primary-key read confirms the version, so a change made by another worker
process, or straight through the API, is visible on the very next request; there is no TTL
and no invalidation message to lose.

The version is read *before* the data it labels. Under read-committed isolation the data may
then be newer than its label, never older; a newer label on the next request simply misses.
The head only grows, so a stale value can never match again.

Only values that depend on nothing but the tenant's records and the key may be cached:
anything tied to the caller (CSRF token, name, permissions) is either in the key or rendered
outside the cached part.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

T = TypeVar("T")

DEFAULT_SIZE = 1024


def data_version(session: Session, enterprise_id: int) -> int:
    """The tenant's data version: its audit chain head (0 before the first audited write)."""
    from plantguard.audit.models import AuditHead

    seq = session.scalar(select(AuditHead.seq).where(AuditHead.enterprise_id == enterprise_id))
    return int(seq or 0)


class ReadCache:
    """A thread-safe LRU of ``key -> (version, value)``."""

    def __init__(self, maxsize: int = DEFAULT_SIZE) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: int) -> tuple[bool, Any]:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] != version:
                self.misses += 1
                return False, None
            self._items.move_to_end(key)
            self.hits += 1
            return True, hit[1]

    def put(self, key: Hashable, version: int, value: Any) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._items[key] = (version, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def through(self, session: Session, enterprise_id: int, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for ``key`` if the tenant's data has not changed, else ``compute()``
        (run in ``session``'s transaction, after the version was read) stored and returned."""
        version = data_version(session, enterprise_id)
        full_key = (enterprise_id, key)
        found, value = self.get(full_key, version)
        if found:
            return value  # type: ignore[no-any-return]
        value = compute()
        self.put(full_key, version, value)
        return value
