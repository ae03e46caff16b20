"""The in-process bus: asyncio, one task per subscription, one queue per durable name.

It follows the :class:`~plantguard.events.bus.Bus` contract within one process and one event
loop:

* each durable name has its own backlog; a publish appends the event to the backlog of every
  durable whose filter matches (fan-out). Subscriptions sharing a durable name share its
  backlog (work sharing);
* a handler that raises gets the event back after ``retry_delay`` seconds, doubling per
  attempt up to ``max_retry_delay``; meanwhile the subscription carries on with later events;
* a stopped subscription leaves its durable's backlog in place: events published while no
  subscription is active wait, and a later ``subscribe`` under that name receives them.
  A durable that has never subscribed receives nothing: there is no retained history.

**Nothing is retained across a process restart**: :meth:`InProcessBus.publish` "accepts" an
event by putting it in memory, so an event the relay marked published but no handler had
finished yet is gone if the process dies. That is the price of running without a broker; the
outbox (written in the change's transaction) is what survives restarts, and deployments that
cannot accept this window use NATS JetStream (``PLANTGUARD_BUS_URL=nats://...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field

from plantguard.events.bus import ALL_SUBJECTS, Handler, subject_matches, validate_durable, validate_filter
from plantguard.events.envelope import Envelope

log = logging.getLogger(__name__)


@dataclass
class _Delivery:
    data: str  # the envelope as JSON: handlers get their own copy, as from a broker
    event_id: str
    attempts: int = 0


@dataclass
class _Durable:
    name: str
    subjects: str
    backlog: deque[_Delivery] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, item: _Delivery, *, front: bool = False) -> None:
        if front:
            self.backlog.appendleft(item)
        else:
            self.backlog.append(item)
        self.ready.set()

    async def take(self) -> _Delivery:
        while not self.backlog:
            self.ready.clear()
            await self.ready.wait()
        return self.backlog.popleft()


class InProcessSubscription:
    def __init__(self, bus: InProcessBus, durable: _Durable, handler: Handler) -> None:
        self._bus = bus
        self._durable = durable
        self._handler = handler
        self._task = asyncio.create_task(self._run(), name=f"plantguard-bus-{durable.name}")

    @property
    def durable(self) -> str:
        return self._durable.name

    async def _run(self) -> None:
        while True:
            item = await self._durable.take()
            item.attempts += 1
            try:
                env = Envelope.model_validate_json(item.data)
                await self._handler(env)
            except asyncio.CancelledError:
                # Stopped mid-delivery: the event was not acknowledged, so it goes back first.
                item.attempts -= 1
                self._durable.push(item, front=True)
                raise
            except Exception:
                delay = self._bus.retry_delay_for(item.attempts)
                log.warning(
                    "event %s failed in consumer %s (attempt %d); retrying in %.1fs",
                    item.event_id, self._durable.name, item.attempts, delay, exc_info=True,
                )
                self._bus.redeliver_later(self._durable, item, delay)

    async def stop(self) -> None:
        if self._task.done():
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._bus.forget_subscription(self)


class InProcessBus:
    """See the module docstring; build through :func:`plantguard.events.bus.make_bus`."""

    def __init__(self, *, retry_delay: float = 0.5, max_retry_delay: float = 30.0) -> None:
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._durables: dict[str, _Durable] = {}
        self._subscriptions: set[InProcessSubscription] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        for sub in list(self._subscriptions):
            await sub.stop()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._durables.clear()
        self._started = False

    async def publish(self, env: Envelope) -> None:
        if not self._started:
            raise RuntimeError("in-process bus is not started")
        data = env.model_dump_json()
        subject = env.subject
        for durable in self._durables.values():
            if subject_matches(durable.subjects, subject):
                durable.push(_Delivery(data=data, event_id=env.id))

    async def subscribe(
        self, durable: str, handler: Handler, *, subjects: str = ALL_SUBJECTS
    ) -> InProcessSubscription:
        if not self._started:
            raise RuntimeError("in-process bus is not started")
        validate_durable(durable)
        validate_filter(subjects)
        state = self._durables.get(durable)
        if state is None:
            state = self._durables[durable] = _Durable(durable, subjects)
        else:
            state.subjects = subjects  # like a JetStream consumer update: the new filter wins
        sub = InProcessSubscription(self, state, handler)
        self._subscriptions.add(sub)
        return sub

    async def ping(self) -> bool:
        return self._started

    # -- used by subscriptions ---------------------------------------------------------

    def retry_delay_for(self, attempts: int) -> float:
        return float(min(self.retry_delay * 2 ** max(attempts - 1, 0), self.max_retry_delay))

    def redeliver_later(self, durable: _Durable, item: _Delivery, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(timer)
            if self._durables.get(durable.name) is durable:
                durable.push(item)

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)

    def forget_subscription(self, sub: InProcessSubscription) -> None:
        self._subscriptions.discard(sub)

    def backlog(self, durable: str) -> int:
        """Events waiting for ``durable`` (not counting ones scheduled for a retry)."""
        state = self._durables.get(durable)
        return len(state.backlog) if state else 0
