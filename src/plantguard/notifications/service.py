"""The notification service: the caller's feed and preferences (their own rows only), channel
and rule configuration and the dead letter (``notifications.manage``). Every query is scoped to
``actor.enterprise_id``; another enterprise's row is 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm, Role
from plantguard.notifications.consumer import CONSUMED
from plantguard.notifications.messages import zone
from plantguard.notifications.models import (
    GROUP_KINDS,
    Notification,
    NotificationChannel,
    NotificationPreference,
    NotificationRule,
)
from plantguard.notifications.policy import parse_hhmm
from plantguard.notifications.schemas import (
    ChannelIn,
    ChannelPublic,
    PreferencesIn,
    PreferencesOut,
    RuleIn,
    RulesIn,
    RulesOut,
)
from plantguard.notifications.targeting import DEFAULT_RULES

MASK = "********"


def _feed_q(actor: Actor) -> Any:
    return select(Notification).where(Notification.enterprise_id == actor.enterprise_id,
                                      Notification.user_id == actor.user_id, Notification.channel_kind == "inapp")


def feed(session: Session, actor: Actor, *, limit: int = 50, offset: int = 0,
         unread_only: bool = False) -> tuple[list[Notification], int, int]:
    q = _feed_q(actor)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    total = int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    items = list(session.scalars(q.order_by(Notification.id.desc()).limit(limit).offset(offset)))
    return items, total, unread_count(session, actor)


def unread_count(session: Session, actor: Actor) -> int:
    q = _feed_q(actor).where(Notification.read_at.is_(None))
    return int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)


def mark_read(session: Session, actor: Actor, item_id: int, now: datetime | None = None) -> Notification:
    row: Notification | None = session.scalar(_feed_q(actor).where(Notification.id == item_id))
    if row is None:
        raise NotFound(N_("Notification"), item_id)
    if row.read_at is None:
        row.read_at = now or utcnow()
    session.flush()
    return row


def mark_all_read(session: Session, actor: Actor, now: datetime | None = None) -> int:
    res = session.execute(update(Notification).where(
        Notification.enterprise_id == actor.enterprise_id, Notification.user_id == actor.user_id,
        Notification.channel_kind == "inapp", Notification.read_at.is_(None)).values(read_at=now or utcnow()))
    return int(getattr(res, "rowcount", 0) or 0)


# -- preferences (the caller's own row) -------------------------------------------------------


def get_preferences(session: Session, actor: Actor) -> PreferencesOut:
    p = session.scalar(select(NotificationPreference).where(
        NotificationPreference.enterprise_id == actor.enterprise_id, NotificationPreference.user_id == actor.user_id))
    events = sorted(CONSUMED)
    if p is None:
        return PreferencesOut(event_types=events)
    return PreferencesOut(timezone=p.timezone, quiet_start=p.quiet_start, quiet_end=p.quiet_end,
                          muted=p.muted or {}, event_types=events)


def put_preferences(session: Session, actor: Actor, body: PreferencesIn) -> PreferencesOut:
    errors: list[FieldError] = []
    if zone(body.timezone).key != body.timezone:
        errors.append(FieldError("timezone", N_("Unknown timezone")))
    for name in ("quiet_start", "quiet_end"):
        try:
            parse_hhmm(getattr(body, name))
        except ValueError:
            errors.append(FieldError(name, N_("Use the form HH:MM, e.g. 22:00")))
    if (not body.quiet_start) != (not body.quiet_end):
        errors.append(FieldError("quiet_end", N_("Give both the start and the end of the quiet hours")))
    for key in body.muted:
        if key != "*" and key not in CONSUMED:
            errors.append(FieldError(f"muted.{key}", N_("Unknown event type")))
    if errors:
        raise ValidationFailed(errors)
    p = session.scalar(select(NotificationPreference).where(
        NotificationPreference.enterprise_id == actor.enterprise_id, NotificationPreference.user_id == actor.user_id))
    if p is None:
        p = NotificationPreference(enterprise_id=actor.enterprise_id, user_id=actor.user_id)
        session.add(p)
    p.timezone, p.quiet_start, p.quiet_end = body.timezone, body.quiet_start or None, body.quiet_end or None
    p.muted = {k: sorted(set(v)) for k, v in body.muted.items() if v}
    session.flush()
    return get_preferences(session, actor)


# -- channels ----------------------------------------------------------------------------------


def channel_out(ch: NotificationChannel) -> ChannelPublic:
    return ChannelPublic(id=ch.id, kind=ch.kind, name=ch.name, enabled=ch.enabled, config=dict(ch.config or {}),
                         secret=MASK if ch.secret else "")


def list_channels(session: Session, actor: Actor) -> list[NotificationChannel]:
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    return list(session.scalars(select(NotificationChannel).where(
        NotificationChannel.enterprise_id == actor.enterprise_id).order_by(NotificationChannel.id)))


def _get_channel(session: Session, actor: Actor, item_id: int) -> NotificationChannel:
    ch = session.scalar(select(NotificationChannel).where(NotificationChannel.id == item_id,
                                                          NotificationChannel.enterprise_id == actor.enterprise_id))
    if ch is None:
        raise NotFound(N_("Notification channel"), item_id)
    return ch


def _config_of(body: ChannelIn) -> dict[str, Any]:
    errors: list[FieldError] = []
    if body.kind in GROUP_KINDS:
        if not body.url or not body.url.startswith(("http://", "https://")):
            errors.append(FieldError("url", N_("Give the robot's webhook URL (http or https)")))
        cfg: dict[str, Any] = {"url": body.url, "at_mobiles": body.at_mobiles}
    else:
        if not body.host:
            errors.append(FieldError("host", N_("Give the SMTP server's host name")))
        if not body.sender or "@" not in body.sender:
            errors.append(FieldError("sender", N_("Give the sender's email address")))
        cfg = {"host": body.host, "port": body.port, "username": body.username or "", "sender": body.sender,
               "security": body.security or "starttls"}
    if body.locale:
        cfg["locale"] = body.locale
    if errors:
        raise ValidationFailed(errors)
    return cfg


def create_channel(session: Session, actor: Actor, body: ChannelIn) -> NotificationChannel:
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    ch = NotificationChannel(enterprise_id=actor.enterprise_id, kind=body.kind, name=body.name,
                             enabled=body.enabled, config=_config_of(body), secret=body.secret or "")
    _unique_name(session, actor, body.name, None)
    session.add(ch)
    session.flush()
    return ch


def _unique_name(session: Session, actor: Actor, name: str, own_id: int | None) -> None:
    other = session.scalar(select(NotificationChannel.id).where(
        NotificationChannel.enterprise_id == actor.enterprise_id, NotificationChannel.name == name))
    if other is not None and other != own_id:
        raise ValidationFailed([FieldError("name", N_("A channel with this name exists"))])


def update_channel(session: Session, actor: Actor, item_id: int, body: ChannelIn) -> NotificationChannel:
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    ch = _get_channel(session, actor, item_id)
    _unique_name(session, actor, body.name, ch.id)
    ch.kind, ch.name, ch.enabled, ch.config = body.kind, body.name, body.enabled, _config_of(body)
    if body.secret is not None:
        ch.secret = body.secret
    session.flush()
    return ch


def delete_channel(session: Session, actor: Actor, item_id: int) -> None:
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    session.delete(_get_channel(session, actor, item_id))
    session.flush()


# -- rules -------------------------------------------------------------------------------------


def _rule_in(r: dict[str, Any]) -> RuleIn:
    a = r.get("audience") or {}
    return RuleIn(name=r.get("name") or "", event=r["event"], min_severity=r.get("min_severity"),
                  roles=a.get("roles") or [], team_leader=bool(a.get("team_leader")),
                  team_members=bool(a.get("team_members")), assignee=bool(a.get("assignee")),
                  escalation_targets=bool(a.get("escalation_targets")),
                  permit_people=bool(a.get("permit_people")), applicant=bool(a.get("applicant")),
                  user_ids=a.get("user_ids") or [], all_group_channels=bool(a.get("all_group_channels")),
                  channels=r.get("channels") or [], group_channel_ids=r.get("group_channel_ids") or [],
                  enabled=r.get("enabled", True))


def get_rules(session: Session, actor: Actor) -> RulesOut:
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    rows = list(session.scalars(select(NotificationRule).where(
        NotificationRule.enterprise_id == actor.enterprise_id).order_by(NotificationRule.id)))
    if not rows:
        return RulesOut(rules=[_rule_in(r) for r in DEFAULT_RULES], defaults=True)
    return RulesOut(rules=[_rule_in({"name": r.name, "event": r.event, "min_severity": r.min_severity,
                                     "audience": r.audience, "channels": r.channels,
                                     "group_channel_ids": r.group_channel_ids, "enabled": r.enabled})
                           for r in rows], defaults=False)


def put_rules(session: Session, actor: Actor, body: RulesIn) -> RulesOut:
    """Replace the enterprise's rules (an empty list restores the built-in defaults)."""
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    errors: list[FieldError] = []
    own_channels = set(session.scalars(select(NotificationChannel.id).where(
        NotificationChannel.enterprise_id == actor.enterprise_id)))
    roles = {r.value for r in Role}
    for i, r in enumerate(body.rules):
        ev = r.event
        if ev not in CONSUMED and not (ev.endswith(".*") and any(c.startswith(ev[:-1]) for c in CONSUMED)):
            errors.append(FieldError(f"rules.{i}.event", N_("Unknown event type")))
        for j, role in enumerate(r.roles):
            if role not in roles:
                errors.append(FieldError(f"rules.{i}.roles.{j}", N_("Unknown role")))
        for j, cid in enumerate(r.group_channel_ids):
            if cid not in own_channels:
                errors.append(FieldError(f"rules.{i}.group_channel_ids.{j}", N_("No such channel")))
    if errors:
        raise ValidationFailed(errors)
    for old in session.scalars(select(NotificationRule).where(NotificationRule.enterprise_id == actor.enterprise_id)):
        session.delete(old)
    for r in body.rules:
        audience = {"roles": r.roles, "team_leader": r.team_leader, "team_members": r.team_members,
                    "assignee": r.assignee, "escalation_targets": r.escalation_targets, "user_ids": r.user_ids,
                    "permit_people": r.permit_people, "applicant": r.applicant,
                    "all_group_channels": r.all_group_channels}
        session.add(NotificationRule(enterprise_id=actor.enterprise_id, name=r.name, event=r.event,
                                     min_severity=r.min_severity, audience=audience, channels=list(r.channels),
                                     group_channel_ids=r.group_channel_ids, enabled=r.enabled))
    session.flush()
    return get_rules(session, actor)


# -- dead letter -------------------------------------------------------------------------------


def dead_letters(session: Session, actor: Actor, *, limit: int = 50, offset: int = 0) -> tuple[list[Notification], int]:
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    q = select(Notification).where(Notification.enterprise_id == actor.enterprise_id, Notification.status == "dead")
    total = int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    return list(session.scalars(q.order_by(Notification.id.desc()).limit(limit).offset(offset))), total


def retry_dead(session: Session, actor: Actor, item_id: int, now: datetime | None = None) -> Notification:
    """Send a dead letter again: it is pending at once, with a fresh attempt budget."""
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    row = session.scalar(select(Notification).where(Notification.id == item_id, Notification.status == "dead",
                                                    Notification.enterprise_id == actor.enterprise_id))
    if row is None:
        raise NotFound(N_("Notification"), item_id)
    now = now or utcnow()
    row.status, row.attempts, row.next_attempt_at, row.dead_at = "pending", 0, now, None
    row.created_at = now  # the age limit counts from the retry
    session.flush()
    return row

