"""Outbox → relay → bus → idempotent consumer, on SQLite and PostgreSQL × in-process and NATS.

The effects of the test consumer go to a test-only table (own MetaData) that has no unique
key on the event id, so an event applied twice would show up as two rows.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.orm import Session

from plantguard.core.db import transaction, utcnow
from plantguard.events.bus import ALL_SUBJECTS, Bus, Handler, Subscription, make_bus
from plantguard.events.consumer import idempotent
from plantguard.events.envelope import Context, Envelope, Event, event_type
from plantguard.events.models import OutboxMessage, ProcessedEvent
from plantguard.events.nats_bus import NatsBus
from plantguard.events.outbox import enqueue
from plantguard.events.relay import OutboxRelay, pending_count, prune_published
from tests.conftest import Db
from tests.events.test_bus_contract import BACKENDS, bus_url_for, delete_stream, eventually

CONSUMER = "test-relay-consumer"
N = 12


@event_type("test.relay.something")
class Something(Event):
    n: int


effects_meta = MetaData()
effects = Table(
    "test_relay_effect",
    effects_meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False),
    Column("n", Integer, nullable=False),
)


def apply_effect(session: Session, env: Envelope) -> None:
    event = env.decode()
    assert isinstance(event, Something)
    session.execute(insert(effects).values(event_id=env.id, n=event.n))


@pytest.fixture(params=BACKENDS)
def bus_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url, stream = bus_url_for(request.param)
    yield url
    delete_stream(stream)


@pytest.fixture
def store(db: Db) -> Iterator[Db]:
    effects_meta.create_all(db.engine)
    yield db
    effects_meta.drop_all(db.engine)


def enqueue_committed(db: Db, count: int, start: int = 0) -> list[str]:
    ctx = Context(user_id=1)
    with transaction(db.factory) as session:
        envs = [enqueue(session, Something(n=start + i), context=ctx, enterprise_id=1) for i in range(count)]
    return [e.id for e in envs]


def effect_rows(db: Db) -> list[tuple[str, int]]:
    with db.read_factory() as session:
        return [(r.event_id, r.n) for r in session.execute(select(effects).order_by(effects.c.id))]


def count(db: Db, stmt: Any) -> int:
    with db.read_factory() as session:
        return int(session.execute(stmt).scalar_one())


def pending(db: Db) -> int:
    with db.read_factory() as session:
        return pending_count(session)


def run(coro: Any, timeout: float = 25) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


async def drain(relay: OutboxRelay, db: Db) -> None:
    while await relay.run_once():
        pass
    assert pending(db) == 0


class WrappedBus:
    """Delegates to a real bus; subclasses interfere with publish."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.published: list[str] = []

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(self, env: Envelope) -> None:
        await self.inner.publish(env)
        self.published.append(env.id)

    async def subscribe(
        self, durable: str, handler: Handler, *, subjects: str = ALL_SUBJECTS
    ) -> Subscription:
        return await self.inner.subscribe(durable, handler, subjects=subjects)

    async def ping(self) -> bool:
        return await self.inner.ping()


class Crash(BaseException):
    """The relay's process dying: not an error it may handle."""


class CrashingBus(WrappedBus):
    def __init__(self, inner: Bus, crash_after: int) -> None:
        super().__init__(inner)
        self.crash_after = crash_after

    async def publish(self, env: Envelope) -> None:
        if len(self.published) == self.crash_after:
            raise Crash
        await super().publish(env)


class FlakyBus(WrappedBus):
    def __init__(self, inner: Bus, fail_on: int) -> None:
        super().__init__(inner)
        self.calls = 0
        self.fail_on = fail_on

    async def publish(self, env: Envelope) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise ConnectionError("broker went away")
        await super().publish(env)


# -- the pipeline ----------------------------------------------------------------------


def test_relay_delivers_every_event_once_in_order(store: Db, bus_url: str) -> None:
    db = store
    ids = enqueue_committed(db, N)
    assert pending(db) == N

    async def scenario() -> None:
        bus = make_bus(bus_url)
        await bus.start()
        try:
            await bus.subscribe(CONSUMER, idempotent(CONSUMER, db.factory, apply_effect))
            await drain(OutboxRelay(db.factory, bus, batch_size=5), db)
            await eventually(lambda: len(effect_rows(db)) >= N, what="all effects")
            await asyncio.sleep(0.2)
        finally:
            await bus.close()

    run(scenario())
    rows = effect_rows(db)
    assert [event_id for event_id, _ in rows] == ids  # each once, in outbox order
    assert [n for _, n in rows] == list(range(N))
    assert count(db, select(func.count()).select_from(ProcessedEvent)) == N
    with db.read_factory() as session:
        outbox = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
    assert all(m.published_at is not None and m.attempts == 1 and m.last_error == "" for m in outbox)


