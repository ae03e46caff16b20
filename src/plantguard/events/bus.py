"""The event bus contract, and choosing a backend from configuration.

Two backends implement :class:`Bus`:

* ``inprocess://`` (the default, :mod:`plantguard.events.inprocess`): asyncio queues inside
  the web process. Nothing is retained across a restart; the outbox is what survives one.
* ``nats://host:port`` (:mod:`plantguard.events.nats_bus`): NATS JetStream, a durable
  stream with durable consumers, for several processes and for restarts.

Both are picked by ``PLANTGUARD_BUS_URL`` through :func:`make_bus`, and both pass the same
contract suite (``tests/events/test_bus_contract.py``). The contract:

* :meth:`Bus.publish` returns once the backend has accepted the envelope (for NATS, after the
  JetStream ack); the outbox relay marks a row published only then.
* Every *durable name* receives every event published on subjects matching its filter
  (fan-out across durable names). Several subscriptions under one durable name share its
  events (work sharing), as JetStream pull consumers do.
* A handler returning normally acknowledges the event. A handler raising makes the event
  come back later, after a short, growing delay; other events keep flowing meanwhile, so
  order is not guaranteed once a handler fails. Delivery is at least once: consumers
  de-duplicate on the event id (see :func:`plantguard.events.consumer.idempotent`).

Subjects are ``plantguard.<event type>`` (:attr:`Envelope.subject`); filters use NATS
wildcards (``*`` one token, ``>`` the rest), e.g. ``plantguard.entity.>``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from plantguard.events.envelope import Envelope

Handler = Callable[[Envelope], Awaitable[None]]

ROOT_SUBJECT = "plantguard"
ALL_SUBJECTS = f"{ROOT_SUBJECT}.>"
DEFAULT_STREAM = "PLANTGUARD"
DEFAULT_BUS_URL = "inprocess://"


@runtime_checkable
class Subscription(Protocol):
    async def stop(self) -> None:
        """Stop receiving. The durable itself stays: a later ``subscribe`` under the same
        name resumes where this one stopped (within the limits of the backend)."""


@runtime_checkable
class Bus(Protocol):
    async def start(self) -> None:
        """Connect / prepare the backend (idempotent)."""

    async def close(self) -> None:
        """Stop every subscription and release the backend (idempotent)."""

    async def publish(self, env: Envelope) -> None:
        """Hand ``env`` to the backend; returns once it has been accepted durably."""

    async def subscribe(
        self, durable: str, handler: Handler, *, subjects: str = ALL_SUBJECTS
    ) -> Subscription:
        """Deliver every event matching ``subjects`` to ``handler`` under ``durable``."""

    async def ping(self) -> bool:
        """Whether the backend is usable right now (for ``/healthz``)."""


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` matches one token, a final ``>`` one or more."""
    pat = pattern.split(".")
    sub = subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return i == len(pat) - 1 and len(sub) > i
        if i >= len(sub):
            return False
        if token != "*" and token != sub[i]:
            return False
    return len(pat) == len(sub)


def validate_filter(subjects: str) -> None:
    """Filters are written in the ``plantguard.`` namespace whatever the backend."""
    tokens = subjects.split(".")
    if tokens[0] != ROOT_SUBJECT or len(tokens) < 2 or any(not t for t in tokens):
        raise ValueError(
            f"subject filter must look like '{ROOT_SUBJECT}.<type or wildcard>', got {subjects!r}"
        )
    if ">" in tokens[:-1]:
        raise ValueError(f"'>' may only be the last token of a subject filter, got {subjects!r}")


def validate_durable(durable: str) -> None:
    if not durable or any(c in durable for c in " .*>\t\r\n/\\"):
        raise ValueError(f"invalid durable name {durable!r}: use letters, digits, '-' and '_'")


def _query_options(query: str, allowed: dict[str, type[str] | type[float]], scheme: str) -> dict[str, str]:
    """The URL's query as strings, after checking names and that values parse."""
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        kind = allowed.get(key)
        if kind is None:
            names = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"unknown option {key!r} in {scheme}:// bus URL (supported: {names})")
        try:
            kind(value)
        except ValueError as exc:
            raise ValueError(f"bad value for {key!r} in {scheme}:// bus URL: {value!r}") from exc
        options[key] = value
    return options


def make_bus(url: str = DEFAULT_BUS_URL) -> Bus:
    """The bus named by ``url`` (``PLANTGUARD_BUS_URL``), not yet started.

    * ``inprocess://`` — optional ``?retry_delay=SECONDS``.
    * ``nats://host:port`` (or ``tls://``, several servers comma-separated, credentials in the
      URL as nats-py accepts them) — optional query ``stream`` (default ``PLANTGUARD``),
      ``prefix`` (subject prefix replacing ``plantguard``, default ``plantguard``),
      ``retry_delay``, ``ack_wait``, ``poll`` (seconds) and ``max_age`` (seconds of
      retention, default 7 days).
    """
    url = (url or DEFAULT_BUS_URL).strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "inprocess":
        from plantguard.events.inprocess import InProcessBus

        opts = _query_options(parts.query, {"retry_delay": float}, scheme)
        return InProcessBus(retry_delay=float(opts.get("retry_delay", 0.5)))
    if scheme in ("nats", "tls"):
        from plantguard.events.nats_bus import NatsBus

        if not parts.netloc:
            raise ValueError("NATS bus URL needs a host, e.g. nats://127.0.0.1:4222")
        opts = _query_options(
            parts.query,
            {"stream": str, "prefix": str, "retry_delay": float, "ack_wait": float, "poll": float,
             "max_age": float},
            scheme,
        )
        servers = [
            urlunsplit((parts.scheme, netloc, "", "", "")) for netloc in parts.netloc.split(",") if netloc
        ]
        return NatsBus(
            servers,
            stream=opts.get("stream", DEFAULT_STREAM),
            prefix=opts.get("prefix", ROOT_SUBJECT),
            retry_delay=float(opts.get("retry_delay", 0.5)),
            ack_wait=float(opts.get("ack_wait", 30.0)),
            poll=float(opts.get("poll", 1.0)),
            max_age=float(opts.get("max_age", 7 * 24 * 3600.0)),
        )
    shown = scheme or "(none)"
    raise ValueError(
        f"unsupported event bus URL scheme {shown!r} (PLANTGUARD_BUS_URL): "
        "expected 'inprocess://' or 'nats://host:port[?stream=NAME]'"
    )
