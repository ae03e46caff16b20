"""A seeded production history of the demo plant, written as the importers' CSV files.

What it simulates, per machine (stamping presses; welding and paint robots by default):

- work orders one after another: **changeover** (die, fixture or colour change), then
  **first-piece debugging** until the first part passes inspection, then **steady
  production**; now and then **idle** time between orders and planned **maintenance**;
- PLC events (alarms, faults, incidents) as a Poisson process whose rate depends on the
  phase, plus the stop and start the PLC logs around each changeover;
- the shift teams' badge reads in their workshop (UWB or RFID), with meal breaks, and the
  maintenance fitters' visits;
- temperature and humidity of the workshops' environment monitors every 10 minutes.

The one pattern planted in the events: first-piece debugging after a changeover runs at
``first_piece_factor`` times the plant's mean event rate (the field reports about 4×:
setters work inside the guarded area with interlocks bridged, dies are not yet shimmed,
sensors not yet taught). The rates are calibrated on the generated schedule so that the
ratio holds exactly in expectation; every other phase shares one base rate unless
``phase_factors`` says otherwise. With ``first_piece_factor=1`` the events carry no phase
pattern at all.

Everything is a function of the seed: the same arguments write the same bytes.

Usage: ``python -m plantguard.simulator.production OUT_DIR --days 60 --seed 1 --factor 4``.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from plantguard.demo.seed import load_plant

PLANT_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_START = date(2026, 3, 2)  # a Monday; fixed so that a seed always means the same history
DEFAULT_TYPES = ("stamping_press", "spot_welding_robot", "arc_welding_robot", "paint_robot")
BASE_RATE_PER_H = 0.3  # risk events per machine-hour outside first-piece debugging

HOUR = 3600
MIN = 60

FILES = {
    "mes_phases": "mes_phases.csv",
    "plc_events": "plc_events.csv",
    "zone_entries": "zone_entries.csv",
    "environment": "environment.csv",
}

# Per equipment type: products, what a changeover changes, and the PLC's event codes.
_PRODUCTS = {
    "stamping_press": ["5701-110 左前门外板", "5701-120 右前门外板", "5702-210 发动机罩内板", "5703-010 顶盖",
                       "5704-330 B 柱加强板", "5705-410 后地板"],
    "spot_welding_robot": ["6101 左侧围总成", "6102 右侧围总成", "6201 地板总成", "6301 白车身主焊"],
    "arc_welding_robot": ["6401 后桥总成", "6402 副车架总成"],
    "paint_robot": ["7101 中涂 灰", "7201 面漆 珠光白", "7202 面漆 星空蓝", "7301 清漆"],
}
_CODES: dict[str, list[tuple[str, str, str, int]]] = {  # (kind, code, message, severity)
    "stamping_press": [
        ("alarm", "A101", "滑块过载保护动作", 4), ("alarm", "A102", "离合制动器气压低", 4),
        ("alarm", "A205", "模具检测信号异常（送料不到位）", 3), ("alarm", "A210", "双料检测报警", 3),
        ("fault", "F301", "液压过载系统故障", 6), ("fault", "F320", "主电机过热", 6),
        ("incident", "I901", "安全光幕触发急停（人员进入危险区）", 9),
    ],
    "spot_welding_robot": [
        ("alarm", "A401", "焊接电流超限", 4), ("alarm", "A402", "电极帽修磨到期", 3),
        ("alarm", "A410", "焊钳冷却水流量低", 4), ("fault", "F501", "伺服焊钳位置偏差", 6),
        ("incident", "I902", "安全门打开急停（人员进入工作站）", 9),
    ],
    "arc_welding_robot": [
        ("alarm", "A420", "送丝不畅", 3), ("alarm", "A421", "保护气流量低", 4), ("fault", "F510", "焊枪碰撞检测", 6),
        ("incident", "I903", "弧光防护帘未关闭时起弧", 9),
    ],
    "paint_robot": [
        ("alarm", "A601", "旋杯转速偏差", 3), ("alarm", "A602", "高压静电电流超限", 4),
        ("fault", "F701", "换色阀泄漏", 6), ("incident", "I904", "喷漆室内检测到人员时机器人未停止", 9),
    ],
}
_KIND_WEIGHTS = {"alarm": 0.80, "fault": 0.17, "incident": 0.03}
_WORKSHOP_SOURCE = {"ST": "uwb", "WD": "rfid", "PT": "uwb"}
_SHIFT_TEAMS = {"ST": ("ST1", "ST2"), "WD": ("WD1", "WD2"), "PT": ("PT1", "PT2")}
_CLIMATE = {  # area: (mean °C, daily swing °C, mean %RH)
    "ST": (24.0, 3.5, 58.0), "WD": (27.0, 4.0, 52.0), "PT": (23.0, 1.0, 62.0),
}


@dataclass
class Span:
    equipment: str
    phase: str
    start: int  # seconds since the epoch
    end: int
    order_no: str = ""
    product: str = ""


@dataclass
class Machine:
    code: str
    type: str
    area: str


@dataclass
class History:
    spans: list[Span] = field(default_factory=list)
    events: list[tuple[int, str, str, str, int, str]] = field(default_factory=list)  # (µs, eq, code, kind, sev, msg)
    entries: list[tuple[str, str, str, int, int | None, str]] = field(default_factory=list)  # person, badge, area,..
    environment: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (s, point code → value)
    env_points: list[str] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)  # phase → events per machine-hour
    mean_rate: float = 0.0


@dataclass
class HistoryFiles:
    directory: Path
    paths: dict[str, Path]
    history: History


def demo_machines(types: Sequence[str] = DEFAULT_TYPES, plant: Mapping[str, Any] | None = None) -> list[Machine]:
    """In-service machines of the given types from the demo plant, in plant order."""
    plant = plant or load_plant()
    return [Machine(str(e["code"]), str(e["type"]), str(e["area"])) for e in plant["equipment"]
            if e["type"] in types and e.get("status", "in_service") == "in_service"]


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=PLANT_TZ).timestamp())


def schedule(machines: Sequence[Machine], start: int, end: int, rng: random.Random) -> list[Span]:
    """Each machine's phases from ``start`` to ``end``, back to back."""
    spans: list[Span] = []
    for m in machines:
        t = start + int(rng.uniform(0, 2 * HOUR))
        spans.append(Span(m.code, "idle", start, t))
        n = 0
        while t < end:
            local = datetime.fromtimestamp(t, PLANT_TZ)
            if local.weekday() == 6:  # Sundays: no production
                monday = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PLANT_TZ)
                nxt = min(end, int(monday.timestamp()) + int(rng.uniform(0, HOUR)))
                spans.append(Span(m.code, "idle", t, nxt))
                t = nxt
                continue
            if rng.random() < 0.04:
                dur = int(rng.uniform(2, 4) * HOUR)
                spans.append(Span(m.code, "maintenance", t, min(end, t + dur)))
                t += dur
                continue
            n += 1
            order_no = f"WO{local:%y%m%d}-{m.code.removeprefix('EQ-')}-{n:04d}"
            product = rng.choice(_PRODUCTS[m.type])
            for phase, lo, hi in (("changeover", 25 * MIN, 60 * MIN), ("first_piece", 20 * MIN, 45 * MIN),
                                  ("steady", 3 * HOUR, 9 * HOUR)):
                if t >= end:
                    break
                dur = int(rng.uniform(lo, hi))
                spans.append(Span(m.code, phase, t, min(end, t + dur), order_no, product))
                t += dur
            if t < end and rng.random() < 0.3:
                dur = int(rng.uniform(15 * MIN, 90 * MIN))
                spans.append(Span(m.code, "idle", t, min(end, t + dur)))
                t += dur
    return [s for s in spans if s.end > s.start]


