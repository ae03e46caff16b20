"""The NATS JetStream bus.

* :meth:`NatsBus.start` connects (nats-py reconnects on its own: unlimited attempts, one
  second apart; connection events are logged) and creates the stream, or updates it when it
  exists, with subjects ``<prefix>.>`` (``prefix`` defaults to ``plantguard``; tests use a
  unique one so that their streams do not overlap).
* :meth:`NatsBus.publish` waits for the JetStream ack and sets ``Nats-Msg-Id`` to the envelope
  id, so a relay that publishes a row again (it crashed before marking it) is de-duplicated by
  the stream within its duplicate window (two minutes): a second line of defence behind the
  consumers' own de-duplication.
* Consumers are durable **pull** consumers with explicit ack. Pull rather than push because
  the subscriber asks for work only when it has finished the previous batch (flow control
  comes for free, no slow-consumer drops, no deliver subject, heartbeats or flow-control
  replies to manage), and several processes binding the same durable name share its work,
  which is how a consumer scales out. Messages are fetched one at a time (a long poll of
  ``poll`` seconds): the latency of an idle consumer is one round trip, and a few thousand
  events a second is far above what the platform produces. Handler success → ``ack``; handler error → ``nak``
  with a delay that grows with the delivery count; an undecodable message → ``term``.
  A message whose ack is lost comes back after ``ack_wait`` (30 s) — the consumer's
  de-duplication makes that harmless; handlers should finish well within ``ack_wait``.
* New durables start with the oldest event still in the stream (``DeliverPolicy.ALL``), so a
  consumer deployed after events were published still sees those the stream retains
  (``max_age``, seven days by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from plantguard.events.bus import (
    ALL_SUBJECTS,
    DEFAULT_STREAM,
    ROOT_SUBJECT,
    Handler,
    validate_durable,
    validate_filter,
)
from plantguard.events.envelope import Envelope

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


class NatsSubscription:
    """One pull loop bound to a durable consumer."""

    def __init__(
        self, bus: NatsBus, durable: str, handler: Handler, psub: JetStreamContext.PullSubscription
    ) -> None:
        self._bus = bus
        self._durable = durable
        self._handler = handler
        self._psub = psub
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"plantguard-nats-{durable}")

    @property
    def durable(self) -> str:
        return self._durable

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                # One at a time: nats-py's fetch(n) waits out the whole poll for a batch of
                # n once it is lingering, while fetch(1) returns on the first message.
                msgs = await self._psub.fetch(1, timeout=self._bus.poll)
            except TimeoutError:
                continue
            except Exception:
                if self._stopping.is_set():
                    break
                log.warning("fetch for consumer %s failed; retrying", self._durable, exc_info=True)
                await self._sleep(self._bus.poll)
                continue
            for i, msg in enumerate(msgs):
                if self._stopping.is_set():
                    # Hand the rest back at once rather than after ack_wait.
                    for rest in msgs[i:]:
                        await self._settle(rest.nak())
                    break
                await self._deliver(msg)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _settle(self, action: Awaitable[None]) -> None:
        try:
            await action
        except Exception:
            log.warning("could not ack/nak a message of consumer %s; it will come back after ack_wait",
                        self._durable, exc_info=True)

    async def _deliver(self, msg: Msg) -> None:
        try:
            env = Envelope.model_validate_json(msg.data)
        except ValidationError:
            log.error("consumer %s: dropping undecodable message on %s", self._durable, msg.subject,
                      exc_info=True)
            await self._settle(msg.term())
            return
        try:
            await self._handler(env)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await msg.nak()
            raise
        except Exception:
            delivered = self._delivery_count(msg)
            delay = self._bus.retry_delay_for(delivered)
            log.warning("event %s failed in consumer %s (delivery %d); retrying in %.1fs",
                        env.id, self._durable, delivered, delay, exc_info=True)
            await self._settle(msg.nak(delay=delay))
            return
        await self._settle(msg.ack())

    @staticmethod
    def _delivery_count(msg: Msg) -> int:
        try:
            return int(msg.metadata.num_delivered)
        except Exception:
            return 1

    async def stop(self) -> None:
        """Let the current fetch and handler finish (at most ``poll`` seconds plus the
        handler), so that no pull request is left on the server, then unsubscribe. The
        durable consumer stays: a later subscribe resumes after the last acked event."""
        if not self._task.done():
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._bus.poll + self._bus.ack_wait)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            except Exception:
                log.warning("subscription %s ended with an error", self._durable, exc_info=True)
        with contextlib.suppress(Exception):
            await self._psub.unsubscribe()
        self._bus.forget_subscription(self)


class NatsBus:
    """See the module docstring; build through :func:`plantguard.events.bus.make_bus`."""

    def __init__(
        self,
        servers: str | list[str] = "nats://127.0.0.1:4222",
        *,
        stream: str = DEFAULT_STREAM,
        prefix: str = ROOT_SUBJECT,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        ack_wait: float = 30.0,
        poll: float = 1.0,
        max_age: float = 7 * 24 * 3600.0,
        timeout: float = 5.0,
    ) -> None:
        if not stream or any(c in stream for c in " .*>"):
            raise ValueError(f"invalid JetStream stream name {stream!r}")
        if not prefix or any(c in prefix for c in " *>") or prefix.startswith(".") or prefix.endswith("."):
            raise ValueError(f"invalid subject prefix {prefix!r}")
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.stream = stream
        self.prefix = prefix
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.ack_wait = ack_wait
        self.poll = poll
        self.max_age = max_age
        self.timeout = timeout
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: set[NatsSubscription] = set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            return
        self._nc = await nats.connect(
            self.servers,
            name="plantguard",
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=int(max(self.timeout, 1)),
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._js = self._nc.jetstream(timeout=self.timeout)
        await self._ensure_stream()

    async def _ensure_stream(self) -> None:
        js = self.jetstream
        config = api.StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_age=self.max_age,
            duplicate_window=120.0,
        )
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(config)
            log.info("created JetStream stream %s for %s.>", self.stream, self.prefix)
            return
        try:
            await js.update_stream(config)
        except NatsError:
            log.warning("could not update JetStream stream %s; using it as it is", self.stream, exc_info=True)

    async def close(self) -> None:
        for sub in list(self._subscriptions):
            await sub.stop()
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.drain()
            except Exception:
                with contextlib.suppress(Exception):
                    await nc.close()

    @property
    def jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NATS bus is not started")
        return self._js

    # -- contract ----------------------------------------------------------------------

    def physical_subject(self, subject: str) -> str:
        """``plantguard.x.y`` → ``<prefix>.x.y`` (identity with the default prefix)."""
        return self.prefix + subject[len(ROOT_SUBJECT):]

    async def publish(self, env: Envelope) -> None:
        ack = await self.jetstream.publish(
            self.physical_subject(env.subject),
            env.model_dump_json().encode(),
            timeout=self.timeout,
            stream=self.stream,
            headers={MSG_ID_HEADER: env.id},
        )
        if ack.duplicate:
            log.debug("event %s was already in stream %s (de-duplicated)", env.id, self.stream)

    async def subscribe(
        self, durable: str, handler: Handler, *, subjects: str = ALL_SUBJECTS
    ) -> NatsSubscription:
        validate_durable(durable)
        validate_filter(subjects)
        js = self.jetstream
        config = api.ConsumerConfig(
            name=durable,
            durable_name=durable,
            filter_subject=self.physical_subject(subjects),
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            max_ack_pending=1000,
        )
        try:
            # Creates the durable, or updates it (e.g. a new filter) when it exists.
            await js.add_consumer(self.stream, config)
        except NatsError:
            log.warning("could not create/update consumer %s on %s; binding to it as it is",
                        durable, self.stream, exc_info=True)
        psub = await js.pull_subscribe_bind(durable=durable, stream=self.stream)
        sub = NatsSubscription(self, durable, handler, psub)
        self._subscriptions.add(sub)
        return sub

    async def ping(self) -> bool:
        nc = self._nc
        if nc is None or not nc.is_connected or self._js is None:
            return False
        try:
            await asyncio.wait_for(self._js.stream_info(self.stream), timeout=2.0)
        except Exception:
            return False
        return True

    # -- helpers -----------------------------------------------------------------------

    def retry_delay_for(self, deliveries: int) -> float:
        return float(min(self.retry_delay * 2 ** max(deliveries - 1, 0), self.max_retry_delay))

    def forget_subscription(self, sub: NatsSubscription) -> None:
        self._subscriptions.discard(sub)

    @staticmethod
    async def _on_error(exc: Exception) -> None:
        log.warning("NATS error: %s", exc)

    @staticmethod
    async def _on_disconnected() -> None:
        log.warning("NATS disconnected; reconnecting")

    @staticmethod
    async def _on_reconnected() -> None:
        log.info("NATS reconnected")
