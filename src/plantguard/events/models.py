"""Outbox and consumer-dedup tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.core.db import PK, Base, JSONType, utcnow


class OutboxMessage(Base):
    """An event waiting for the relay. Written in the transaction of the change it reports,
    so an event exists exactly when its change was committed."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "published_at", "id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    enterprise_id: Mapped[int | None] = mapped_column(default=None)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class ProcessedEvent(Base):
    """Which consumer has applied which event: the key that makes at-least-once delivery
    behave as exactly-once effects."""

    __tablename__ = "processed_event"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)
