"""Quiet hours and throttling: pure functions of a clock, so tests inject the time.

Quiet hours (per user, local time, e.g. 22:00–07:00, may wrap midnight): a non-urgent message
on an outside channel (email) is *held*: written ``pending`` with ``next_attempt_at`` at the
end of the quiet period, and sent then. In-app feed items are never held (a feed makes no
noise). Urgent messages (critical alarms, P1 work orders) bypass quiet hours.

Throttling (per recipient × channel, outside channels only): at most ``max_messages`` in any
``window``. Beyond that a message is written ``folded``; once the window since the first
folded one has passed, the dispatcher sends **one digest** per recipient × channel listing
them. Nothing is silently dropped. Urgent messages are never folded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from plantguard.notifications.messages import zone

DEFAULT_MAX, DEFAULT_WINDOW_S = 5, 600


@dataclass(frozen=True)
class Throttle:
    max_messages: int = DEFAULT_MAX
    window: timedelta = timedelta(seconds=DEFAULT_WINDOW_S)

    @classmethod
    def from_env(cls) -> Throttle:
        """``PLANTGUARD_NOTIFY_THROTTLE=N/SECONDS`` (default 5/600; 0/0 switches it off)."""
        raw = os.environ.get("PLANTGUARD_NOTIFY_THROTTLE", "")
        try:
            n, _, s = raw.partition("/")
            return cls(int(n), timedelta(seconds=int(s))) if raw else cls()
        except ValueError:
            return cls()

    @property
    def enabled(self) -> bool:
        return self.max_messages > 0 and self.window.total_seconds() > 0


def parse_hhmm(value: str | None) -> time | None:
    """"22:00" → time(22, 0); None/"" → None; anything else raises ValueError."""
    if not value:
        return None
    hh, sep, mm = value.partition(":")
    if not sep or not (hh.isdigit() and mm.isdigit()) or len(mm) != 2:
        raise ValueError(value)
    return time(int(hh), int(mm))


def quiet_until(now: datetime, start: str | None, end: str | None, tz: str | None) -> datetime | None:
    """The UTC end of the quiet period ``now`` falls in, or None when it is not quiet."""
    try:
        t0, t1 = parse_hhmm(start), parse_hhmm(end)
    except ValueError:
        return None
    if t0 is None or t1 is None or t0 == t1:
        return None
    local = now.astimezone(zone(tz))
    t = local.time().replace(second=0, microsecond=0, tzinfo=None)
    inside = (t0 <= t < t1) if t0 < t1 else (t >= t0 or t < t1)
    if not inside:
        return None
    end_day = local.date() if (t0 < t1 or t < t1) else local.date() + timedelta(days=1)
    end_local = datetime.combine(end_day, t1, tzinfo=local.tzinfo)
    return end_local.astimezone(now.tzinfo)
