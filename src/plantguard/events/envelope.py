"""Event payloads and the envelope they travel in.

A payload is a pydantic model registered under a dotted type name. The envelope adds the
event id (consumers de-duplicate on it), the tenant, the time, and a Context: ``id`` names
the action that caused the event, ``parent_id`` the action that caused *that*, ``user_id``
who started it. An alarm, the work order it opened and the notification sent can so be read
as one chain (the idea is Home Assistant's ``Context``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from plantguard.core.db import utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class Context(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    parent_id: str | None = None
    user_id: int | None = None

    def child(self, user_id: int | None = None) -> Context:
        """A new context caused by this one (a consumer reacting to an event)."""
        return Context(parent_id=self.id, user_id=user_id if user_id is not None else self.user_id)


class Event(BaseModel):
    """Base class of typed payloads; subclasses set ``event_type`` via :func:`event_type`."""

    event_type: ClassVar[str] = ""


_REGISTRY: dict[str, type[Event]] = {}
E = TypeVar("E", bound=type[Event])


def event_type(name: str) -> Any:
    def register(cls: E) -> E:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"event type {name!r} registered twice")
        cls.event_type = name
        _REGISTRY[name] = cls
        return cls

    return register


def registered_types() -> dict[str, type[Event]]:
    return dict(_REGISTRY)


class Envelope(BaseModel):
    id: str = Field(default_factory=new_id)
    type: str
    enterprise_id: int | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
    context: Context = Field(default_factory=Context)
    payload: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def wrap(cls, event: Event, *, context: Context, enterprise_id: int | None) -> Envelope:
        if not event.event_type:
            raise ValueError(f"{type(event).__name__} has no registered event type")
        return cls(
            type=event.event_type,
            enterprise_id=enterprise_id,
            context=context,
            payload=event.model_dump(mode="json"),
        )

    @property
    def subject(self) -> str:
        return f"plantguard.{self.type}"

    def decode(self) -> Event:
        """The typed payload; unknown types stay readable as a plain :class:`Event`."""
        cls = _REGISTRY.get(self.type)
        if cls is None:
            raise KeyError(f"unknown event type {self.type!r}")
        return cls.model_validate(self.payload)


@event_type("entity.changed")
class EntityChanged(Event):
    """Emitted for every audited create/update/delete, in the same transaction."""

    entity_type: str
    entity_id: int
    action: str
    changed: list[str] = Field(default_factory=list)
    audit_seq: int | None = None
