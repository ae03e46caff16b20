"""Readings, their rollups and each point's last value.

Time is an integer: microseconds since the Unix epoch, UTC, on every backend. It keeps
SQLite rows small and comparisons cheap, needs no per-row type conversion on bulk writes, and
is a valid TimescaleDB hypertable dimension. The primary key (point, time) is what makes
writes idempotent: a replayed or redelivered reading is the same row.

No foreign key to ``measurement_point``: a bulk write should not pay a lookup per row, and
readings of a deleted point age out under retention like any other.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.core.db import Base

BIGINT = BigInteger().with_variant(Integer(), "sqlite")

# Rollup resolutions, in seconds.
MINUTE = 60
HOUR = 3600
RESOLUTIONS = (MINUTE, HOUR)


class ReadingRow(Base):
    __tablename__ = "reading"
    __table_args__ = {"sqlite_with_rowid": False}

    point_id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=False)  # µs since epoch, UTC
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    quality: Mapped[int] = mapped_column(SmallInteger, default=0)


class Rollup(Base):
    """min/max/sum/count per point and bucket, for 1 min and 1 h; avg = sum / n.

    Only good-quality values with a value count."""

    __tablename__ = "reading_rollup"
    __table_args__ = {"sqlite_with_rowid": False}

    point_id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=False)
    res: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # seconds
    bucket: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=False)  # µs, bucket start
    vmin: Mapped[float] = mapped_column(Float)
    vmax: Mapped[float] = mapped_column(Float)
    vsum: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(BIGINT)


class PointLast(Base):
    """Each point's newest reading, for the live overview without scanning readings."""

    __tablename__ = "point_last"

    point_id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=False)
    enterprise_id: Mapped[int] = mapped_column(BIGINT)
    ts: Mapped[int] = mapped_column(BIGINT)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    quality: Mapped[int] = mapped_column(SmallInteger, default=0)


Index("ix_point_last_enterprise", PointLast.enterprise_id)
