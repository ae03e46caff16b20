"""A short-lived, per-process memory of resolved tokens.

Every API call and page carries a token; looking it up costs a database round trip that
is usually the same answer as a second ago. Entries live ``ttl`` seconds (default 5): a
revocation made in this process is forgotten at once (``forget``); one made elsewhere (another
worker, an account disabled in the database) takes effect within ``ttl``.
"""

from __future__ import annotations

import threading
import time

from plantguard.core.security import token_digest
from plantguard.tenancy.auth import Resolved


class AuthCache:
    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, Resolved]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, kinds: tuple[str, ...]) -> Resolved | None:
        if self.ttl <= 0:
            return None
        key = (token_digest(token), kinds)
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._entries[key]
                return None
            return hit[1]

    def put(self, token: str, kinds: tuple[str, ...], resolved: Resolved) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[(token_digest(token), kinds)] = (time.monotonic() + self.ttl, resolved)

    def forget(self, token: str) -> None:
        digest = token_digest(token)
        with self._lock:
            for key in [k for k in self._entries if k[0] == digest]:
                del self._entries[key]
