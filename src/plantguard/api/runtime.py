"""What a running PlantGuard process holds: settings, engine, session factories, the bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.readcache import ReadCache
from plantguard.core.settings import Settings
from plantguard.tenancy.auth_cache import AuthCache


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    read_factory: sessionmaker[Session]
    bus: Any = None
    relay: Any = None
    ingest: Any = None  # plantguard.ingest.service.IngestService when sensing runs here
    tasks: list[Any] = field(default_factory=list)
    auth_cache: AuthCache = field(default_factory=AuthCache)
    read_cache: ReadCache = field(default_factory=ReadCache)

    def __post_init__(self) -> None:
        self.auth_cache = AuthCache(ttl=self.settings.auth_cache_s)
        self.read_cache = ReadCache(maxsize=self.settings.read_cache_size)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        if settings.is_sqlite:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_session_factory(engine), make_session_factory(engine, read_only=True))
