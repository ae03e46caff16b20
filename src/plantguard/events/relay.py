"""The outbox relay: moves committed outbox rows onto the bus, at least once.

One pass (:meth:`OutboxRelay.run_once`) takes up to ``batch_size`` pending rows
(``published_at IS NULL``) in id order, publishes them one by one, then marks the published
ones (``published_at``, ``attempts + 1``) in one transaction. A publish failure records
``attempts``/``last_error`` on that row and ends the pass there, so rows leave in order and
the failed one is retried first next time.

Where a crash lands decides what happens, never whether an event is lost:

* before the publish — the row is still pending and goes out next time;
* after the publish, before the mark — the row goes out **again** next time. JetStream drops
  the copy within its duplicate window (``Nats-Msg-Id``), and consumers de-duplicate on the
  event id in any case (:func:`plantguard.events.consumer.idempotent`).

On PostgreSQL the rows are selected ``FOR UPDATE SKIP LOCKED`` and stay locked until the pass
commits, so several relays (one per web worker) can run side by side without publishing the
same row concurrently; each keeps its own rows in order, but batches of different relays may
interleave. On SQLite (one process, one relay) the rows are read in a short transaction and
marked in another, so the database's single write lock is not held while publishing.

The database work is synchronous SQLAlchemy run in worker threads (:func:`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from plantguard.core.db import utcnow
from plantguard.events.bus import Bus
from plantguard.events.envelope import Envelope
from plantguard.events.models import OutboxMessage
from plantguard.events.outbox import OUTBOX_COMMITTED
from plantguard.events.wake import Wakeup

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000
MAX_BACKOFF_S = 5.0


@dataclass
class _Batch:
    rows: list[tuple[int, Envelope]]
    session: Session | None = None  # open, holding the row locks (PostgreSQL only)
    published: list[int] = field(default_factory=list)
    failed: tuple[int, str] | None = None


def _release_claim(fut: asyncio.Future[_Batch]) -> None:
    if fut.cancelled() or fut.exception() is not None:
        return
    session = fut.result().session
    if session is not None:
        session.close()


def pending_count(session: Session) -> int:
    """How many outbox rows are waiting for the relay."""
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
    return int(session.execute(stmt).scalar_one())


def prune_published(session: Session, older_than: timedelta | datetime) -> int:
    """Delete rows published before ``older_than`` (an age, or a point in time); returns how
    many. Runs in the caller's transaction: commit it. Pending rows are never touched."""
    cutoff = utcnow() - older_than if isinstance(older_than, timedelta) else older_than
    result = session.execute(
        delete(OutboxMessage)
        .where(OutboxMessage.published_at.is_not(None))
        .where(OutboxMessage.published_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class OutboxRelay:
    def __init__(self, session_factory: sessionmaker[Session], bus: Bus, batch_size: int = 200,
                 wake: Wakeup | None = OUTBOX_COMMITTED) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.session_factory = session_factory
        self.bus = bus
        self.batch_size = batch_size
        # Commits in this process that wrote outbox rows end the wait between passes early; the
        # interval stays the bound for rows written elsewhere (events/wake.py). None: poll only.
        self.wake = wake
        self.consecutive_failures = 0

    # -- one pass ----------------------------------------------------------------------

    async def run_once(self) -> int:
        """Publish one batch of pending rows; returns how many were published.

        A publish error (an :class:`Exception`) is recorded on its row and ends the pass
        normally. Anything else (cancellation, a crash) propagates and marks nothing: rows
        already published then go out again on the next pass.
        """
        batch = await self._claim_async()
        if not batch.rows:
            return 0
        try:
            for row_id, env in batch.rows:
                try:
                    await self.bus.publish(env)
                except Exception as exc:
                    log.warning("outbox row %d (event %s) could not be published: %s", row_id, env.id, exc)
                    batch.failed = (row_id, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
                    break
                batch.published.append(row_id)
        except BaseException:
            # Rolled back, nothing marked; done here (not in a thread) so that it happens
            # even while the task is being cancelled.
            if batch.session is not None:
                batch.session.close()
            raise
        await asyncio.to_thread(self._mark, batch)
        self.consecutive_failures = self.consecutive_failures + 1 if batch.failed else 0
        return len(batch.published)

    async def _claim_async(self) -> _Batch:
        claim = asyncio.ensure_future(asyncio.to_thread(self._claim))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            # The thread finishes anyway; release the locks it may have taken.
            claim.add_done_callback(_release_claim)
            raise

    def _claim(self) -> _Batch:
        session = self.session_factory()
        try:
            stmt = (
                select(OutboxMessage.id, OutboxMessage.envelope)
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(self.batch_size)
            )
            lock = session.get_bind().dialect.name == "postgresql"
            if lock:
                stmt = stmt.with_for_update(skip_locked=True)
            else:
                # A plain read: SQLite's write lock is not needed to look.
                session.connection(execution_options={"plantguard_read_only": True})
            rows = [(int(r.id), Envelope.model_validate(r.envelope)) for r in session.execute(stmt)]
        except BaseException:
            session.close()
            raise
        if lock and rows:
            return _Batch(rows, session)
        session.close()
        return _Batch(rows)

    def _mark(self, batch: _Batch) -> None:
        session = batch.session or self.session_factory()
        try:
            now = utcnow()
            if batch.published:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(batch.published))
                    .where(OutboxMessage.published_at.is_(None))
                    .values(published_at=now, attempts=OutboxMessage.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
            if batch.failed:
                row_id, error = batch.failed
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id)
                    .values(attempts=OutboxMessage.attempts + 1, last_error=error)
                    .execution_options(synchronize_session=False)
                )
            session.commit()
        finally:
            session.close()

    # -- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, interval: float = 0.2) -> None:
        """Relay until ``stop`` is set. Errors are logged and retried (with a backoff up to
        five seconds while they persist); a full batch is followed at once by the next. Between
        passes it waits ``interval``, or less when a commit in this process wrote outbox rows."""
        waiter = self.wake.waiter() if self.wake is not None else None
        try:
            while not stop.is_set():
                published = 0
                try:
                    published = await self.run_once()
                except Exception:
                    self.consecutive_failures += 1
                    log.exception("outbox relay pass failed")
                if published >= self.batch_size and not self.consecutive_failures:
                    continue
                wait = interval
                if self.consecutive_failures:
                    wait = min(interval * 2 ** min(self.consecutive_failures, 10), max(MAX_BACKOFF_S, interval))
                if waiter is not None and not self.consecutive_failures:
                    await waiter.wait(wait, stop)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        finally:
            if waiter is not None:
                waiter.close()
