"""Scale-out of ingest over NATS JetStream: the forwarder that publishes buffered batches, and
the store workers that share them as one consumer group.

::

    ingest leader:  connectors ─► Pipeline ─► DurableBuffer ─► JetStreamForwarder ─┐
                                                                                    ▼
                                          stream PG_READINGS (subjects plantguard-readings.<enterprise id>)
                                                                                    │ one durable pull consumer
                     ┌──────────────────────────────────────────────────────────────┤ ("plantguard-store"),
                     ▼                                  ▼                           │  shared = a work queue
        plantguard ingest worker (StoreWorker)   plantguard ingest worker   ...     ▼
                     └──────────── write_batch (idempotent on point + timestamp) ──► store

With ``PLANTGUARD_BUS_URL=nats://…`` the ingest leader no longer writes to the database: it
publishes each batch it drains from its durable buffer and forgets the batch only once
JetStream has acknowledged it (so the buffer holds whatever JetStream does not yet have).
Any number of ``plantguard ingest worker`` processes bind the same durable pull consumer, so
JetStream hands each message to one of them; a worker writes it with
:func:`~plantguard.timeseries.store.write_batch` and acknowledges it only after the commit.

Exactly once, stored: delivery is at least once (a worker that dies after its commit but
before its ack has that message redelivered to another after ``ack_wait``), and the store is
idempotent on (point, timestamp), rollups included, so a redelivery stores nothing twice.
The publisher side is de-duplicated as well: the ``Nats-Msg-Id`` of a message is the SHA-256
of its bytes, so when the leader crashes after JetStream took a batch but before the buffer
forgot it, the re-publish within the stream's duplicate window (two minutes) is dropped by
JetStream itself.

Subjects: ``plantguard-readings.<enterprise id>``, not ``plantguard.readings.…``: the event
bus's stream (:mod:`plantguard.events.nats_bus`) owns ``plantguard.>`` and JetStream refuses
two streams with overlapping subjects. Readings are not events either: an event consumer
must never see a binary reading batch.

Retention is *limits* (max age, max bytes, oldest discarded): the stream keeps recent
readings after they are stored, which allows a replay into a rebuilt store; the bound on
bytes is what keeps a stopped worker fleet from filling the disk.

Configuration: the servers come from ``PLANTGUARD_BUS_URL`` (its query options belong to
the event bus and are ignored here); the rest from ``PLANTGUARD_INGEST_STREAM``,
``PLANTGUARD_INGEST_SUBJECT``, ``PLANTGUARD_INGEST_CONSUMER``,
``PLANTGUARD_INGEST_STREAM_MAX_AGE_S``, ``PLANTGUARD_INGEST_STREAM_MAX_BYTES`` and
``PLANTGUARD_INGEST_ACK_WAIT_S`` (see :class:`ReadingStreamConfig`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from sqlalchemy import Engine

from plantguard.ingest.reading import ReadingBatch
from plantguard.timeseries.store import write_batch

log = logging.getLogger("plantguard.ingest.jetstream")

MSG_ID_HEADER = "Nats-Msg-Id"
DEFAULT_STREAM = "PG_READINGS"
DEFAULT_SUBJECT = "plantguard-readings"
DEFAULT_CONSUMER = "plantguard-store"
# A batch's bytes: 16 bytes of header and 25 per reading (ReadingBatch.to_bytes).
_HEADER_BYTES = 16
_BYTES_PER_READING = 25
_ENVELOPE_SLACK = 4096  # subject, headers and protocol framing, kept under the server's max_payload


def _env(name: str, default: str, environ: Mapping[str, str]) -> str:
    return environ.get(f"PLANTGUARD_{name}", default) or default


def _valid_token(kind: str, value: str, allow_dots: bool = False) -> str:
    bad = " *>\t\r\n" + ("" if allow_dots else ".")
    if not value or any(c in value for c in bad) or value.startswith(".") or value.endswith("."):
        raise ValueError(f"invalid JetStream {kind} {value!r}")
    return value


def servers_from_url(url: str) -> list[str]:
    """``nats://a:4222,b:4222?stream=X`` → ``["nats://a:4222", "nats://b:4222"]`` (the query
    options are the event bus's)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("nats", "tls") or not parts.netloc:
        raise ValueError(f"not a NATS URL: {url!r} (expected nats://host:port)")
    return [urlunsplit((parts.scheme, netloc, "", "", "")) for netloc in parts.netloc.split(",") if netloc]


def is_nats_url(url: str) -> bool:
    return url.strip().lower().startswith(("nats://", "tls://"))


