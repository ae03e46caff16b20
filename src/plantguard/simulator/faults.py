"""The five fault scenarios the simulator can play, and the book of active faults.

=============  ==============================================================================
micro-leak     Hydraulic micro-leak on a press: the protection pressure decays slowly
               (accelerating) while the oil temperature rises; the pressure crosses its
               ``low_alarm`` only 22-28 simulated minutes after the start, so a trend detector
               has time to catch it first. Default: the first stamping press.
bearing-wear   Vibration RMS trends up (quadratically, with growing impacts) and reaches about
               110% of ``high_alarm`` after ~2 simulated hours; the bearing temperature climbs
               with it. Default: the first exhaust fan (the paint-mixing room's).
gas-leak       Solvent vapour %LEL rises within minutes to well above ``high_alarm``, with a
               fluctuating plume; other detectors on the same equipment see half of it, a
               minute later. Default: the paint-mixing system.
sensor-stuck   A reading freezes at the value it had when the fault started (all readings of
               an equipment item if an item is named). Default: the first paint booth's %LEL.
dropout        A station (an area's field controller) stops answering: Modbus requests to its
               unit id get no response, its OPC UA values turn Bad, its MQTT messages stop.
               Default: the air-compressor station.
=============  ==============================================================================

A fault is a pure function of (its start time, the seed, its target, its time scale), so a
scenario replays identically. The time scale runs the fault's own clock faster than the plant's
(``scale`` 20: twenty simulated seconds of the fault per second of plant time) without changing
the plant's clock or the readings' timestamps; a demo uses it to show a slow fault such as the
micro-leak within a minute or two (``plantguard simulate trigger micro-leak --time-scale 20``).
Targets are equipment codes (``EQ-ST-001``), equipment tags (``ST-P01``), point
codes (``ST-P01-HP``) or, for ``dropout``, area codes (``AC``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from plantguard.core.i18n import N_
from plantguard.simulator.plant import Plant, SimEquipment, SimPoint
from plantguard.simulator.signals import hash_unit, smooth, stream_id

if TYPE_CHECKING:
    from plantguard.simulator.model import PlantModel

MICRO_LEAK = "micro-leak"
BEARING_WEAR = "bearing-wear"
GAS_LEAK = "gas-leak"
SENSOR_STUCK = "sensor-stuck"
DROPOUT = "dropout"


class FaultError(ValueError):
    """A fault cannot be started or cleared as asked (unknown fault, unsuitable target)."""


MAX_TIME_SCALE = 3600.0


def check_scale(scale: float) -> None:
    """A time scale is a finite number in (0, MAX_TIME_SCALE]; anything else is a FaultError."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) \
            or not 0 < scale <= MAX_TIME_SCALE:
        raise FaultError(f"time_scale: must be a number above 0 and at most {MAX_TIME_SCALE:g}, not {scale!r}")


@dataclass(frozen=True)
class FaultInfo:
    name: str
    title: str  # message id, translated where shown
    description: str  # message id


FAULTS: dict[str, FaultInfo] = {
    MICRO_LEAK: FaultInfo(
        MICRO_LEAK, N_("Hydraulic micro-leak"),
        N_("Hydraulic pressure decays slowly while the oil temperature rises; the low-pressure alarm "
           "trips only after 20 to 30 minutes."),
    ),
    BEARING_WEAR: FaultInfo(
        BEARING_WEAR, N_("Bearing wear"),
        N_("Vibration trends up over about two hours, with a rising bearing temperature."),
    ),
    GAS_LEAK: FaultInfo(
        GAS_LEAK, N_("Solvent vapour leak"),
        N_("The flammable vapour concentration (%LEL) rises above the alarm level within minutes."),
    ),
    SENSOR_STUCK: FaultInfo(
        SENSOR_STUCK, N_("Stuck sensor"), N_("A reading freezes at its current value."),
    ),
    DROPOUT: FaultInfo(
        DROPOUT, N_("Communication dropout"),
        N_("A field controller stops answering: Modbus requests time out, OPC UA values turn Bad "
           "and MQTT messages stop."),
    ),
}


@dataclass(frozen=True)
class ActiveFault:
    kind: str
    target: str  # the resolved target: equipment code, point code or area code
    started_at: float  # simulated epoch seconds
    points: tuple[str, ...] = ()  # affected points, the primary one first
    area: str | None = None  # dropout: the silent station's area
    params: dict[str, float] = field(default_factory=dict)
    frozen: dict[str, float] = field(default_factory=dict)  # sensor-stuck: the held values
    scale: float = 1.0  # the fault's clock runs this many times faster than the plant's

    def elapsed(self, t: float) -> float:
        """Time into the fault (on its own clock) at plant time ``t``."""
        return max(0.0, t - self.started_at) * self.scale

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fault": self.kind,
            "target": self.target,
            "started_at": datetime.fromtimestamp(self.started_at, UTC).isoformat().replace("+00:00", "Z"),
            "points": list(self.points),
        }
        if self.area is not None:
            out["area"] = self.area
        if self.scale != 1.0:
            out["time_scale"] = self.scale
        if now is not None:
            out["elapsed_s"] = round(self.elapsed(now), 1)
        return out


