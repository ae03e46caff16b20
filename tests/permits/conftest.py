"""Permit test world: two tenants (``tests.factories.make_tenant``), actors by role, and a helper
that runs one service call in its own committed transaction (as a request would)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from plantguard.audit.ledger import bind_actor
from plantguard.core.permissions import Actor, Role
from plantguard.events.models import OutboxMessage
from plantguard.permits.models import Permit, PermitEvent
from plantguard.tenancy.models import User
from tests.conftest import Db
from tests.factories import Tenant, make_tenant


@dataclass
class World:
    db: Db
    t: Tenant
    t2: Tenant
    actors: dict[str, Actor]
    other: Actor  # safety manager of the second enterprise

    def actor(self, role: str) -> Actor:
        return self.actors[role]

    def do(self, actor: Actor, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """``fn(session, actor, *args, **kw)`` committed; returns the result's id when it has one."""
        with self.db.factory() as s:
            bind_actor(s, actor)
            out = fn(s, actor, *args, **kw)
            s.commit()
            return getattr(out, "id", out)

    def run(self, fn: Callable[..., Any], *args: Any, actor: Actor | None = None, **kw: Any) -> Any:
        """``fn(session, *args, **kw)`` committed (factories, system calls)."""
        with self.db.factory() as s:
            bind_actor(s, actor)
            out = fn(s, *args, **kw)
            s.commit()
            return getattr(out, "id", out)

    def permit(self, pid: int) -> Permit:
        with self.db.factory() as s:
            p = s.get(Permit, pid)
            assert p is not None
            s.expunge(p)
            return p

    def footprint(self, pid: int | None = None) -> tuple[Any, ...]:
        """Rows that a refused call must leave unchanged: permit row, history, outbox."""
        with self.db.factory() as s:
            row = None
            if pid is not None:
                p = s.get(Permit, pid)
                assert p is not None
                row = {c.name: getattr(p, c.name) for c in Permit.__table__.columns if c.name != "updated_at"}
            n_permits = s.scalar(select(func.count()).select_from(Permit))
            n_events = s.scalar(select(func.count()).select_from(PermitEvent))
            n_out = s.scalar(select(func.count()).select_from(OutboxMessage))
            return row, n_permits, n_events, n_out


@pytest.fixture
def world(db: Db) -> World:
    t = make_tenant(db.factory, "E1")
    t2 = make_tenant(db.factory, "E2")
    with db.factory() as s:
        users = {u.role: u for u in s.scalars(select(User).where(User.enterprise_id == t.enterprise_id))}
        actors = {r: Actor(u.id, t.enterprise_id, Role(r), u.username, u.display_name) for r, u in users.items()}
        u2 = s.scalars(select(User).where(User.enterprise_id == t2.enterprise_id,
                                          User.role == Role.SAFETY_MANAGER.value)).one()
        other = Actor(u2.id, t2.enterprise_id, Role.SAFETY_MANAGER, u2.username, u2.display_name)
    return World(db, t, t2, actors, other)


def render(message: str, params: dict[str, Any], locale: str) -> str:
    """A refusal as the API shows it in ``locale`` (parameters that are message ids translated)."""
    from plantguard.core.i18n import gettext

    tr = {k: gettext(v, locale) if isinstance(v, str) else v for k, v in params.items()}
    return gettext(message, locale) % tr if tr else gettext(message, locale)


def shown(errors: list[Any], locale: str) -> list[str]:
    """FieldErrors rendered in ``locale``."""
    return [render(e.message, e.params, locale) for e in errors]
