""""Send test message" for a configured channel, through the ordinary delivery path.

Why a queued row and not a direct send from the web request: the test then exercises exactly
what real messages go through (the dispatcher, its retries, the dead letter, the secret
handling), never blocks a page on a slow robot, and its outcome is visible afterwards on the
channel list (sent, waiting, or the error). The row's ``event_type`` is ``channel.test``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_, gettext
from plantguard.core.permissions import Actor, Perm
from plantguard.notifications.models import Notification, NotificationChannel
from plantguard.tenancy.models import Person, User

TEST_EVENT = "channel.test"
TEST_TITLE = N_("PlantGuard test message")
TEST_BODY = N_("Sent from the channel settings by %(name)s. If you can read this, the channel \"%(channel)s\" works.")


def queue_test(session: Session, actor: Actor, channel_id: int, now: datetime | None = None) -> Notification:
    """A pending message on the channel, for the dispatcher's next pass. Email goes to the
    caller's own address (their person record); a robot posts to its group."""
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    ch = session.scalar(select(NotificationChannel).where(NotificationChannel.id == channel_id,
                                                          NotificationChannel.enterprise_id == actor.enterprise_id))
    if ch is None:
        raise NotFound(N_("Notification channel"), channel_id)
    user = session.execute(select(User.locale, Person.email).outerjoin(
        Person, (Person.id == User.person_id) & (Person.enterprise_id == actor.enterprise_id))
        .where(User.id == actor.user_id, User.enterprise_id == actor.enterprise_id)).first()
    locale, email = (user[0], user[1]) if user else ("zh_CN", None)
    if ch.kind == "email" and not email:
        raise ValidationFailed([FieldError("email", N_("Your account has no email address to send the test to"))])
    if not ch.enabled:
        raise ValidationFailed([FieldError("enabled", N_("The channel is switched off: switch it on to test it"))])
    if ch.kind != "email":
        locale = str((ch.config or {}).get("locale") or "zh_CN")
    now = now or utcnow()
    row = Notification(enterprise_id=actor.enterprise_id, event_type=TEST_EVENT, channel_kind=ch.kind,
                       channel_id=ch.id, user_id=actor.user_id if ch.kind == "email" else None,
                       address=(email or "") if ch.kind == "email" else "", locale=locale,
                       title=gettext(TEST_TITLE, locale),
                       body=gettext(TEST_BODY, locale, name=actor.display_name or actor.username, channel=ch.name),
                       link="/notifications/channels", level="", status="pending", created_at=now,
                       next_attempt_at=now)
    session.add(row)
    session.flush()
    return row


def last_tests(session: Session, actor: Actor) -> dict[int, Notification]:
    """The latest test message of each channel of the caller's enterprise."""
    actor.require(Perm.MANAGE_NOTIFICATIONS)
    latest = (select(func.max(Notification.id)).where(Notification.enterprise_id == actor.enterprise_id,
                                                      Notification.event_type == TEST_EVENT)
              .group_by(Notification.channel_id))
    rows = session.scalars(select(Notification).where(Notification.id.in_(latest)))
    return {int(r.channel_id): r for r in rows if r.channel_id is not None}