# ---------------------------------------------------------------------------------------------
# Targets


def _first(items: Iterable[SimEquipment], pred: Callable[[SimEquipment], bool]) -> SimEquipment | None:
    return next((eq for eq in items if pred(eq)), None)


def _points(eq: SimEquipment, pred: Callable[[SimPoint], bool]) -> list[SimPoint]:
    return [p for p in eq.points if pred(p)]


def _leak_point(p: SimPoint) -> bool:
    return p.quantity == "pressure" and p.low_alarm is not None


def _vib(p: SimPoint) -> bool:
    return p.quantity == "vibration"


def _lel(p: SimPoint) -> bool:
    return p.quantity == "gas_lel"


def default_target(plant: Plant, kind: str) -> str:
    """The target a fault gets when none is named."""
    eqs = plant.equipment

    def pick(preferred: str, pred: Callable[[SimPoint], bool]) -> SimEquipment | None:
        return _first(eqs, lambda e: e.type == preferred and bool(_points(e, pred))) or _first(
            eqs, lambda e: bool(_points(e, pred))
        )

    found: SimEquipment | None
    if kind == MICRO_LEAK:
        found = pick("stamping_press", _leak_point)
    elif kind == BEARING_WEAR:
        found = pick("exhaust_fan", _vib)
    elif kind == GAS_LEAK:
        found = pick("paint_mixing_system", _lel)
    elif kind == SENSOR_STUCK:
        found = pick("paint_booth", _lel)
        if found is not None:
            return _points(found, _lel)[0].code
        return plant.points[0].code
    elif kind == DROPOUT:
        found = _first(eqs, lambda e: e.type == "air_compressor") or eqs[0]
        return found.area
    else:
        raise FaultError(f"fault: unknown fault {kind!r}; one of {', '.join(FAULTS)}")
    if found is None:
        raise FaultError(f"{kind}: the plant has no equipment this fault applies to")
    return found.code


def _resolve(plant: Plant, target: str) -> tuple[SimEquipment, SimPoint | None]:
    point = plant.point(target)
    if point is not None:
        return plant.owner(point), point
    eq = plant.equipment_of(target)
    if eq is not None:
        return eq, None
    raise FaultError(f"target: no equipment or point {target!r}")


# ---------------------------------------------------------------------------------------------
# The book