def calibrate(spans: Sequence[Span], first_piece_factor: float, base_rate: float,
              phase_factors: Mapping[str, float]) -> tuple[dict[str, float], float]:
    """Rates per phase such that first-piece debugging runs at ``first_piece_factor`` × the
    exposure-weighted mean rate: λ_fp = F·S / (T − F·T_fp), S = Σ_{p≠fp} λ_p T_p."""
    exposure: dict[str, float] = {}
    for s in spans:
        exposure[s.phase] = exposure.get(s.phase, 0.0) + (s.end - s.start) / HOUR
    total = sum(exposure.values())
    rates = {p: base_rate * phase_factors.get(p, 1.0) for p in exposure if p != "first_piece"}
    others = sum(rates[p] * exposure[p] for p in rates)
    t_fp = exposure.get("first_piece", 0.0)
    if first_piece_factor * t_fp >= total:
        raise ValueError("first_piece_factor too large for the share of first-piece time")
    rates["first_piece"] = first_piece_factor * others / (total - first_piece_factor * t_fp)
    mean = (others + rates["first_piece"] * t_fp) / total
    return rates, mean


def _poisson_times(rng: random.Random, rate_per_s: float, start: int, end: int) -> list[float]:
    out: list[float] = []
    if rate_per_s <= 0:
        return out
    t = start + rng.expovariate(rate_per_s)
    while t < end:
        out.append(t)
        t += rng.expovariate(rate_per_s)
    return out


