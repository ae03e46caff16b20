"""The Bus contract, run against every backend.

The NATS runs get a stream and a subject prefix of their own (deleted afterwards), so tests
never see each other's messages.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest

from plantguard.events.bus import Bus, make_bus, subject_matches, validate_filter
from plantguard.events.envelope import Context, Envelope
from plantguard.events.inprocess import InProcessBus
from plantguard.events.nats_bus import NatsBus
from tests.services import NATS_URL, require_nats

BACKENDS = ["inprocess", "nats"]
RETRY_DELAY = 0.1


# -- helpers shared with test_relay ----------------------------------------------------


def bus_url_for(backend: str) -> tuple[str, str | None]:
    """A bus URL for one test, and the NATS stream to delete afterwards."""
    if backend == "inprocess":
        return f"inprocess://?retry_delay={RETRY_DELAY}", None
    require_nats()
    tag = uuid.uuid4().hex[:12]
    stream = f"TEST_{tag}"
    url = f"{NATS_URL}?stream={stream}&prefix=t{tag}&retry_delay={RETRY_DELAY}&poll=0.2&ack_wait=5"
    return url, stream


async def _delete_stream(stream: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(NATS_URL)
    try:
        with suppress(NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def delete_stream(stream: str | None) -> None:
    if stream is not None:
        asyncio.run(_delete_stream(stream))


@asynccontextmanager
async def running(url: str) -> AsyncIterator[Bus]:
    bus = make_bus(url)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


async def eventually(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def env(kind: str = "test.bus.ping", **payload: Any) -> Envelope:
    return Envelope(type=kind, enterprise_id=1, payload=payload)


class Recorder:
    """A handler that records what it was given (optionally failing some deliveries)."""

    def __init__(self, fail: Callable[[Envelope, int], bool] | None = None) -> None:
        self.calls: list[str] = []
        self.ok: list[Envelope] = []
        self.fail = fail

    async def __call__(self, e: Envelope) -> None:
        self.calls.append(e.id)
        if self.fail and self.fail(e, self.calls.count(e.id)):
            raise RuntimeError(f"handler failure for {e.id}")
        self.ok.append(e)

    @property
    def ok_ids(self) -> list[str]:
        return [e.id for e in self.ok]


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def bus_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url, stream = bus_url_for(request.param)
    yield url
    delete_stream(stream)


def run(coro: Awaitable[None]) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro, 20)

    asyncio.run(main())


# -- the contract ----------------------------------------------------------------------


def test_round_trip_preserves_the_envelope(bus_url: str) -> None:
    async def scenario() -> None:
        async with running(bus_url) as bus:
            rec = Recorder()
            await bus.subscribe("roundtrip", rec)
            ctx = Context(parent_id=uuid.uuid4().hex, user_id=42)
            sent = Envelope(
                type="test.bus.round_trip", enterprise_id=7, context=ctx,
                payload={"name": "二号反应釜", "level": 3, "tags": ["a", "b"], "nested": {"x": None}},
            )
            await bus.publish(sent)
            await eventually(lambda: len(rec.ok) == 1, what="delivery")
            got = rec.ok[0]
            assert got == sent
            assert (got.id, got.type, got.enterprise_id) == (sent.id, "test.bus.round_trip", 7)
            assert got.context == ctx and got.context.user_id == 42
            assert got.payload == sent.payload
            assert got.occurred_at == sent.occurred_at

    run(scenario())


def test_each_durable_gets_every_event(bus_url: str) -> None:
    async def scenario() -> None:
        async with running(bus_url) as bus:
            a, b = Recorder(), Recorder()
            await bus.subscribe("fan-a", a)
            await bus.subscribe("fan-b", b)
            sent = [env(n=i) for i in range(5)]
            for e in sent:
                await bus.publish(e)
            ids = {e.id for e in sent}
            await eventually(lambda: set(a.ok_ids) == ids and set(b.ok_ids) == ids, what="fan-out")
            await asyncio.sleep(0.2)
            assert sorted(a.ok_ids) == sorted(ids) and sorted(b.ok_ids) == sorted(ids)  # once each

    run(scenario())


def test_subject_filter(bus_url: str) -> None:
    async def scenario() -> None:
        async with running(bus_url) as bus:
            only_a, everything = Recorder(), Recorder()
            await bus.subscribe("filter-a", only_a, subjects="plantguard.test.a.>")
            await bus.subscribe("filter-all", everything)
            ea, eb = env("test.a.created"), env("test.b.created")
            await bus.publish(ea)
            await bus.publish(eb)
            await eventually(lambda: len(everything.ok) == 2, what="both events")
            await eventually(lambda: len(only_a.ok) == 1, what="the filtered event")
            await asyncio.sleep(0.2)
            assert only_a.ok_ids == [ea.id]

    run(scenario())


def test_failed_handler_gets_the_event_again_and_others_keep_flowing(bus_url: str) -> None:
    async def scenario() -> None:
        async with running(bus_url) as bus:
            first, second = env(n=1), env(n=2)
            rec = Recorder(fail=lambda e, nth: e.id == first.id and nth == 1)
            await bus.subscribe("retry", rec)
            await bus.publish(first)
            await bus.publish(second)
            await eventually(lambda: set(rec.ok_ids) == {first.id, second.id}, what="redelivery")
            assert rec.calls.count(first.id) == 2
            assert rec.calls.count(second.id) == 1
            # the failed event waited out its retry delay; the next one did not wait for it
            assert rec.ok_ids == [second.id, first.id]

    run(scenario())


def test_resubscribed_durable_gets_what_it_missed(bus_url: str) -> None:
    """NATS: the durable consumer remembers its position. In-process: the durable's backlog
    lives as long as the bus object (not across a restart — see the module docstring)."""

    async def scenario() -> None:
        async with running(bus_url) as bus:
            rec = Recorder()
            sub = await bus.subscribe("resume", rec)
            before = env(n=0)
            await bus.publish(before)
            await eventually(lambda: rec.ok_ids == [before.id], what="first event")
            await sub.stop()
            missed = [env(n=i) for i in (1, 2, 3)]
            for e in missed:
                await bus.publish(e)
            await asyncio.sleep(0.1)
            assert rec.ok_ids == [before.id]  # stopped means stopped
            rec2 = Recorder()
            await bus.subscribe("resume", rec2)
            await eventually(lambda: len(rec2.ok) == 3, what="missed events")
            await asyncio.sleep(0.2)
            assert rec2.ok_ids == [e.id for e in missed]  # in order, and not the acked one

    run(scenario())


def test_stop_mid_handler_loses_nothing(bus_url: str) -> None:
    async def scenario() -> None:
        async with running(bus_url) as bus:
            started = asyncio.Event()

            async def slow(e: Envelope) -> None:
                started.set()
                await asyncio.sleep(0.05)

            sub = await bus.subscribe("interrupted", slow)
            sent = env()
            await bus.publish(sent)
            await asyncio.wait_for(started.wait(), 5)
            await sub.stop()
            rec = Recorder()
            await bus.subscribe("interrupted", rec)
            await asyncio.sleep(0.3)
            # In-process cancels the handler and hands the event back; NATS lets the handler
            # finish and acks. Either way the event is handled, never dropped.
            assert rec.ok_ids in ([], [sent.id])
            if isinstance(bus, InProcessBus):
                assert rec.ok_ids == [sent.id]

    run(scenario())


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_durable_and_history(backend: str) -> None:
    """Documented difference: a JetStream durable created after a publish still gets the
    event (the stream retains it); the in-process bus retains nothing for unknown durables."""
    url, stream = bus_url_for(backend)

    async def scenario() -> None:
        async with running(url) as bus:
            early = env()
            await bus.publish(early)
            rec = Recorder()
            await bus.subscribe("latecomer", rec)
            late = env()
            await bus.publish(late)
            await eventually(lambda: late.id in rec.ok_ids, what="the later event")
            expected = [early.id, late.id] if backend == "nats" else [late.id]
            assert rec.ok_ids == expected

    try:
        run(scenario())
    finally:
        delete_stream(stream)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_envelope_published_twice(backend: str) -> None:
    """NATS de-duplicates on Nats-Msg-Id within the stream's window; in-process delivers
    both copies (consumers de-duplicate either way)."""
    url, stream = bus_url_for(backend)

    async def scenario() -> None:
        async with running(url) as bus:
            rec = Recorder()
            await bus.subscribe("dup", rec)
            e = env()
            await bus.publish(e)
            await bus.publish(e)
            marker = env()
            await bus.publish(marker)
            await eventually(lambda: marker.id in rec.ok_ids, what="marker")
            await asyncio.sleep(0.1)
            assert rec.ok_ids.count(e.id) == (1 if backend == "nats" else 2)

    try:
        run(scenario())
    finally:
        delete_stream(stream)


def test_ping(bus_url: str) -> None:
    async def scenario() -> None:
        bus = make_bus(bus_url)
        assert await bus.ping() is False
        await bus.start()
        await bus.start()  # idempotent
        assert await bus.ping() is True
        await bus.close()
        assert await bus.ping() is False
        await bus.close()  # idempotent

    run(scenario())


# -- configuration and helpers ---------------------------------------------------------


def test_make_bus_picks_the_backend() -> None:
    assert isinstance(make_bus("inprocess://"), InProcessBus)
    assert isinstance(make_bus(""), InProcessBus)
    nb = make_bus("nats://127.0.0.1:4222?stream=EVENTS&poll=0.5")
    assert isinstance(nb, NatsBus)
    assert (nb.servers, nb.stream, nb.prefix) == (["nats://127.0.0.1:4222"], "EVENTS", "plantguard")
    assert nb.poll == 0.5
    default = make_bus("nats://127.0.0.1:4222")
    assert isinstance(default, NatsBus) and default.stream == "PLANTGUARD"
    assert isinstance(make_bus("inprocess://"), Bus)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kafka://broker:9092", "unsupported event bus URL scheme 'kafka'"),
        ("redis://user:secret@host", "unsupported event bus URL scheme 'redis'"),
        ("nats://127.0.0.1:4222?strem=X", "unknown option 'strem'"),
        ("nats://127.0.0.1:4222?poll=soon", "bad value for 'poll'"),
        ("nats://", "needs a host"),
        ("inprocess://?stream=X", "unknown option 'stream'"),
    ],
)
def test_make_bus_rejects_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        make_bus(url)
    assert "secret" not in str(info.value)


def test_subject_matching() -> None:
    assert subject_matches("plantguard.>", "plantguard.entity.changed")
    assert not subject_matches("plantguard.>", "plantguard")
    assert subject_matches("plantguard.*.changed", "plantguard.entity.changed")
    assert not subject_matches("plantguard.*", "plantguard.entity.changed")
    assert subject_matches("plantguard.entity.changed", "plantguard.entity.changed")
    assert not subject_matches("plantguard.entity.changed", "plantguard.entity")
    for bad in ("other.>", "plantguard", "plantguard.>.x", "plantguard..x"):
        with pytest.raises(ValueError):
            validate_filter(bad)
