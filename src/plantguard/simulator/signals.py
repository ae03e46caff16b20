"""Deterministic noise, the plant's working day, and the simulated clock.

Every simulated value is a pure function of (seed, point, simulated time). Noise therefore
comes from a counter-based generator (a 64-bit integer hash of seed, stream and time bucket)
rather than from a stateful ``random.Random`` stream: the series does not depend on how often
the simulator ticks, on the speed factor, or on which points were read before, so the same
seed and start time always give the same readings, whether sampled every second or every
minute. ``random.Random(seed)`` is still used once, at start-up, for per-point personalities
(see :mod:`plantguard.simulator.model`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

_MASK = (1 << 64) - 1
_TWO64 = float(1 << 64)

# The demo plant is in Suzhou: local time is UTC+8 all year (no daylight saving).
LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86_400

# Fixed default start for tests and reproducible runs: Monday 2 June 2025, 08:00 in Suzhou
# (the start of the day shift).
DEFAULT_START = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)


def hash_unit(*keys: int) -> float:
    """A uniform number in [0, 1) determined by the integer keys: the keys are folded into one
    64-bit word (a polynomial hash), which the splitmix64 finaliser then spreads."""
    h = 0x2545F4914F6CDD1D
    for k in keys:
        h = (h * 0x100000001B3 + k) & _MASK
    h = (h + 0x9E3779B97F4A7C15) & _MASK
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
    return (h ^ (h >> 31)) / _TWO64


def white(seed: int, stream: int, bucket: int) -> float:
    """Zero-mean noise in [-1, 1] with a bell-ish (triangular) shape, one value per bucket."""
    return hash_unit(seed, stream, bucket, 1) + hash_unit(seed, stream, bucket, 2) - 1.0


def smooth(seed: int, stream: int, t: float, period: float) -> float:
    """Value noise in [-1, 1] that varies smoothly with ``t`` on the scale of ``period`` seconds
    (random knots every ``period`` seconds, joined by a smoothstep)."""
    x = t / period
    k = math.floor(x)
    f = x - k
    a = hash_unit(seed, stream, k, 3) * 2.0 - 1.0
    b = hash_unit(seed, stream, k + 1, 3) * 2.0 - 1.0
    w = f * f * (3.0 - 2.0 * f)
    return a + (b - a) * w


def stream_id(text: str) -> int:
    """A stable integer for a name (Python's ``hash`` of a str changes between processes)."""
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return h


# ---------------------------------------------------------------------------------------------
# The working day


# Production stops (local time, seconds of the day): meal breaks and shift hand-overs of the
# two twelve-hour shifts (day 08:00-20:00, night 20:00-08:00). Process equipment (ovens,
# booths, utilities) runs through them; machines that make parts stop.
BREAKS: tuple[tuple[int, int], ...] = (
    (4 * 3600, 4 * 3600 + 20 * 60),  # 04:00-04:20 night-shift meal
    (7 * 3600 + 50 * 60, 8 * 3600),  # 07:50-08:00 hand-over
    (11 * 3600 + 30 * 60, 12 * 3600),  # 11:30-12:00 lunch
    (16 * 3600, 16 * 3600 + 15 * 60),  # 16:00-16:15 tea break
    (19 * 3600 + 50 * 60, 20 * 3600),  # 19:50-20:00 hand-over
    (23 * 3600 + 30 * 60, 24 * 3600),  # 23:30-24:00 night-shift meal
)


def local_seconds(t: float) -> float:
    """Seconds since local midnight (Suzhou) for epoch seconds ``t``."""
    return (t + LOCAL_OFFSET_S) % DAY_S


def production_on(t: float) -> bool:
    """True while the production lines run (outside breaks and hand-overs)."""
    s = local_seconds(t)
    return not any(a <= s < b for a, b in BREAKS)


def break_start(t: float) -> float:
    """Epoch seconds at which the current break began (``t`` must be inside a break)."""
    s = local_seconds(t)
    for a, b in BREAKS:
        if a <= s < b:
            return t - (s - a)
    return t


def _segments(t0: float, t1: float) -> Iterator[tuple[float, float, float]]:
    """(start, end, level) pieces of the production schedule covering [t0, t1]."""
    day0 = math.floor((t0 + LOCAL_OFFSET_S) / DAY_S)
    edges: list[float] = []
    day = day0
    while True:
        base = day * DAY_S - LOCAL_OFFSET_S
        if base > t1:
            break
        for a, b in BREAKS:
            for edge in (base + a, base + b):
                if t0 < edge < t1:
                    edges.append(edge)
        day += 1
    cuts = [t0, *sorted(edges), t1]
    for lo, hi in itertools.pairwise(cuts):
        if hi > lo:
            yield lo, hi, 1.0 if production_on((lo + hi) / 2) else 0.0


def production_lagged(t: float, tau: float) -> float:
    """The production schedule seen through a first-order lag of time constant ``tau`` seconds
    (how a machine's oil or winding temperature follows its duty): 1 after a long run, decaying
    towards 0 during a break. Exact for the piecewise-constant schedule, and a pure function of
    ``t``."""
    if tau <= 0:
        return 1.0 if production_on(t) else 0.0
    t0 = t - 8.0 * tau
    x = 1.0 if production_on(t0) else 0.0
    for a, b, level in _segments(t0, t):
        x = level + (x - level) * math.exp(-(b - a) / tau)
    return x


def seasonal(t: float) -> float:
    """-1 in late January, +1 in late July (Suzhou's coldest and hottest weeks)."""
    doy = (t / DAY_S) % 365.25
    # Epoch day 0 is 1 January; the coldest week is around day 20.
    return -math.cos(2.0 * math.pi * (doy - 20.0) / 365.25)


def diurnal(t: float) -> float:
    """-1 around 05:00 local, +1 around 14:00 local (a skewed daily temperature cycle)."""
    s = local_seconds(t) / 3600.0
    if 5.0 <= s < 14.0:
        return -math.cos(math.pi * (s - 5.0) / 9.0)
    hours_after_peak = (s - 14.0) % 24.0  # 0..15
    return math.cos(math.pi * hours_after_peak / 15.0)


# ---------------------------------------------------------------------------------------------
# The simulated clock


class SimClock:
    """Simulated time: ``start`` plus ``speed`` times the (monotonic) wall time elapsed.

    ``advance`` jumps the simulated time forward (tests, and skipping through a fault).
    ``monotonic`` is injectable so tests can drive the wall clock themselves.
    """

    def __init__(
        self,
        start: datetime | float | None = None,
        speed: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0 or not math.isfinite(speed):
            raise ValueError("speed: must be a positive number")
        if start is None:
            start = DEFAULT_START
        self.start = start.timestamp() if isinstance(start, datetime) else float(start)
        self.speed = float(speed)
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._offset = 0.0

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.start + self._offset + (self._monotonic() - self._t0) * self.speed

    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("seconds: the simulated clock does not run backwards")
        self._offset += seconds
