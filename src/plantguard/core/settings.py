"""Runtime settings read from ``PLANTGUARD_*`` environment variables.

Everything has an embedded default so that ``make run`` works on a bare machine:
SQLite under ``./var/``, the in-process bus, port 8000. Production switches by
configuration only (``PLANTGUARD_DATABASE_URL``, ``PLANTGUARD_BUS_URL``), never by a code fork.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PLANTGUARD_{name}", default)


def _default_db_url(var_dir: Path) -> str:
    return f"sqlite:///{(var_dir / 'plantguard.db').as_posix()}"


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration; build with :func:`get_settings` or directly in tests."""

    var_dir: Path = field(default_factory=lambda: Path(_env("VAR_DIR", "var")).resolve())
    database_url: str = ""
    bus_url: str = field(default_factory=lambda: _env("BUS_URL", "inprocess://"))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "8000")))
    default_locale: str = field(default_factory=lambda: _env("LOCALE", "zh_CN"))
    session_ttl_hours: int = field(default_factory=lambda: int(_env("SESSION_TTL_HOURS", "12")))
    token_ttl_hours: int = field(default_factory=lambda: int(_env("TOKEN_TTL_HOURS", "24")))
    cookie_secure: bool = field(default_factory=lambda: _env("COOKIE_SECURE", "0") == "1")
    relay_interval_s: float = field(default_factory=lambda: float(_env("RELAY_INTERVAL", "0.2")))
    # Serving: worker processes, and threads per worker for blocking handlers.
    workers: int = field(default_factory=lambda: int(_env("WORKERS", "1")))
    threads: int = field(default_factory=lambda: int(_env("THREADS", "8")))
    # How long a resolved token is trusted without asking the database (0 disables).
    auth_cache_s: float = field(default_factory=lambda: float(_env("AUTH_CACHE_SECONDS", "5")))
    # Entries in the per-process cache of list pages and the dashboard (0 disables it);
    # core/readcache.py says why a cached read is never stale.
    read_cache_size: int = field(default_factory=lambda: int(_env("READ_CACHE_SIZE", "1024")))
    # Sensing: run the connectors in this process (the ingest leader when there are several).
    ingest: bool = field(default_factory=lambda: _env("INGEST", "1") == "1")
    # With a nats:// bus: store workers the ingest leader runs itself (more: `plantguard ingest worker`).
    ingest_store_workers: int = field(default_factory=lambda: int(_env("INGEST_STORE_WORKERS", "1")))
    # Readings held by the durable local buffer while the store or bus is away (oldest dropped beyond).
    ingest_buffer_max: int = field(default_factory=lambda: int(_env("INGEST_BUFFER_MAX", "5000000")))
    # Readings whose timestamp is further than this from now are quarantined (clock skew).
    ingest_max_future_s: float = field(default_factory=lambda: float(_env("INGEST_MAX_FUTURE_S", "300")))
    ingest_max_past_s: float = field(default_factory=lambda: float(_env("INGEST_MAX_PAST_S", "604800")))
    # Fraction of a point's span beyond its range still accepted (instrument over/under-range).
    ingest_range_margin: float = field(default_factory=lambda: float(_env("INGEST_RANGE_MARGIN", "0.05")))
    # Train the hazard-text classifier in the background at start-up (a few seconds of CPU), so
    # the first reporter's suggestion does not wait for it. Off in the test suite.
    warm_up_classifier: bool = field(default_factory=lambda: _env("WARM_UP_CLASSIFIER", "1") == "1")

    def __post_init__(self) -> None:
        if not self.database_url:
            url = os.environ.get("PLANTGUARD_DATABASE_URL") or _default_db_url(self.var_dir)
            object.__setattr__(self, "database_url", url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
