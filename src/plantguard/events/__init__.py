"""Typed events with a Context, a transactional outbox, and interchangeable bus backends."""

from plantguard.events.envelope import Context, EntityChanged, Envelope, Event, event_type

__all__ = ["Context", "EntityChanged", "Envelope", "Event", "event_type"]
