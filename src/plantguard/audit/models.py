"""Ledger tables. ``audit_entry`` is append-only (database triggers refuse UPDATE and
DELETE); ``audit_head`` holds each enterprise's last sequence number and hash so that a
deleted tail entry is detected too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.core.db import PK, Base, JSONType


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "seq"),
        Index("ix_audit_entry_entity", "enterprise_id", "entity_type", "entity_id"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(index=True)
    seq: Mapped[int] = mapped_column()
    ts: Mapped[datetime] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    context_id: Mapped[str | None] = mapped_column(String(64), default=None)
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(String(10))  # create | update | delete
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"

    enterprise_id: Mapped[int] = mapped_column(
        ForeignKey("enterprise.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    seq: Mapped[int] = mapped_column()
    hash: Mapped[str] = mapped_column(String(64))
