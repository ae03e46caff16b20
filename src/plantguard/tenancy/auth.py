"""Sign-in, sessions and bearer tokens.

Tokens are random and opaque; only their SHA-256 is stored, so a leaked database does not
hand out sessions, and signing out or disabling a user takes effect at once. Repeated
failures lock the account with a growing back-off (30 s doubling up to 15 min), answered
with 429 and ``Retry-After`` even for the right password while the lock lasts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, NotAuthenticated, TooManyAttempts, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm, Role
from plantguard.core.security import hash_password, new_token, token_digest, verify_password
from plantguard.tenancy.models import AuthSession, Enterprise, Person, User

FREE_ATTEMPTS = 5
BASE_LOCK_S = 30
MAX_LOCK_S = 15 * 60


@dataclass(frozen=True)
class Issued:
    token: str
    csrf_token: str
    expires_at: datetime
    actor: Actor


def lock_seconds(failures: int) -> int:
    """Lock length after ``failures`` consecutive failures (0 while under the free allowance)."""
    if failures < FREE_ATTEMPTS:
        return 0
    return int(min(MAX_LOCK_S, BASE_LOCK_S * 2 ** (failures - FREE_ATTEMPTS)))


def actor_for(user: User) -> Actor:
    return Actor(
        user_id=user.id, enterprise_id=user.enterprise_id, role=Role(user.role),
        username=user.username, display_name=user.display_name or user.username,
    )


def authenticate(session: Session, username: str, password: str, *, now: datetime | None = None) -> User:
    """Check a password; raises NotAuthenticated or TooManyAttempts. Commits the counters."""
    now = now or utcnow()
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    if user is None:
        verify_password(None, password)  # same cost as a real check
        raise NotAuthenticated()
    if user.locked_until and user.locked_until > now:
        raise TooManyAttempts(max(1, int((user.locked_until - now).total_seconds() + 0.999)))
    ok = user.active and verify_password(user.password_hash, password)
    if not ok:
        user.failed_logins += 1
        wait = lock_seconds(user.failed_logins)
        user.locked_until = now + timedelta(seconds=wait) if wait else None
        session.commit()
        if wait:
            raise TooManyAttempts(wait)
        raise NotAuthenticated()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def issue(session: Session, user: User, kind: str, ttl: timedelta) -> Issued:
    token = new_token()
    csrf = secrets.token_urlsafe(24)
    now = utcnow()
    session.add(AuthSession(
        enterprise_id=user.enterprise_id, user_id=user.id, token_hash=token_digest(token), kind=kind,
        csrf_token=csrf, created_at=now, expires_at=now + ttl,
    ))
    session.query(AuthSession).filter(AuthSession.user_id == user.id, AuthSession.expires_at < now).delete()
    return Issued(token, csrf, now + ttl, actor_for(user))


@dataclass(frozen=True)
class Resolved:
    actor: Actor
    kind: str
    csrf_token: str
    locale: str


def resolve(session: Session, token: str, kinds: tuple[str, ...]) -> Resolved | None:
    row = session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == token_digest(token), AuthSession.kind.in_(kinds))
    ).first()
    if row is None:
        return None
    sess, user = row
    if sess.expires_at < utcnow() or not user.active:
        return None
    return Resolved(actor_for(user), sess.kind, sess.csrf_token, user.locale)


def revoke(session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_hash == token_digest(token)))


def create_user(
    session: Session, *, enterprise_id: int, username: str, password: str, role: Role,
    display_name: str = "", person_id: int | None = None, actor: Actor | None = None,
) -> User:
    """Create an account. ``actor`` None means the CLI (an operator on the server)."""
    if actor is not None:
        actor.require(Perm.MANAGE_USERS)
        if actor.enterprise_id != enterprise_id:
            raise ValidationFailed([FieldError("enterprise_id", "Not your enterprise")])
    if session.get(Enterprise, enterprise_id) is None:
        raise ValidationFailed([FieldError("enterprise", "No such enterprise")])
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise ValidationFailed([FieldError("username", "%(value)s is already in use", {"value": username})])
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None or person.enterprise_id != enterprise_id:
            raise ValidationFailed([FieldError("person_id", "No such %(entity)s", {"entity": N_("person")})])
    if actor is None:
        bind_actor(session, None)
    user = User(
        enterprise_id=enterprise_id, username=username, password_hash=hash_password(password),
        role=role.value, display_name=display_name, person_id=person_id,
    )
    session.add(user)
    session.flush()
    return user


def set_locale(session: Session, actor: Actor, locale: str) -> None:
    user = session.get(User, actor.user_id)
    if user is not None and user.locale != locale:
        user.locale = locale
