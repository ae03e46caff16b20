"""Per-point behaviour: which :class:`Profile` a measurement point gets, from its quantity,
unit, range and thresholds (as the demo plant's ``point_templates`` define them) and from the
kind of equipment it sits on.

Nominal values sit inside the warning band (the middle of it when a point has low and high
thresholds, a fraction of the high threshold otherwise), so a healthy plant raises no alarm.
Process values that have a *low* threshold (weld current, clutch air pressure, cooling-water
flow ...) are held at their set point while a machine stands still, as weld monitors and PLCs
hold them, so that an idle machine does not read as a low-limit breach.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from plantguard.simulator.plant import SimEquipment, SimPoint, Station
from plantguard.simulator.signals import hash_unit, stream_id

# Equipment that makes parts: follows the production schedule (stops in breaks, has short
# unplanned stops). Everything else (ovens, booths, utilities, detectors) runs continuously.
PRODUCTION_TYPES = frozenset({
    "stamping_press", "hydraulic_press", "blanking_line", "overhead_crane", "handling_robot",
    "spot_welding_robot", "arc_welding_robot", "spot_welder", "laser_welder", "paint_robot",
    "conveyor", "forklift",
})
WELD_TYPES = frozenset({"spot_welding_robot", "arc_welding_robot", "spot_welder", "laser_welder"})
# Areas whose air is conditioned (hazardous stores, paint mixing, offices).
CONDITIONED = frozenset({"hazmat_store", "paint_mixing", "office"})
REFERENCE_AMBIENT = 22.0  # °C at which nominal process temperatures are quoted


@dataclass(frozen=True)
class Profile:
    """How one point behaves. ``run`` is the value while its equipment works, ``idle`` while it
    stands still (``None``: the value is held at ``run``, e.g. a controlled process value)."""

    kind: str
    run: float
    idle: float | None = 0.0
    drift: float = 0.0  # amplitude of the slow drift
    drift_period: float = 900.0
    ripple: float = 0.0  # amplitude of a faster wander (45 s)
    noise: float = 0.0  # white noise amplitude
    activity: str = "run"  # run | lag | load | on: what drives run/idle
    tau: float = 0.0  # lag (s) when activity == "lag"
    ambient_gain: float = 0.0  # how much of the area's ambient deviation shows in the value
    period: float = 60.0  # cycle of strokes, welds, sprays, lifts, trips
    duty: float = 0.5
    low: float = 0.0  # lower amplitude bound of intermittent values (fraction of ``run``)


def _band(p: SimPoint) -> tuple[float | None, float | None]:
    lo = p.low_warning if p.low_warning is not None else p.low_alarm
    hi = p.high_warning if p.high_warning is not None else p.high_alarm
    return lo, hi


def _span(p: SimPoint) -> float:
    if p.range_low is not None and p.range_high is not None:
        return p.range_high - p.range_low
    return 100.0


def build_profile(p: SimPoint, eq: SimEquipment, station: Station, rnd: random.Random) -> Profile:
    """The behaviour of one point, from its quantity, thresholds and equipment type."""
    lo, hi = _band(p)
    jit = rnd.uniform(-1.0, 1.0)
    span = _span(p)
    rlo = p.range_low if p.range_low is not None else 0.0
    rhi = p.range_high if p.range_high is not None else rlo + span
    mid = (lo + hi) / 2 if lo is not None and hi is not None else None
    half = (hi - lo) / 2 if lo is not None and hi is not None else span * 0.1
    held = lo is not None  # low-thresholded values are held while idle
    q, typ, sfx = p.quantity, eq.type, p.suffix

    if p.is_bool:  # an on/off signal: on while the equipment works
        return Profile("steady", run=1.0, idle=0.0, activity="run")
    if q == "temperature":
        if typ == "env_monitor":
            return Profile("climate", run=0.0, noise=0.08, ripple=0.15)
        if typ == "storage_tank":
            return Profile("outdoor", run=0.0, noise=0.03, ripple=0.1)
        if mid is not None:  # controlled process temperature (ovens, baths, booths, chillers)
            return Profile("steady", run=mid + 0.15 * half * jit, idle=None, drift=0.12 * half,
                           ripple=0.05 * half, noise=0.04 * half, activity="on", ambient_gain=0.05)
        if hi is not None and hi < REFERENCE_AMBIENT:  # e.g. a dryer's pressure dew point
            return Profile("steady", run=hi - 0.15 * (hi - rlo), idle=None, drift=0.04 * (hi - rlo),
                           noise=0.01 * (hi - rlo), activity="on")
        top = hi if hi is not None else rlo + 0.6 * span
        frac = {"dc_panel": 0.25, "air_compressor": 0.7, "cooling_tower": 0.35}.get(typ, 0.55)
        run = REFERENCE_AMBIENT + frac * (top - REFERENCE_AMBIENT) * (1 + 0.06 * jit)
        load = typ in ("dry_transformer", "mv_switchgear", "lv_switchgear")
        tau = {"stamping_press": 1500.0, "hydraulic_press": 1500.0, "blanking_line": 1500.0}.get(typ, 900.0)
        return Profile("steady", run=run, idle=REFERENCE_AMBIENT, drift=0.03 * (run - REFERENCE_AMBIENT) + 0.2,
                       ripple=0.1, noise=0.05 + 0.002 * run, activity="load" if load else "lag", tau=tau,
                       ambient_gain=0.4 if typ == "cooling_tower" else 1.0)
    if q == "humidity":
        if typ == "env_monitor":
            return Profile("humidity", run=0.0, noise=0.3, ripple=0.8)
        base = mid if mid is not None else 0.5 * span
        return Profile("steady", run=base + 0.1 * half * jit, idle=None, drift=0.25 * half, ripple=0.08 * half,
                       noise=0.04 * half, activity="on")
    if q == "vibration":
        top = hi if hi is not None else 0.2 * span
        run = 0.42 * top * (1 + 0.12 * jit)
        return Profile("steady", run=run, idle=0.04, drift=0.08 * run, ripple=0.05 * run, noise=0.06 * run)
    if q == "gas_lel":
        top = hi if hi is not None else 10.0
        frac = {"paint_booth": 0.15, "curing_oven": 0.3, "rto": 0.45, "paint_mixing_system": 0.12,
                "hydrogen_detector": 0.08, "confined_space": 0.08}.get(typ, 0.03)
        run = frac * top * (1 + 0.2 * jit)
        return Profile("steady", run=run, idle=None, drift=0.25 * run, drift_period=300.0, ripple=0.15 * run,
                       noise=0.06 * run + 0.03, activity="on")
    if q == "gas_o2":
        return Profile("steady", run=20.9, idle=None, drift=0.06, noise=0.03, activity="on")
    if q in ("gas_h2s", "gas_co"):
        top = hi if hi is not None else 0.1 * span
        run = 0.1 * top * (1 + 0.3 * jit)
        return Profile("steady", run=run, idle=None, drift=0.6 * run, drift_period=1800.0, noise=0.1 * run,
                       activity="on")
    if q == "force" and typ in ("stamping_press", "hydraulic_press"):
        top = hi if hi is not None else 0.8 * span
        return Profile("stroke", run=(0.6 + 0.08 * jit) * top, noise=0.004 * top, period=_stroke_period(eq),
                       duty=0.25)
    if typ in WELD_TYPES and q in ("current", "force", "speed", "power"):
        base = mid if mid is not None else 0.5 * span
        return Profile("weld", run=base + 0.1 * half * jit, idle=None, noise=0.12 * half, drift=0.1 * half,
                       period=55.0 + 10.0 * jit, duty=0.7)
    if typ == "paint_robot" and (sfx in ("FLW", "HV") or (not held and q in ("flow", "voltage"))):
        top = hi if hi is not None else 0.6 * span
        return Profile("spray", run=(0.8 if hi is not None else 0.9) * top, noise=0.02 * top, period=72.0,
                       duty=0.7)
    if typ == "overhead_crane" and q == "load":
        top = hi if hi is not None else 0.8 * span
        return Profile("lift", run=0.75 * top, low=0.1, noise=0.002 * top, period=150.0 + 30.0 * jit, duty=0.55)
    if typ == "forklift" and q in ("load", "speed"):
        top = hi if hi is not None else 0.8 * span
        frac = 0.8 if q == "speed" else 0.75
        # Speed and load share the truck's trip cycle, so the period is the truck's, not the point's.
        trip = 110.0 + 20.0 * (hash_unit(stream_id(eq.code), 5) * 2 - 1)
        return Profile("truck", run=frac * top, low=0.15 if q == "load" else 0.6, noise=0.01 * top,
                       period=trip, duty=0.7)
    if (typ == "air_compressor" and q == "pressure") or typ == "air_receiver":
        base = mid if mid is not None else 0.5 * span
        return Profile("sawtooth", run=base, idle=None, drift=0.3 * half, noise=0.03 * half,
                       period=80.0 + 15.0 * jit, activity="on")
    if typ == "fume_extractor" and q == "differential_pressure":
        top = hi if hi is not None else 0.6 * span
        return Profile("sawtooth", run=0.55 * top, idle=None, drift=0.12 * top, noise=0.01 * top,
                       period=2700.0, activity="on")
    if q == "pressure" and typ == "stamping_press" and sfx == "CAP":
        base = mid if mid is not None else 0.5 * span
        return Profile("stroke_dip", run=base + 0.1 * half * jit, idle=None, drift=0.15 * half,
                       noise=0.05 * half, period=_stroke_period(eq), duty=0.25)
    if q in ("load_rate", "current") and typ in ("dry_transformer", "lv_switchgear"):
        top = hi if hi is not None else 0.8 * span
        return Profile("steady", run=0.62 * top * (1 + 0.05 * jit), idle=0.35 * top, drift=0.03 * top,
                       ripple=0.01 * top, noise=0.005 * top, activity="load")
    if q == "current":  # e.g. a forklift charger: charging sessions come and go
        top = hi if hi is not None else 0.5 * span
        return Profile("steady", run=0.45 * top, idle=None, drift=0.3 * top, drift_period=1800.0,
                       noise=0.01 * top, activity="on")
    if q == "level":
        base = mid if mid is not None else (0.6 * hi if hi is not None else 0.5 * span)
        amp = half if mid is not None else 0.2 * base
        return Profile("steady", run=base, idle=None, drift=0.55 * amp, drift_period=6 * 3600.0,
                       ripple=0.03 * amp, noise=0.005 * span, activity="on")
    if q == "speed" and not held:  # e.g. a blanking line's speed: coil changes stop it
        return Profile("line", run=0.55 * (hi if hi is not None else span), noise=0.004 * span,
                       drift=0.03 * span, period=2400.0, duty=0.92)
    # Everything else: a steady value in the middle of its band.
    if mid is not None:
        return Profile("steady", run=mid + 0.1 * half * jit, idle=None if held else 0.0, drift=0.1 * half,
                       ripple=0.04 * half, noise=0.03 * half, activity="on" if held else "run")
    if lo is not None:
        run = lo + 0.6 * (rhi - lo)
        d = 0.15 * (run - lo)
        return Profile("steady", run=run, idle=None, drift=d, ripple=0.2 * d, noise=0.1 * d, activity="on")
    top = hi if hi is not None else rlo + span
    run = rlo + 0.65 * (top - rlo) if hi is not None else rlo + 0.5 * span
    d = 0.06 * (top - rlo)
    return Profile("steady", run=run, idle=rlo, drift=d, ripple=0.3 * d, noise=0.1 * d,
                   activity="run" if typ in PRODUCTION_TYPES else "on")


def _stroke_period(eq: SimEquipment) -> float:
    """Seconds per stroke: big presses run slower (8 strokes/min above 10 MN, 12 above 5 MN)."""
    rating = max((p.high_warning or p.range_high or 0.0 for p in eq.points if p.quantity == "force"), default=0.0)
    spm = 8.0 if rating > 10_000 else 12.0 if rating > 5_000 else 16.0
    return 60.0 / spm
