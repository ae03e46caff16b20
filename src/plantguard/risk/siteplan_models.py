"""Site plans for the four-colour map (migration 0013).

One plan per site: the background that area polygons (``area.polygon``, in plan units) are
drawn on. Why the file is kept in the row and not under ``var_dir``: a plan is small (the
upload limit), it must be served by every web server of a split deployment, and replacing it
is then one transaction with its bounds — a polygon is never checked against the bounds of a
file that is not the one shown. The content is excluded from the change ledger (only its
SHA-256 is recorded there).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Float, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, TimestampMixin
from plantguard.tenancy.models import TenantMixin


class SitePlan(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "site_plan"
    __table_args__ = (UniqueConstraint("enterprise_id", "site_id"),)
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"content"})

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200), default="")
    # image/svg+xml (sanitised), image/png, image/jpeg or image/webp — from the content.
    content_type: Mapped[str] = mapped_column(String(40))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    # The plan's coordinate box (SVG viewBox, or 0 0 width height in pixels for an image).
    min_x: Mapped[float] = mapped_column(Float, default=0.0)
    min_y: Mapped[float] = mapped_column(Float, default=0.0)
    width: Mapped[float] = mapped_column(Float)
    height: Mapped[float] = mapped_column(Float)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    uploaded_at: Mapped[datetime]