@dataclass(frozen=True)
class ReadingStreamConfig:
    """Where readings travel on JetStream. Tests give each run its own stream, subject and
    consumer so that runs never share messages."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    stream: str = DEFAULT_STREAM
    subject: str = DEFAULT_SUBJECT  # messages go to "<subject>.<enterprise id>"
    consumer: str = DEFAULT_CONSUMER  # the durable name every worker binds: the consumer group
    max_age_s: float = 7 * 86_400.0
    max_bytes: int = 10 * 1024**3
    duplicate_window_s: float = 120.0
    ack_wait_s: float = 30.0  # an unacknowledged message goes to another worker after this
    timeout_s: float = 5.0  # connecting, and waiting for a publish ack
    max_readings_per_message: int = 20_000  # also bounded by the server's max_payload

    def __post_init__(self) -> None:
        _valid_token("stream name", self.stream)
        _valid_token("subject", self.subject, allow_dots=True)
        _valid_token("consumer name", self.consumer)
        if "/" in self.consumer or "\\" in self.consumer:
            raise ValueError(f"invalid JetStream consumer name {self.consumer!r}")
        if not self.servers:
            raise ValueError("no NATS server")
        if self.max_age_s <= 0 or self.ack_wait_s <= 0 or self.timeout_s <= 0:
            raise ValueError("max_age_s, ack_wait_s and timeout_s must be positive")
        if self.max_readings_per_message < 1:
            raise ValueError("max_readings_per_message must be at least 1")

    @classmethod
    def from_env(cls, bus_url: str, environ: Mapping[str, str] | None = None) -> ReadingStreamConfig:
        env = os.environ if environ is None else environ
        return cls(
            servers=tuple(servers_from_url(bus_url)),
            stream=_env("INGEST_STREAM", DEFAULT_STREAM, env),
            subject=_env("INGEST_SUBJECT", DEFAULT_SUBJECT, env),
            consumer=_env("INGEST_CONSUMER", DEFAULT_CONSUMER, env),
            max_age_s=float(_env("INGEST_STREAM_MAX_AGE_S", str(7 * 86_400), env)),
            max_bytes=int(_env("INGEST_STREAM_MAX_BYTES", str(10 * 1024**3), env)),
            ack_wait_s=float(_env("INGEST_ACK_WAIT_S", "30", env)),
        )

    def subject_for(self, enterprise_id: int) -> str:
        return f"{self.subject}.{enterprise_id}"

    @property
    def filter(self) -> str:
        return f"{self.subject}.>"


async def connect(config: ReadingStreamConfig, name: str) -> tuple[NATS, JetStreamContext]:
    """A connection, and the stream. Once connected it reconnects on its own (forever, one
    second apart); the first connection, though, gives up after ``timeout_s`` (nats-py would
    otherwise retry it forever with ``max_reconnect_attempts=-1``), so that a caller can say
    NATS is away and try again later."""
    nc = NATS()

    async def on_error(exc: Exception) -> None:
        if nc.is_connected or nc.is_reconnecting:
            log.warning("NATS (%s): %s", name, exc)
        else:
            log.debug("NATS (%s): %s", name, exc)

    async def on_disconnected() -> None:
        if not (nc.is_closed or nc.is_draining):  # not our own close()
            log.warning("NATS (%s) disconnected; reconnecting", name)

    async def on_reconnected() -> None:
        log.info("NATS (%s) reconnected", name)

    try:
        await asyncio.wait_for(nc.connect(
            list(config.servers), name=name, allow_reconnect=True, max_reconnect_attempts=-1,
            reconnect_time_wait=1, connect_timeout=max(1, int(config.timeout_s)), error_cb=on_error,
            disconnected_cb=on_disconnected, reconnected_cb=on_reconnected,
        ), timeout=config.timeout_s + 1)
        js = nc.jetstream(timeout=config.timeout_s)
        await ensure_stream(js, config)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            await nc.close()
        if isinstance(exc, TimeoutError):
            raise ConnectionError(f"NATS at {', '.join(config.servers)} did not answer within "
                                  f"{config.timeout_s + 1:g} s") from None
        raise
    return nc, js


async def ensure_stream(js: JetStreamContext, config: ReadingStreamConfig) -> None:
    """Create the stream, or bring an existing one's limits up to date."""
    wanted = api.StreamConfig(
        name=config.stream,
        subjects=[config.filter],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        discard=api.DiscardPolicy.OLD,
        max_age=config.max_age_s,
        max_bytes=config.max_bytes,
        duplicate_window=config.duplicate_window_s,
    )
    try:
        await js.stream_info(config.stream)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("created JetStream stream %s for %s", config.stream, config.filter)
        return
    try:
        await js.update_stream(wanted)
    except NatsError:
        log.warning("could not update JetStream stream %s; using it as it is", config.stream, exc_info=True)


