"""The ``routing_rule_set`` table: one row per saved version of an enterprise's routing rules.

Versions are immutable (an ORM guard refuses updates), so "which rules routed this work order"
is answered by the version number on the decision, forever. Saving creates the next version;
only valid rule sets are saved, and the newest one is in force. Rows are audited, so each save
is in the change ledger (and becomes an ``entity.changed`` event) with its author.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin
from plantguard.tenancy.models import TenantMixin


class RoutingRuleSet(Audited, TenantMixin, TimestampMixin, Base):
    __tablename__ = "routing_rule_set"
    __table_args__ = (UniqueConstraint("enterprise_id", "version"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)  # the YAML/JSON as the author wrote it
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # the parsed document
    comment: Mapped[str] = mapped_column(String(300), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), default=None)
    author: Mapped[str] = mapped_column(String(80), default="")


class ImmutableVersion(RuntimeError):
    pass


@event.listens_for(RoutingRuleSet, "before_update")
def _refuse_update(mapper: Any, connection: Any, target: RoutingRuleSet) -> None:
    """A saved version never changes: edit by saving a new one."""
    raise ImmutableVersion(f"routing_rule_set {target.id} is immutable")