class FaultBook:
    """The faults active in one simulator. Not thread-safe: call it from the simulator's loop."""

    def __init__(self, plant: Plant, seed: int = 0) -> None:
        self.plant = plant
        self.seed = int(seed)
        self.active: list[ActiveFault] = []

    def trigger(self, model: PlantModel, kind: str, target: str | None, t: float, scale: float = 1.0) -> ActiveFault:
        """Start a fault at simulated time ``t``, its own clock running ``scale`` times faster than
        the plant's. Starting a fault that is already active on the same target returns the running
        one unchanged."""
        if kind not in FAULTS:
            raise FaultError(f"fault: unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        check_scale(scale)
        target = (target or "").strip() or default_target(self.plant, kind)
        fault = replace(self._build(model, kind, target, t), scale=float(scale))
        for existing in self.active:
            if existing.kind == fault.kind and existing.target == fault.target:
                return existing
        self.active.append(fault)
        return fault

    def clear(self, kind: str | None = None, target: str | None = None) -> list[ActiveFault]:
        """End the faults matching ``kind`` and affecting ``target`` (``None`` matches all): a
        target matches faults on it, on its equipment, on its points, and a dropout of its
        station. The plant reads healthy again at once, as after a repair. Returns the faults
        ended."""
        if kind is not None and kind not in FAULTS:
            raise FaultError(f"fault: unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        names: set[str] = set()
        if target:
            names.add(target)
            point = self.plant.point(target)
            eq = self.plant.owner(point) if point is not None else self.plant.equipment_of(target)
            if eq is not None:
                names.update({eq.code, eq.area})
        ended = [
            f for f in self.active
            if (kind is None or f.kind == kind) and (not names or f.target in names or names & set(f.points))
        ]
        self.active = [f for f in self.active if f not in ended]
        return ended

    def offline(self, t: float) -> frozenset[str]:
        return frozenset(f.area for f in self.active if f.kind == DROPOUT and f.area and t >= f.started_at)

    def apply(self, model: PlantModel, p: SimPoint, t: float, value: float) -> float:
        """The point's value with the active faults applied."""
        stuck: float | None = None
        for f in self.active:
            if p.code not in f.points or t < f.started_at:
                continue
            if f.kind == SENSOR_STUCK:
                stuck = f.frozen[p.code]
            else:
                value = self._effect(model, f, p, t, value)
        return value if stuck is None else stuck

    # --- building and playing faults ------------------------------------------------------

    def _jitter(self, kind: str, target: str) -> float:
        """A number in [0, 1) fixed by the seed, the fault and its target."""
        return hash_unit(self.seed, stream_id(kind), stream_id(target), 31)

    def _build(self, model: PlantModel, kind: str, target: str, t: float) -> ActiveFault:
        plant = self.plant
        if kind == DROPOUT:
            station = plant.station_of_area(target)
            if station is None:
                eq, _ = _resolve(plant, target)
                station = plant.station_of_area(eq.area)
            if station is None:
                raise FaultError(f"target: no station for {target!r}")
            return ActiveFault(kind, station.area, t, tuple(p.code for p in station.points), area=station.area)
        eq, point = _resolve(plant, target)
        if kind == SENSOR_STUCK:
            chosen = [point] if point is not None else list(eq.points)
            frozen = {p.code: round(p.clamp(self.apply(model, p, t, model.value(p, t))), 4) for p in chosen}
            return ActiveFault(kind, point.code if point else eq.code, t, tuple(frozen), frozen=frozen)
        j = self._jitter(kind, point.code if point else eq.code)
        if kind == MICRO_LEAK:
            if point is not None and not _leak_point(point):
                raise FaultError(f"target: {point.code} is not a pressure point with a low alarm")
            leak = point or next(iter(_points(eq, _leak_point)), None)
            if leak is None:
                raise FaultError(f"target: {eq.code} has no pressure point with a low alarm")
            temps = _points(eq, lambda p: p.quantity == "temperature")
            params = {"cross_s": (24.0 + 4.0 * j) * 60.0, "rise": 10.0}
            codes = (leak.code, *(p.code for p in temps[:1]))
            return ActiveFault(kind, leak.code if point else eq.code, t, codes, params=params)
        if kind == BEARING_WEAR:
            vibs = [point] if point is not None and _vib(point) else _points(eq, _vib)
            if point is not None and not _vib(point):
                raise FaultError(f"target: {point.code} is not a vibration point")
            if not vibs:
                raise FaultError(f"target: {eq.code} has no vibration point")
            temps = _points(eq, lambda p: p.quantity == "temperature" and p.suffix in ("BT", "MT"))
            params = {"full_s": (1.8 + 0.4 * j) * 3600.0}
            codes = tuple(p.code for p in [*vibs, *temps])
            return ActiveFault(kind, point.code if point else eq.code, t, codes, params=params)
        # GAS_LEAK
        if point is not None and not _lel(point):
            raise FaultError(f"target: {point.code} is not a flammable-gas (%LEL) point")
        lels = _points(eq, _lel)
        if not lels:
            raise FaultError(f"target: {eq.code} has no flammable-gas (%LEL) point")
        if point is not None:
            lels = [point, *(p for p in lels if p.code != point.code)]
        params = {"rise_s": 200.0 + 80.0 * j}
        return ActiveFault(kind, point.code if point else eq.code, t, tuple(p.code for p in lels), params=params)

    def _effect(self, model: PlantModel, f: ActiveFault, p: SimPoint, t: float, value: float) -> float:
        tau = f.elapsed(t)
        prof = model.profiles[p.code]
        if f.kind == MICRO_LEAK:
            x = tau / f.params["cross_s"]
            if p.quantity == "pressure":
                assert p.low_alarm is not None
                drop = max(prof.run - p.low_alarm, 0.0) * float(x**1.5)
                return max(value - drop, 0.35 * prof.run)
            # Oil heats as it throttles through the leak: +rise at the crossing, capped.
            return value + min(f.params["rise"] * x, 1.8 * f.params["rise"])
        if f.kind == BEARING_WEAR:
            x = min(tau / f.params["full_s"], 1.5)
            if p.quantity == "vibration":
                top = p.high_alarm if p.high_alarm is not None else (p.high_warning or prof.run * 3) * 1.5
                gain = max(1.1 * top / max(prof.run, 1e-6) - 1.0, 0.0)
                impact = 0.25 * x if hash_unit(self.seed, stream_id(p.code), math.floor(t), 37) < 0.12 else 0.0
                return value * (1.0 + gain * x * x + impact)
            return value + 18.0 * x * x
        if f.kind == GAS_LEAK:
            primary = p.code == f.points[0]
            delay = 0.0 if primary else 60.0
            tau = max(tau - delay, 0.0)
            top = p.high_alarm if p.high_alarm is not None else 25.0
            peak = min(1.6 * top, 0.9 * (p.range_high or 100.0)) * (1.0 if primary else 0.5)
            plume = 1.0 + 0.15 * smooth(self.seed, stream_id(p.code) ^ 41, t, 20.0)
            return value + peak * (1.0 - math.exp(-tau / f.params["rise_s"])) * plume
        return value