def test_relay_stopped_mid_delivery_loses_nothing_and_applies_nothing_twice(store: Db, bus_url: str) -> None:
    db = store
    ids = enqueue_committed(db, N)
    k = 5
    deliveries: Counter[str] = Counter()
    lost_ack: dict[str, bool] = {}

    async def scenario() -> None:
        bus = make_bus(bus_url)
        await bus.start()
        try:
            inner = idempotent(CONSUMER, db.factory, apply_effect)

            async def handler(env: Envelope) -> None:
                deliveries[env.id] += 1
                await inner(env)
                # The consumer's own crash window: committed, then the ack is lost once.
                if not lost_ack:
                    lost_ack[env.id] = True
                    raise RuntimeError("connection lost before the ack")

            await bus.subscribe(CONSUMER, handler)

            # First relay: dies after k publishes, before marking anything.
            crashing = CrashingBus(bus, crash_after=k)
            stop = asyncio.Event()
            task = asyncio.create_task(OutboxRelay(db.factory, crashing, batch_size=N).run(stop, 0.05))
            with pytest.raises(Crash):
                await task
            assert crashing.published == ids[:k]
            assert pending(db) == N  # published, but not marked

            # A fresh relay picks everything up again.
            counting = WrappedBus(bus)
            relay = OutboxRelay(db.factory, counting, batch_size=N)
            stop = asyncio.Event()
            task = asyncio.create_task(relay.run(stop, 0.05))
            await eventually(lambda: pending(db) == 0, what="outbox drained")
            stop.set()
            await task
            assert counting.published == ids  # the first k went out twice in all

            await eventually(lambda: len(effect_rows(db)) >= N, what="all effects")
            (victim,) = lost_ack
            await eventually(lambda: deliveries[victim] >= 2, what="redelivery after the lost ack")
            if isinstance(bus, NatsBus):
                # JetStream de-duplicated the relay's second copies (Nats-Msg-Id).
                info = await bus.jetstream.stream_info(bus.stream)
                assert info.state.messages == N
            else:
                await eventually(lambda: all(deliveries[i] >= 2 for i in ids[:k]), what="duplicates")
            await asyncio.sleep(0.3)
        finally:
            await bus.close()

    run(scenario())
    rows = effect_rows(db)
    assert sorted(event_id for event_id, _ in rows) == sorted(ids)  # every event, exactly once
    processed = select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.consumer == CONSUMER)
    assert count(db, processed) == N
    twice = [i for i, c in deliveries.items() if c >= 2]
    assert twice, "some event should have been delivered more than once"
    assert set(deliveries) == set(ids)
    with db.read_factory() as session:
        attempts = session.execute(select(OutboxMessage.attempts)).scalars().all()
    assert attempts == [1] * N


def test_rolled_back_event_never_leaves(store: Db, bus_url: str) -> None:
    db = store
    with pytest.raises(RuntimeError), transaction(db.factory) as session:
        enqueue(session, Something(n=-1), context=Context(), enterprise_id=1)
        session.flush()
        raise RuntimeError("the change failed")
    kept = enqueue_committed(db, 1, start=1)
    assert count(db, select(func.count()).select_from(OutboxMessage)) == 1

    async def scenario() -> None:
        bus = make_bus(bus_url)
        await bus.start()
        try:
            await bus.subscribe(CONSUMER, idempotent(CONSUMER, db.factory, apply_effect))
            await drain(OutboxRelay(db.factory, bus), db)
            await eventually(lambda: len(effect_rows(db)) >= 1, what="the committed event")
            await asyncio.sleep(0.2)
        finally:
            await bus.close()

    run(scenario())
    assert effect_rows(db) == [(kept[0], 1)]


# -- relay details (in-process bus) ----------------------------------------------------