def message_id(data: bytes) -> str:
    """The same bytes always get the same id, so JetStream drops a re-publish of them."""
    return hashlib.sha256(data).hexdigest()


def split(batch: ReadingBatch, size: int) -> list[ReadingBatch]:
    """``batch`` in pieces of at most ``size`` readings (itself when it fits)."""
    n = len(batch)
    if n <= size:
        return [batch]
    out = []
    for i in range(0, n, size):
        part = ReadingBatch(batch.enterprise_id)
        part.point_id = batch.point_id[i: i + size]
        part.ts = batch.ts[i: i + size]
        part.value = batch.value[i: i + size]
        part.quality = batch.quality[i: i + size]
        out.append(part)
    return out


class JetStreamForwarder:
    """A :class:`~plantguard.ingest.pipeline.Forwarder` that hands batches to JetStream.

    ``forward`` returns only once JetStream has acknowledged every piece of the batch (stored
    in the stream's file storage); any failure raises, and the pipeline keeps the batch in its
    durable buffer and tries again. It connects lazily, so an ingest process starts (and
    buffers) while NATS is down."""

    def __init__(self, config: ReadingStreamConfig) -> None:
        self.config = config
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self.published = 0  # messages JetStream acknowledged
        self.duplicates = 0  # of which it recognised as already stored (a re-publish)

    async def _jetstream(self) -> tuple[NATS, JetStreamContext]:
        async with self._lock:
            if self._nc is None or self._nc.is_closed or self._js is None:
                self._nc, self._js = await connect(self.config, "plantguard-ingest")
            return self._nc, self._js

    def _piece_size(self, nc: NATS) -> int:
        room = (nc.max_payload or 1024 * 1024) - _HEADER_BYTES - _ENVELOPE_SLACK
        return max(1, min(self.config.max_readings_per_message, room // _BYTES_PER_READING))

    async def forward(self, batch: ReadingBatch) -> None:
        if len(batch) == 0:
            return
        nc, js = await self._jetstream()
        if not nc.is_connected:
            raise ConnectionError("NATS is not connected")
        subject = self.config.subject_for(batch.enterprise_id)
        pieces = split(batch, self._piece_size(nc))
        # The pieces are independent (the store does not care about their order), so they
        # are published together and their acks awaited together.
        acks = await asyncio.gather(*(self._publish(js, subject, p.to_bytes()) for p in pieces))
        self.published += len(acks)
        self.duplicates += sum(1 for a in acks if a.duplicate)

    async def _publish(self, js: JetStreamContext, subject: str, data: bytes) -> api.PubAck:
        return await js.publish(subject, data, timeout=self.config.timeout_s, stream=self.config.stream,
                                headers={MSG_ID_HEADER: message_id(data)})

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.drain()
            except Exception:
                with contextlib.suppress(Exception):
                    await nc.close()


@dataclass
class WorkerStats:
    messages: int = 0  # acknowledged after their commit
    readings: int = 0  # in those messages
    new: int = 0  # readings that were not in the store yet
    redelivered: int = 0  # messages that had been delivered before (to this or another worker)
    failed: int = 0  # write attempts that failed (messages handed back with a delay)
    undecodable: int = 0  # terminated: not a reading batch
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        return (f"messages={self.messages} readings={self.readings} new={self.new} "
                f"redelivered={self.redelivered} failed={self.failed} undecodable={self.undecodable}")


def store_messages(engine: Engine, batches: Sequence[ReadingBatch]) -> int:
    """Write ``batches`` in one transaction (merged per enterprise); returns readings that were new."""
    merged: dict[int, ReadingBatch] = {}
    for b in batches:
        m = merged.get(b.enterprise_id)
        if m is None:
            m = merged[b.enterprise_id] = ReadingBatch(b.enterprise_id)
        m.extend(b)
    new = 0
    with engine.begin() as conn:
        for b in merged.values():
            new += write_batch(conn, b)
    return new


class StoreWorker:
    """One member of the consumer group: fetch, write, acknowledge after the commit.

    Messages are fetched a few at a time (the first with a long poll, so an idle worker answers
    in one round trip, then whatever else is waiting) and written in one transaction in a
    thread, off the event loop. When the write fails (the database is away) every message of
    the round is handed back with a growing delay (``nak``), so that JetStream offers them
    again, possibly to another worker, and this worker backs off."""

    def __init__(self, engine: Engine, config: ReadingStreamConfig, *, name: str = "",
                 fetch_messages: int = 4, poll_s: float = 1.0, status_every_s: float = 2.0,
                 max_retry_delay_s: float = 10.0) -> None:
        self.engine = engine
        self.config = config
        self.name = name or f"worker-{os.getpid()}"
        self.fetch_messages = max(1, fetch_messages)
        self.poll_s = poll_s
        self.status_every_s = status_every_s
        self.max_retry_delay_s = max_retry_delay_s
        self.stats = WorkerStats()
        self.ready = asyncio.Event()  # set once bound to the consumer
        self._nc: NATS | None = None
        self._psub: JetStreamContext.PullSubscription | None = None

    async def _bind(self) -> JetStreamContext.PullSubscription:
        nc, js = await connect(self.config, f"plantguard-store-{self.name}")
        self._nc = nc
        consumer = api.ConsumerConfig(
            name=self.config.consumer,
            durable_name=self.config.consumer,
            filter_subject=self.config.filter,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.config.ack_wait_s,
            max_deliver=-1,
            max_ack_pending=1000,
        )
        try:
            await js.add_consumer(self.config.stream, consumer)  # creates it, or updates it to this config
        except NatsError:
            log.warning("could not create/update consumer %s on %s; binding to it as it is",
                        self.config.consumer, self.config.stream, exc_info=True)
        return await js.pull_subscribe_bind(durable=self.config.consumer, stream=self.config.stream)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                self._psub = await self._bind()
                break
            except Exception as exc:  # NATS is not there yet
                log.warning("store worker %s: cannot reach JetStream (%s); retrying", self.name, exc)
                await self._close_nc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 10.0)
        if self._psub is None:
            return
        log.info("store worker %s ready: stream %s, consumer %s", self.name, self.config.stream, self.config.consumer)
        self.ready.set()
        last_status = time.monotonic()
        reported = ""
        failures = 0
        try:
            while not stop.is_set():
                msgs = await self._fetch(self._psub)
                if msgs:
                    ok = await self._handle(msgs, failures)
                    failures = 0 if ok else failures + 1
                    if not ok:
                        delay = min(0.5 * 2 ** (failures - 1), self.max_retry_delay_s)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), timeout=delay)
                if time.monotonic() - last_status >= self.status_every_s:
                    last_status = time.monotonic()
                    line = self.stats.line()
                    if line != reported:
                        reported = line
                        log.info("store worker %s: %s", self.name, line)
        finally:
            log.info("store worker %s totals: %s", self.name, self.stats.line())
            with contextlib.suppress(Exception):
                await self._psub.unsubscribe()
            await self._close_nc()

    async def _fetch(self, psub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            msgs = await psub.fetch(1, timeout=self.poll_s)  # returns on the first message
        except TimeoutError:
            return []
        except Exception as exc:  # NATS is reconnecting; the messages stay in the stream
            log.warning("store worker %s: fetch failed (%s); retrying", self.name, exc)
            await asyncio.sleep(self.poll_s)
            return []
        if self.fetch_messages > 1:
            with contextlib.suppress(Exception):  # whatever else is waiting right now
                msgs += await psub.fetch(self.fetch_messages - 1, timeout=0.05)
        return msgs

    async def _handle(self, msgs: list[Msg], failures: int) -> bool:
        batches: list[ReadingBatch] = []
        good: list[Msg] = []
        for m in msgs:
            try:
                batches.append(ReadingBatch.from_bytes(m.data))
                good.append(m)
            except (ValueError, IndexError) as exc:
                log.error("store worker %s: terminating a message on %s that is not a reading batch: %s",
                          self.name, m.subject, exc)
                self.stats.undecodable += 1
                await _settle(m.term())
        if not good:
            return True
        try:
            new = await asyncio.to_thread(store_messages, self.engine, batches)
        except Exception as exc:  # the store is away: hand the messages back, later
            self.stats.failed += 1
            delay = min(0.5 * 2 ** failures, self.max_retry_delay_s)
            if failures == 0:
                log.warning("store worker %s: cannot store %d readings (%s); retrying in %.1f s", self.name,
                            sum(len(b) for b in batches), str(exc).splitlines()[0][:300], delay)
            for m in good:
                await _settle(m.nak(delay=delay))
            return False
        for m in good:
            await _settle(m.ack())
            if _deliveries(m) > 1:
                self.stats.redelivered += 1
        self.stats.messages += len(good)
        self.stats.readings += sum(len(b) for b in batches)
        self.stats.new += new
        return True

    async def _close_nc(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.drain()
            except Exception:
                with contextlib.suppress(Exception):
                    await nc.close()


def _deliveries(m: Msg) -> int:
    try:
        return int(m.metadata.num_delivered)
    except Exception:
        return 1


async def _settle(action: Any) -> None:
    try:
        await action
    except Exception:  # the ack is lost: the message comes back after ack_wait, harmlessly
        log.debug("could not ack/nak a message; it will be redelivered", exc_info=True)