def plc_events(spans: Sequence[Span], machines: Mapping[str, Machine], rates: Mapping[str, float],
               rng: random.Random) -> list[tuple[int, str, str, str, int, str]]:
    events: dict[tuple[int, str, str], tuple[int, str, str, str, int, str]] = {}
    kinds = list(_KIND_WEIGHTS)
    weights = list(_KIND_WEIGHTS.values())
    for s in spans:
        codes = _CODES[machines[s.equipment].type]
        if s.phase == "changeover":
            us = s.start * 1_000_000
            events[(us, s.equipment, "S001")] = (us, s.equipment, "S001", "stop", 0, "换型停机")
        if s.phase == "steady":
            us = s.start * 1_000_000
            events[(us, s.equipment, "S002")] = (us, s.equipment, "S002", "start", 0, "首件合格，转入批量生产")
        for t in _poisson_times(rng, rates[s.phase] / HOUR, s.start, s.end):
            kind = rng.choices(kinds, weights)[0]
            kind_codes = [c for c in codes if c[0] == kind]
            _k, code, message, severity = rng.choice(kind_codes)
            us = int(t * 1000) * 1000  # PLC logs keep milliseconds
            events.setdefault((us, s.equipment, code), (us, s.equipment, code, kind, severity, message))
    return sorted(events.values())


def zone_entries(plant: Mapping[str, Any], machines: Sequence[Machine], spans: Sequence[Span], start: int, end: int,
                 rng: random.Random) -> list[tuple[str, str, str, int, int | None, str]]:
    """Shift teams in their workshops (day 08–20, night 20–08, a meal break each), the
    maintenance fitters during maintenance, and a visitor's badge now and then."""
    team_people: dict[str, list[str]] = {}
    for p in plant["people"]:
        if p.get("team"):
            team_people.setdefault(str(p["team"]), []).append(str(p["employee_no"]))
    areas = sorted({m.area for m in machines if m.area in _SHIFT_TEAMS})
    out: list[tuple[str, str, str, int, int | None, str]] = []

    def visit(person: str, badge: str, area: str, t_in: float, t_out: float) -> None:
        if t_out > t_in and t_in < end:
            out.append((person, badge, area, int(t_in), int(min(t_out, end)), _WORKSHOP_SOURCE[area]))

    day = datetime.fromtimestamp(start, PLANT_TZ).date()
    while _epoch(day) < end:
        if day.weekday() != 6:
            for area in areas:
                for shift, team in enumerate(_SHIFT_TEAMS[area]):
                    s0 = _epoch(day) + (8 if shift == 0 else 20) * HOUR
                    for person in team_people.get(team, []):
                        badge = f"TAG-{person}"
                        t_in = s0 - rng.uniform(5, 20) * MIN
                        brk = s0 + rng.uniform(4.5, 5.5) * HOUR
                        back = brk + rng.uniform(30, 45) * MIN
                        t_out = s0 + 12 * HOUR + rng.uniform(2, 20) * MIN
                        if t_in >= start:
                            visit(person, badge, area, t_in, brk)
                            visit(person, badge, area, back, t_out)
                if rng.random() < 0.3:
                    t_in = _epoch(day) + rng.uniform(9, 16) * HOUR
                    visit("", f"VISITOR-{rng.randint(1, 20):02d}", area, t_in, t_in + rng.uniform(20, 90) * MIN)
        day += timedelta(days=1)
    area_of = {m.code: m.area for m in machines}
    fitters = team_people.get("MNT", [])[1:]
    for s in spans:
        area = area_of[s.equipment]
        if s.phase == "maintenance" and fitters and area in _WORKSHOP_SOURCE:
            who = fitters[int(rng.random() * len(fitters))]
            visit(who, f"TAG-{who}", area, s.start + rng.uniform(0, 10) * MIN, s.end + rng.uniform(0, 10) * MIN)
    out.sort(key=lambda r: (r[3], r[2], r[1]))
    # Two reads of one badge in one area at one second would be the same row: keep one.
    seen: set[tuple[str, int, str]] = set()
    unique = []
    for r in out:
        key = (r[2], r[3], r[1])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