def test_publish_failure_is_recorded_and_keeps_order(store: Db) -> None:
    db = store
    ids = enqueue_committed(db, 6)

    async def scenario() -> list[str]:
        bus = FlakyBus(make_bus("inprocess://?retry_delay=0.05"), fail_on=3)
        await bus.start()
        received: list[str] = []

        async def handler(env: Envelope) -> None:
            received.append(env.id)

        await bus.subscribe("order", handler)
        relay = OutboxRelay(db.factory, bus)
        assert await relay.run_once() == 2
        with db.read_factory() as session:
            rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        assert [r.published_at is not None for r in rows] == [True, True, False, False, False, False]
        assert [r.attempts for r in rows] == [1, 1, 1, 0, 0, 0]
        assert "ConnectionError: broker went away" in rows[2].last_error
        assert relay.consecutive_failures == 1
        assert await relay.run_once() == 4
        assert relay.consecutive_failures == 0
        await eventually(lambda: len(received) == 6, what="deliveries")
        await bus.close()
        return received

    assert run(scenario()) == ids
    with db.read_factory() as session:
        failed_row = select(OutboxMessage.attempts).where(OutboxMessage.event_id == ids[2])
        assert session.execute(failed_row).scalar_one() == 2


def test_relay_loop_survives_errors(store: Db) -> None:
    db = store

    async def scenario() -> None:
        bus = FlakyBus(make_bus("inprocess://"), fail_on=1)
        await bus.start()
        relay = OutboxRelay(db.factory, bus)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop, interval=0.02))
        await asyncio.to_thread(enqueue_committed, db, 3)
        await eventually(lambda: pending(db) == 0, what="relay to recover")
        stop.set()
        await asyncio.wait_for(task, 5)
        assert len(bus.published) == 3
        await bus.close()

    run(scenario())


@pytest.fixture
def pg_store(pg_db: Db) -> Iterator[Db]:
    effects_meta.create_all(pg_db.engine)
    yield pg_db
    effects_meta.drop_all(pg_db.engine)


def test_concurrent_relays_skip_locked_rows(pg_store: Db) -> None:
    """Several relays are a PostgreSQL deployment: FOR UPDATE SKIP LOCKED shares the rows."""
    db = pg_store
    ids = enqueue_committed(db, 10)

    class SlowBus(WrappedBus):
        async def publish(self, env: Envelope) -> None:
            await asyncio.sleep(0.02)  # hold the row locks while the other relay looks
            await super().publish(env)

    async def scenario() -> tuple[list[str], list[str]]:
        inner = make_bus("inprocess://")
        await inner.start()
        a, b = SlowBus(inner), SlowBus(inner)
        await asyncio.gather(
            OutboxRelay(db.factory, a, 5).run_once(), OutboxRelay(db.factory, b, 5).run_once()
        )
        await inner.close()
        return a.published, b.published

    pa, pb = run(scenario())
    assert len(pa) == len(pb) == 5
    assert sorted(pa + pb) == sorted(ids)  # nothing published by both
    assert pending(db) == 0


def test_pending_count_and_prune(store: Db) -> None:
    db = store
    ids = enqueue_committed(db, 3)
    with transaction(db.factory) as session:
        assert pending_count(session) == 3
        old = utcnow().replace(year=2000)
        session.execute(update(OutboxMessage).where(OutboxMessage.event_id.in_(ids[:2])).values(published_at=old))
    with transaction(db.factory) as session:
        assert pending_count(session) == 1
        assert prune_published(session, timedelta(days=1)) == 2
    with transaction(db.factory) as session:
        assert prune_published(session, utcnow()) == 0  # pending rows are never pruned
        assert session.execute(select(OutboxMessage.event_id)).scalars().all() == [ids[2]]


def test_idempotent_consumer_skips_and_rolls_back(store: Db) -> None:
    db = store
    env = Envelope.wrap(Something(n=7), context=Context(user_id=3), enterprise_id=1)
    calls: list[str] = []

    def failing(session: Session, e: Envelope) -> None:
        apply_effect(session, e)
        calls.append(e.id)
        raise ValueError("apply failed")

    async def scenario() -> None:
        with pytest.raises(ValueError):
            await idempotent(CONSUMER, db.factory, failing)(env)
        assert effect_rows(db) == [] and count(db, select(func.count()).select_from(ProcessedEvent)) == 0
        ok = idempotent(CONSUMER, db.factory, apply_effect)
        await ok(env)
        await ok(env)
        await idempotent("another-consumer", db.factory, apply_effect)(env)

    run(scenario())
    assert calls == [env.id]
    assert effect_rows(db) == [(env.id, 7), (env.id, 7)]  # once per consumer
    assert count(db, select(func.count()).select_from(ProcessedEvent)) == 2
