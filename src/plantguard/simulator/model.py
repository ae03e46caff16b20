"""Signal models: what each measurement point of the demo plant reads at a simulated instant.

Each point gets a :class:`~plantguard.simulator.profiles.Profile` from its quantity, range and
thresholds (:mod:`plantguard.simulator.profiles`); this module plays the profiles against the
simulated clock. Normal operation stays inside the warning band, so a healthy plant raises no
alarms; faults (:mod:`plantguard.simulator.faults`) push values out of it.

What makes the readings look like a plant:

* duty cycles: presses stroke (the press force pulses at the stroke rate), welding robots weld
  in station cycles, paint robots spray per car body, cranes lift and forklifts drive in
  intermittent trips; production stops for meal breaks and shift hand-overs;
* thermal lag: oil and winding temperatures follow the duty through a first-order lag;
* climate: ambient temperature and humidity follow a daily and a seasonal cycle (Suzhou);
* noise: a slow drift, a faster ripple and white noise, all deterministic.

Everything is a pure function of (seed, simulated time): see :mod:`plantguard.simulator.signals`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plantguard.simulator.plant import Plant, SimEquipment, SimPoint
from plantguard.simulator.profiles import (
    CONDITIONED,
    PRODUCTION_TYPES,
    REFERENCE_AMBIENT,
    Profile,
    build_profile,
)
from plantguard.simulator.signals import (
    diurnal,
    hash_unit,
    production_lagged,
    production_on,
    seasonal,
    smooth,
    stream_id,
    white,
)

if TYPE_CHECKING:
    from plantguard.simulator.faults import FaultBook


@dataclass(frozen=True)
class Snapshot:
    """All point values at one simulated instant, and which stations are silent (dropout)."""

    t: float
    values: dict[str, float]
    offline: frozenset[str]  # areas whose station does not answer


class PlantModel:
    """The demo plant's signals for a given seed. ``value(point, t)`` is the healthy value;
    :meth:`sample` applies the active faults and rounds what the devices report."""

    def __init__(self, plant: Plant, seed: int = 0) -> None:
        self.plant = plant
        self.seed = int(seed)
        rnd = random.Random(self.seed)
        self.profiles: dict[str, Profile] = {}
        self._stream: dict[str, int] = {}
        self._eq_stream: dict[str, int] = {}
        self._area_kind: dict[str, str] = {}
        # Shared terms (ambient per area, lagged schedule, ...) computed once per instant.
        self._memo_t = math.nan
        self._memo: dict[tuple[Any, ...], float] = {}
        for station in plant.stations:
            self._area_kind[station.area] = station.kind
        for eq in plant.equipment:
            self._eq_stream[eq.code] = stream_id(eq.code)
            area_station = plant.station_of_area(eq.area)
            assert area_station is not None
            for p in eq.points:
                self.profiles[p.code] = build_profile(p, eq, area_station, rnd)
                self._stream[p.code] = stream_id(p.code)

    # --- environment -----------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], t: float, compute: Callable[[], float]) -> float:
        if t != self._memo_t:
            self._memo_t = t
            self._memo.clear()
        value = self._memo.get(key)
        if value is None:
            value = self._memo[key] = compute()
        return value

    def lagged(self, t: float, tau: float) -> float:
        """:func:`production_lagged`, shared by every point with the same lag."""
        return self._cached(("lag", tau), t, lambda: production_lagged(t, tau))

    def outdoor(self, t: float) -> float:
        """Outdoor air temperature at the plant (°C)."""
        return 16.5 + 11.5 * seasonal(t) + 4.0 * diurnal(t) + 1.2 * smooth(self.seed, 11, t, 3 * 3600.0)

    def ambient(self, area: str, t: float) -> float:
        """Indoor air temperature of an area (°C)."""
        return self._cached(("ambient", area), t, lambda: self._ambient(area, t))

    def _ambient(self, area: str, t: float) -> float:
        kind = self._area_kind.get(area, "production")
        dev = self.outdoor(t) - 16.5
        local = 0.3 * smooth(self.seed, stream_id(area), t, 1800.0)
        if kind in CONDITIONED:
            return 22.5 + 0.08 * dev + local
        if kind == "electrical_room":
            return 23.0 + 0.12 * dev + 0.8 * self.plant_load(t) + local
        if kind == "utility":
            return 23.0 + 0.4 * dev + 2.0 + local
        return 21.0 + 0.35 * dev + 1.5 * self.lagged(t, 3600.0) + local

    def humidity(self, area: str, t: float) -> float:
        """Indoor relative humidity of an area (%RH): humid summers, drier afternoons."""
        kind = self._area_kind.get(area, "production")
        s = seasonal(t)
        d = diurnal(t)
        local = 2.5 * smooth(self.seed, stream_id(area) ^ 5, t, 2400.0)
        if kind in CONDITIONED:
            return 50.0 + 2.0 * s + local * 0.5
        if kind == "electrical_room":
            return 52.0 + 5.0 * s - 1.5 * d + local
        return 60.0 + 7.0 * s - 3.0 * d + local

    def plant_load(self, t: float) -> float:
        """Electrical load of the plant, 0.55 (everything but production) to 1."""
        return 0.55 + 0.45 * self.lagged(t, 300.0)

    # --- equipment state -------------------------------------------------------------------

    def running(self, eq: SimEquipment, t: float) -> bool:
        """Whether the machine is working now: in service, and for production machines outside
        breaks and outside its short unplanned stops (3 minutes in about 7% of 10-minute slots)."""
        if eq.status != "in_service":
            return False
        if eq.type not in PRODUCTION_TYPES:
            return True
        if not production_on(t):
            return False
        slot = math.floor(t / 600.0)
        stopped = hash_unit(self.seed, self._eq_stream[eq.code], slot, 7) < 0.07 and t - slot * 600.0 < 180.0
        return not stopped

    def _activity(self, prof: Profile, eq: SimEquipment, t: float) -> float:
        if eq.status != "in_service":
            return 0.0
        if prof.activity == "on":
            return 1.0
        if prof.activity == "load":
            return self.plant_load(t)
        if prof.activity == "lag":
            return self.lagged(t, prof.tau) if eq.type in PRODUCTION_TYPES else 1.0
        return 1.0 if self.running(eq, t) else 0.0

    # --- values ----------------------------------------------------------------------------

    def value(self, p: SimPoint, t: float) -> float:
        """The healthy value of a point at simulated epoch seconds ``t`` (clamped to its range)."""
        prof = self.profiles[p.code]
        eq = self.plant.owner(p)
        sid = self._stream[p.code]
        seed = self.seed
        sec = math.floor(t)
        noise = prof.noise * white(seed, sid, sec)
        wander = prof.drift * smooth(seed, sid, t, prof.drift_period) + prof.ripple * smooth(seed, sid ^ 1, t, 45.0)
        kind = prof.kind
        if kind == "climate":
            v = self.ambient(eq.area, t) + wander + noise
        elif kind == "humidity":
            v = self.humidity(eq.area, t) + wander + noise
        elif kind == "outdoor":  # a tank in the sun, with a lot of thermal mass
            v = 16.5 + 10.0 * seasonal(t) + 2.5 * diurnal(t - 7200.0) + wander + noise
        elif kind == "steady":
            act = self._activity(prof, eq, t)
            idle = prof.run if prof.idle is None else prof.idle
            v = idle + (prof.run - idle) * act
            if prof.ambient_gain:
                v += prof.ambient_gain * (self.ambient(eq.area, t) - REFERENCE_AMBIENT)
            scale = 1.0 if prof.idle is None else max(act, 0.15)
            v += (wander + noise) * scale
        else:
            v = self._cyclic(prof, p, eq, t, wander, noise)
        return p.clamp(v)

    def _cyclic(self, prof: Profile, p: SimPoint, eq: SimEquipment, t: float, wander: float, noise: float) -> float:
        seed, sid, eid = self.seed, self._stream[p.code], self._eq_stream[eq.code]
        running = self.running(eq, t)
        kind = prof.kind
        phase_offset = hash_unit(seed, eid, 0, 9) * prof.period
        cycle = (t + phase_offset) / prof.period
        if kind in ("stroke", "stroke_dip"):
            # Strokes are not metronomic (feeding, operator pace): the phase wanders, so a
            # 1 Hz poll catches every part of the stroke rather than aliasing onto one.
            cycle += 3.0 * smooth(seed, eid, t, 240.0)
        phase = cycle - math.floor(cycle)
        if kind == "stroke":
            if not running:
                return abs(noise) * 0.2
            if phase < prof.duty:
                stroke = math.floor(cycle)
                peak = prof.run * (1 + 0.04 * white(seed, sid, stroke))
                return peak * math.sin(math.pi * phase / prof.duty) + noise
            return abs(noise)
        if kind == "stroke_dip":  # clutch air drops a little as the clutch engages
            dip = 0.25 * prof.drift * math.sin(math.pi * phase / prof.duty) if running and phase < prof.duty else 0.0
            return prof.run + wander - dip + noise
        if kind == "weld":
            # A fresh weld measurement every second of the welding phase; held in between.
            if running and phase < prof.duty:
                key = math.floor(t)
            elif running:
                key = math.floor((math.floor(cycle) + prof.duty) * prof.period - phase_offset) - 1
            else:
                key = -1 - math.floor(t / 900.0)
            slow = prof.drift * smooth(seed, sid, key, 900.0)
            return prof.run + slow + prof.noise * white(seed, sid, key)
        if kind == "spray":
            return prof.run + noise if running and phase < prof.duty else 0.0
        if kind == "sawtooth":  # compressor load/unload band, filter loading and pulse cleaning
            return prof.run - prof.drift + 2 * prof.drift * phase + noise
        if kind == "line":
            return prof.run + wander + noise if running and phase < prof.duty else 0.0
        if kind in ("lift", "truck"):
            slot = math.floor(cycle)
            busy = running and hash_unit(seed, eid, slot, 13) < prof.duty
            if not busy:
                return 0.0
            size = prof.low + (1 - prof.low) * hash_unit(seed, sid if kind == "lift" else eid, slot, 17)
            if kind == "lift":
                shape = _trapezoid(phase, 0.1, 0.25, 0.7, 0.85)
                return prof.run * size * shape + noise * shape
            if p.quantity == "speed":  # pick, drive loaded, drop, drive back empty
                driving = 0.15 <= phase < 0.65 or phase >= 0.75
                return prof.run * size * (0.85 if phase < 0.65 else 1.0) + noise if driving else 0.0
            carrying = _trapezoid(phase, 0.05, 0.15, 0.65, 0.72)
            return prof.run * size * carrying + noise * carrying
        return prof.run + wander + noise

    def sample(self, t: float, faults: FaultBook | None = None) -> Snapshot:
        """Every point's reported value at ``t``, faults applied, rounded as a device reports."""
        values: dict[str, float] = {}
        for p in self.plant.points:
            v = self.value(p, t)
            if faults is not None:
                v = faults.apply(self, p, t, v)
            values[p.code] = round(p.clamp(v), 4)
        offline = faults.offline(t) if faults is not None else frozenset()
        return Snapshot(t=t, values=values, offline=offline)


def _trapezoid(x: float, a: float, b: float, c: float, d: float) -> float:
    if x < a or x >= d:
        return 0.0
    if x < b:
        return (x - a) / (b - a)
    if x < c:
        return 1.0
    return (d - x) / (d - c)