def environment(plant: Mapping[str, Any], machines: Sequence[Machine], start: int, end: int, rng: random.Random,
                step_s: int = 10 * MIN) -> tuple[list[str], list[tuple[int, dict[str, float]]]]:
    """Temperature and humidity of the workshops' environment monitors: a daily cycle
    (warmest at 14:00), a slow weather drift and sensor noise."""
    areas = {m.area for m in machines}
    monitors = [(str(e["area"]), str(e.get("tag") or str(e["code"]).removeprefix("EQ-")))
                for e in plant["equipment"] if e["type"] == "env_monitor" and e["area"] in areas
                and e["area"] in _CLIMATE]
    points = [f"{tag}-{suffix}" for _area, tag in monitors for suffix in ("TMP", "RH")]
    rows: list[tuple[int, dict[str, float]]] = []
    drift = {tag: 0.0 for _a, tag in monitors}
    t = start - start % step_s
    while t < end:
        local = datetime.fromtimestamp(t, PLANT_TZ)
        hour = local.hour + local.minute / 60
        values: dict[str, float] = {}
        for area, tag in monitors:
            mean_t, swing, mean_rh = _CLIMATE[area]
            drift[tag] = 0.995 * drift[tag] + rng.gauss(0, 0.08)
            temp = mean_t + swing * math.cos((hour - 14) / 24 * 2 * math.pi) + drift[tag] + rng.gauss(0, 0.15)
            rh = mean_rh - 2.2 * (temp - mean_t) + 4 * drift[tag] + rng.gauss(0, 0.8)
            values[f"{tag}-TMP"] = round(temp, 2)
            values[f"{tag}-RH"] = round(min(99.0, max(5.0, rh)), 1)
        rows.append((t, values))
        t += step_s
    return points, rows


def generate(days: int = 60, seed: int = 1, first_piece_factor: float = 4.0, *, start: date = DEFAULT_START,
             types: Sequence[str] = DEFAULT_TYPES, base_rate: float = BASE_RATE_PER_H,
             phase_factors: Mapping[str, float] | None = None, with_people: bool = True,
             with_environment: bool = True) -> History:
    """The history in memory (see :func:`write_history` for the files)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if first_piece_factor <= 0:
        raise ValueError("first_piece_factor must be positive")
    plant = load_plant()
    machines = demo_machines(types, plant)
    t0 = _epoch(start)
    t1 = _epoch(start + timedelta(days=days))
    rng = random.Random(seed)
    h = History()
    h.spans = schedule(machines, t0, t1, random.Random(rng.random()))
    h.rates, h.mean_rate = calibrate(h.spans, first_piece_factor, base_rate, phase_factors or {})
    by_code = {m.code: m for m in machines}
    h.events = plc_events(h.spans, by_code, h.rates, random.Random(rng.random()))
    if with_people:
        h.entries = zone_entries(plant, machines, h.spans, t0, t1, random.Random(rng.random()))
    if with_environment:
        h.env_points, h.environment = environment(plant, machines, t0, t1, random.Random(rng.random()))
    return h


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, PLANT_TZ).isoformat()


def write_files(history: History, out_dir: Path | str) -> dict[str, Path]:
    """The history as the importers' CSV files. Each file uses a different but accepted way
    of writing time, as different plant systems do: MES ISO 8601 with the offset, the PLC
    naive local time with milliseconds, the positioning system epoch milliseconds."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in FILES.items()}
    with paths["mes_phases"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["order_no", "product", "equipment", "phase", "start", "end"])
        for s in sorted(history.spans, key=lambda s: (s.start, s.equipment)):
            w.writerow([s.order_no, s.product, s.equipment, s.phase, _iso(s.start), _iso(s.end)])
    with paths["plc_events"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "equipment", "code", "kind", "severity", "message"])
        for us, eq, code, kind, severity, message in history.events:
            local = datetime.fromtimestamp(us / 1_000_000, PLANT_TZ).replace(tzinfo=None)
            w.writerow([local.isoformat(sep=" ", timespec="milliseconds"), eq, code, kind, severity, message])
    with paths["zone_entries"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["person", "badge", "area", "entered_at", "left_at", "source"])
        for person, badge, area, t_in, t_out, source in history.entries:
            w.writerow([person, badge, area, t_in * 1000, "" if t_out is None else t_out * 1000, source])
    with paths["environment"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", *history.env_points])
        for t, values in history.environment:
            w.writerow([_iso(t), *(values.get(p, "") for p in history.env_points)])
    return paths


def write_history(out_dir: Path | str, days: int = 60, seed: int = 1, first_piece_factor: float = 4.0,
                  **options: Any) -> HistoryFiles:
    """Generate and write the history; ``options`` as for :func:`generate`."""
    history = generate(days, seed, first_piece_factor, **options)
    return HistoryFiles(Path(out_dir), write_files(history, out_dir), history)


# Import order: phases first (work orders), then what is read against them.
IMPORT_ORDER = ("mes_phases", "plc_events", "zone_entries", "environment")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plantguard.simulator.production",
                                     description="Write a seeded production history of the demo plant as CSV.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--factor", type=float, default=4.0, help="first-piece debugging rate / plant mean rate")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first day (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    files = write_history(args.out_dir, args.days, args.seed, args.factor, start=args.start)
    for kind in IMPORT_ORDER:
        print(f"{kind}: {files.paths[kind]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
