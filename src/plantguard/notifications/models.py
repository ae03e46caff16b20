"""Notification tables: channels (per enterprise), targeting rules, per-user preferences and
the delivery rows themselves.

Why one ``notification`` row per recipient × channel: the row *is* the outbox of the
delivery. It is written in the transaction that consumed the event, so a message exists
exactly when the event was processed; the dispatcher then owns its fate (attempts,
back-off, dead letter). In-app rows are the feed: they are delivered when written and only
gain ``read_at``.

Channels and rules are configuration a person edits, so they are audited; the channel
secret (webhook signing secret, SMTP password) is recorded in the ledger only as a digest.
Delivery rows and preferences change at event rate or are private to a user: not audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.audit.mixin import Audited
from plantguard.core.db import PK, Base, JSONType, TimestampMixin
from plantguard.core.i18n import N_
from plantguard.tenancy.models import TenantMixin

# Channel kinds. "inapp" and "email" reach a person; the robots post to a group chat.
PERSONAL_KINDS: tuple[str, ...] = ("inapp", "email")
GROUP_KINDS: tuple[str, ...] = ("wecom", "dingtalk", "feishu")
CONFIGURED_KINDS: tuple[str, ...] = ("email", *GROUP_KINDS)
ALL_KINDS: tuple[str, ...] = ("inapp", "email", *GROUP_KINDS)

KIND_LABELS: dict[str, str] = {
    "inapp": N_("In-app"),
    "email": N_("Email"),
    "wecom": N_("WeCom group robot"),
    "dingtalk": N_("DingTalk robot"),
    "feishu": N_("Feishu bot"),
}

# Delivery states. pending: waiting for (re)delivery at next_attempt_at (also while held by
# quiet hours); sent; dead: gave up (dead letter); folded: throttled, summarised in a digest.
STATUSES: dict[str, str] = {
    "pending": N_("Pending"),
    "sent": N_("Sent"),
    "dead": N_("Failed (dead letter)"),
    "folded": N_("Folded into a digest"),
}


class NotificationChannel(Audited, TenantMixin, TimestampMixin, Base):
    """A configured outgoing channel: one SMTP server, or one group robot's webhook."""

    __tablename__ = "notification_channel"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)
    __audit_redact__ = frozenset({"secret"})

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # email | wecom | dingtalk | feishu
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    # url (robots); host, port, username, sender, security: starttls|ssl|none (email);
    # at_mobiles (DingTalk/WeCom mentions).
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    secret: Mapped[str] = mapped_column(Text, default="")  # signing secret or SMTP password


class NotificationRule(Audited, TenantMixin, TimestampMixin, Base):
    """Who gets what: events matching ``event`` (exact or ``alarm.*``) at or above
    ``min_severity`` go to the ``audience`` over ``channels`` (personal kinds) and
    ``group_channel_ids`` (robots)."""

    __tablename__ = "notification_rule"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    event: Mapped[str] = mapped_column(String(60))
    min_severity: Mapped[str | None] = mapped_column(String(10), default=None)
    # audience: {"roles": [...], "team_leader": bool, "assignee": bool, "team_members": bool,
    #            "user_ids": [...]}
    audience: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    channels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    group_channel_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)


class NotificationPreference(TenantMixin, TimestampMixin, Base):
    """One user's own settings; absent row = defaults (everything on, no quiet hours)."""

    __tablename__ = "notification_preference"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), unique=True)
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai")
    quiet_start: Mapped[str | None] = mapped_column(String(5), default=None)  # "22:00"
    quiet_end: Mapped[str | None] = mapped_column(String(5), default=None)  # "07:00"
    # event type (or "*") -> channel kinds switched off
    muted: Mapped[dict[str, list[str]]] = mapped_column(JSONType, default=dict)


class Notification(TenantMixin, Base):
    """One message to one recipient (a user, or a group channel) over one channel."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "status", "next_attempt_at"),
        Index("ix_notification_feed", "user_id", "channel_kind", "id"),
        Index("ix_notification_throttle", "enterprise_id", "user_id", "channel_kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), default="")
    event_type: Mapped[str] = mapped_column(String(60))
    context_id: Mapped[str] = mapped_column(String(32), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), default=None)
    channel_kind: Mapped[str] = mapped_column(String(20))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notification_channel.id", ondelete="CASCADE"),
                                                   default=None)
    address: Mapped[str] = mapped_column(String(200), default="")  # email address, mobiles
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    title: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    level: Mapped[str] = mapped_column(String(10), default="")  # severity or priority
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    held_until: Mapped[datetime | None] = mapped_column(default=None)  # quiet hours
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    dead_at: Mapped[datetime | None] = mapped_column(default=None)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    digest_id: Mapped[int | None] = mapped_column(Integer, default=None)  # the digest that carried it
