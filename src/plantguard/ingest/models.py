"""Devices (what to connect and how its data maps to points), their live status and the
quarantine of rejected input.

A device's connection settings and point map are configuration stored as JSON and validated
by its connector's manifest; they are audited like any other record, so a changed register
address shows in the change ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin, utcnow
from plantguard.tenancy.models import TenantMixin


class Device(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("enterprise_id", "code"),)
    # The ingest token's digest is a secret: never in the ledger's before/after snapshots.
    __audit_redact__ = frozenset({"token_hash"})

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200), default="")
    protocol: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(default=True)
    poll_interval_s: Mapped[float] = mapped_column(default=1.0)
    # Protocol-specific settings, validated by the connector's ``config_model``.
    connection: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The point map: a list of protocol-specific entries, each naming a measurement point code.
    points: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # Parser rules for custom protocols (and optional transforms for any protocol).
    rules: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # SHA-256 of the per-device token for HTTP ingest ("" = HTTP ingest not allowed).
    token_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    notes: Mapped[str] = mapped_column(Text, default="")


class DeviceStatus(Base):
    """What the coordinator last saw of a device: written often, so not audited."""

    __tablename__ = "device_status"

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(index=True)
    available: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(20), default="starting")  # starting|online|offline|disabled
    last_seen: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    readings: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    reconnects: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantinedInput(Base):
    """Input that was not stored, and why: malformed frames, wrong types, out-of-range values,
    unknown points, timestamps outside the tolerance."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_ent_time", "enterprise_id", "received_at"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column()
    device_id: Mapped[int | None] = mapped_column(default=None, index=True)
    source: Mapped[str] = mapped_column(String(100), default="")  # connector / protocol
    reason: Mapped[str] = mapped_column(String(40))  # a code, e.g. "malformed", "out_of_range"
    detail: Mapped[str] = mapped_column(Text, default="")
    point_code: Mapped[str] = mapped_column(String(60), default="")
    raw: Mapped[str] = mapped_column(Text, default="")  # truncated to 2000 characters
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
