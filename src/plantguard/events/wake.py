"""Waking a polling loop when a commit gives it work, instead of letting it sleep its interval.

The outbox relay and the notification dispatcher poll the database: that is what makes them
correct (a row committed by any process, or left over by a crash, is found by the next pass).
Polling alone, though, adds up to one interval per hop, and the closed loop has several hops
(alarm → relay → work order → relay → notification → dispatcher → channel). A :class:`Wakeup`
shortens the wait: a session that commits rows of interest (:func:`wake_after_commit`) sets it,
and every loop waiting on it starts its next pass at once. The polling stays as the fallback, so
nothing depends on the wake-up being seen: a commit in another process costs at most one
interval, as before. Delivery guarantees are unchanged; only latency improves.

Commits happen in worker threads and waiters live in event loops (tests run several apps, each
with its own loop, in one process): :meth:`Wakeup.set` is safe from any thread and reaches every
registered :class:`Waiter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_FLAG = "plantguard_wake"


class Waiter:
    """One loop's view of a :class:`Wakeup`: level-triggered, so a set that lands while a pass
    is running makes the next :meth:`wait` return at once (the wake-up is not lost)."""

    def __init__(self, owner: Wakeup) -> None:
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def _set(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._event.set()
        else:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
                self._loop.call_soon_threadsafe(self._event.set)

    async def wait(self, timeout: float, stop: asyncio.Event | None = None) -> bool:
        """Wait until woken, ``stop`` is set or ``timeout`` passes, then re-arm. True if woken."""
        waiters = [asyncio.ensure_future(self._event.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        woken = self._event.is_set()
        self._event.clear()
        return woken

    def close(self) -> None:
        self._owner._forget(self)


class Wakeup:
    """A broadcast nudge: :meth:`set` (any thread) wakes every registered :class:`Waiter`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._waiters: set[Waiter] = set()
        self._lock = threading.Lock()
        self.count = 0  # times set: for tests and monitoring

    def waiter(self) -> Waiter:
        """A waiter for the running event loop; :meth:`Waiter.close` it when the loop ends."""
        w = Waiter(self)
        with self._lock:
            self._waiters.add(w)
        return w

    def _forget(self, w: Waiter) -> None:
        with self._lock:
            self._waiters.discard(w)

    def set(self) -> None:
        with self._lock:
            self.count += 1
            waiters = list(self._waiters)
        for w in waiters:
            w._set()


def wake_after_commit(wakeup: Wakeup, wanted: Callable[[object], bool]) -> None:
    """Set ``wakeup`` after any session commits, having flushed a new object for which
    ``wanted(obj)`` is true. Installed on the :class:`Session` class, so it sees every session;
    call it once per wakeup (at import). A flushed-then-rolled-back object may cause one spurious
    wake-up at a later commit of the same session: harmless, a pass that finds nothing."""

    def after_flush(session: Session, _ctx: object) -> None:
        if any(wanted(obj) for obj in session.new):
            session.info.setdefault(_FLAG, {})[id(wakeup)] = wakeup

    def after_commit(session: Session) -> None:
        for w in session.info.pop(_FLAG, {}).values():
            w.set()

    event.listen(Session, "after_flush", after_flush)
    event.listen(Session, "after_commit", after_commit)
