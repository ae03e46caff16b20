"""The as-of join: one machine at one moment, boundaries included, and the vectorised form."""

from __future__ import annotations

import random
import time

import pytest

from plantguard.core.errors import NotFound
from plantguard.timeseries.alignment.asof import AlignedContext, PhaseSpan, align, context_at
from plantguard.timeseries.alignment.importers import Kind, import_csv
from tests.alignment.conftest import Plant, actor_of, local_us

MES = """order_no,product,equipment,phase,start,end
WO-7,左前门外板,EQ-1,changeover,2026-03-02 08:00,2026-03-02 08:30
WO-7,左前门外板,EQ-1,first_piece,2026-03-02 08:30,2026-03-02 09:00
WO-7,左前门外板,EQ-1,steady,2026-03-02 09:00,
,,EQ-1,maintenance,2026-03-01 20:00,2026-03-01 22:00
"""
ZONES = """person,badge,area,entered_at,left_at,source
P001,UWB-1,ST,2026-03-02 07:50,2026-03-02 12:00,uwb
,VISITOR-3,ST,2026-03-02 08:10,2026-03-02 08:20,rfid
,FORGOT-TO-LEAVE,ST,2026-03-01 06:00,,uwb
P001,UWB-1,WD,2026-03-02 12:05,,uwb
"""
EVENTS = """ts,equipment,code,kind,severity,message
2026-03-02 08:00,EQ-1,S001,stop,0,换模停机
2026-03-02 08:40,EQ-1,A205,alarm,3,模具检测异常
2026-03-02 08:40,EQ-1,I901,incident,9,光幕急停
2026-03-02 08:41,EQ-ENV,A1,alarm,1,another machine
"""
AMBIENT = """ts,ST-ENV-TMP,ST-ENV-RH
2026-03-02 08:00,24.0,60
2026-03-02 08:10,24.5,
2026-03-02 09:00,26.0,58
"""


@pytest.fixture
def loaded(plant: Plant) -> Plant:
    with plant.db.factory() as s:
        actor = actor_of(plant.t1)
        for kind, text in ((Kind.MES_PHASES, MES), (Kind.ZONE_ENTRIES, ZONES), (Kind.PLC_EVENTS, EVENTS),
                           (Kind.ENVIRONMENT, AMBIENT)):
            result = import_csv(s, actor, kind, text.encode())
            assert [e.line for e in result.errors if e.row] in ([], [5]), result.errors  # EQ-ENV is no code
        s.commit()
    return plant


def ctx_at(plant: Plant, *moment: int, **kw: int) -> AlignedContext:
    with plant.db.read_factory() as s:
        return context_at(s, actor_of(plant.t1), plant.t1.equipment_id, local_us(*moment), **kw)


def test_before_any_data(loaded: Plant) -> None:
    ctx = ctx_at(loaded, 2026, 2, 1, 12, 0)
    assert ctx.phase is None and ctx.people == [] and ctx.events == []
    assert [(a.code, a.value) for a in ctx.ambient] == [("ST-ENV-RH", None), ("ST-ENV-TMP", None)]
    assert (ctx.equipment_code, ctx.area_code) == ("EQ-1", "ST")


def test_phase_boundaries_are_half_open(loaded: Plant) -> None:
    assert ctx_at(loaded, 2026, 3, 2, 7, 59).phase is None  # between maintenance and changeover
    start = ctx_at(loaded, 2026, 3, 2, 8, 0).phase
    assert start is not None and start.phase == "changeover" and start.work_order is not None
    assert (start.work_order.order_no, start.work_order.product) == ("WO-7", "左前门外板")
    end = ctx_at(loaded, 2026, 3, 2, 8, 30).phase
    assert end is not None and end.phase == "first_piece"
    late = ctx_at(loaded, 2026, 3, 9, 0, 0).phase  # open-ended steady production
    assert late is not None and late.phase == "steady" and late.end is None
    maint = ctx_at(loaded, 2026, 3, 1, 21, 0).phase
    assert maint is not None and maint.phase == "maintenance" and maint.work_order is None
    assert ctx_at(loaded, 2026, 3, 1, 22, 0).phase is None


def test_people_present(loaded: Plant) -> None:
    assert [p.badge for p in ctx_at(loaded, 2026, 3, 2, 7, 49).people] == []
    ctx = ctx_at(loaded, 2026, 3, 2, 8, 10)
    assert [(p.badge, p.employee_no, p.name) for p in ctx.people] == [("UWB-1", "P001", "张伟"), ("VISITOR-3", "", "")]
    assert [p.badge for p in ctx_at(loaded, 2026, 3, 2, 8, 20).people] == ["UWB-1"]  # left at 08:20 exactly
    assert ctx_at(loaded, 2026, 3, 2, 12, 0).people == []  # P001 moved to WD, another area
    # An entry without an exit read stops counting after the presence limit (16 h by default).
    assert [p.badge for p in ctx_at(loaded, 2026, 3, 1, 21, 0).people] == ["FORGOT-TO-LEAVE"]
    assert [p.badge for p in ctx_at(loaded, 2026, 3, 1, 22, 1).people] == []


def test_ambient_as_of_with_staleness(loaded: Plant) -> None:
    def values(*moment: int, **kw: int) -> dict[str, float | None]:
        return {a.code: a.value for a in ctx_at(loaded, *moment, **kw).ambient}

    assert values(2026, 3, 2, 8, 0) == {"ST-ENV-TMP": 24.0, "ST-ENV-RH": 60.0}
    assert values(2026, 3, 2, 8, 15) == {"ST-ENV-TMP": 24.5, "ST-ENV-RH": 60.0}
    assert values(2026, 3, 2, 8, 35) == {"ST-ENV-TMP": 24.5, "ST-ENV-RH": None}  # RH's last is 35 min old
    assert values(2026, 3, 2, 8, 35, staleness_s=3600) == {"ST-ENV-TMP": 24.5, "ST-ENV-RH": 60.0}
    assert values(2026, 3, 2, 9, 0) == {"ST-ENV-TMP": 26.0, "ST-ENV-RH": 58.0}


def test_last_events(loaded: Plant) -> None:
    assert [e.code for e in ctx_at(loaded, 2026, 3, 2, 8, 39).events] == ["S001"]
    ctx = ctx_at(loaded, 2026, 3, 2, 8, 40)  # events at the moment itself count
    assert sorted(e.code for e in ctx.events[:2]) == ["A205", "I901"] and ctx.events[2].code == "S001"
    assert [e.code for e in ctx_at(loaded, 2026, 3, 2, 9, 0, last_events=1).events] in (["A205"], ["I901"])


def test_other_enterprise_and_unknown_equipment(loaded: Plant) -> None:
    with loaded.db.read_factory() as s:
        for ident in (loaded.t2.equipment_id, 10**9):
            with pytest.raises(NotFound):
                context_at(s, actor_of(loaded.t1), ident, local_us(2026, 3, 2, 8, 0))
        # And t2 sees nothing of t1's data on its own machine of the same code.
        ctx = context_at(s, actor_of(loaded.t2), loaded.t2.equipment_id, local_us(2026, 3, 2, 8, 40))
        assert ctx.phase is None and ctx.people == [] and ctx.events == []


# -- the vectorised join ---------------------------------------------------------------------------------


def brute_force(events: list[tuple[int, int]], phases: list[PhaseSpan]) -> list[int]:
    out = []
    for eq, ts in events:
        hits = [i for i, p in enumerate(phases) if p.equipment_id == eq and p.start <= ts]
        if not hits:
            out.append(-1)
            continue
        i = max(hits, key=lambda k: phases[k].start)
        nxt = [p.start for p in phases if p.equipment_id == eq and p.start > phases[i].start]
        end = min([e for e in (phases[i].end, *nxt) if e is not None], default=None)
        out.append(i if end is None or ts < end else -1)
    return out


def test_align_boundaries() -> None:
    phases = [
        PhaseSpan(1, 100, 200, "changeover"),
        PhaseSpan(1, 200, None, "first_piece"),  # open: ends where the next one starts
        PhaseSpan(1, 300, 350, "steady"),
        PhaseSpan(2, 150, 160, "idle"),
    ]
    events = [(1, 99), (1, 100), (1, 199), (1, 200), (1, 299), (1, 300), (1, 350), (2, 155), (2, 160), (3, 150)]
    assert align(events, phases) == [-1, 0, 0, 1, 1, 2, -1, 3, -1, -1]
    assert align([], phases) == [] and align(events[:2], []) == [-1, -1]


def test_align_matches_brute_force() -> None:
    rng = random.Random(7)
    phases: list[PhaseSpan] = []
    for eq in range(1, 6):
        t = rng.randint(0, 50)
        for _ in range(30):
            dur = rng.randint(1, 40)
            end = None if rng.random() < 0.2 else t + dur + rng.choice([0, 0, 0, 15])  # some overrun the next
            phases.append(PhaseSpan(eq, t, end, "steady"))
            t += dur + rng.choice([0, 0, 5])
    rng.shuffle(phases)
    events = [(rng.randint(0, 6), rng.randint(0, 900)) for _ in range(800)]
    assert align(events, phases) == brute_force(events, phases)


def test_align_scales_to_100k_events() -> None:
    rng = random.Random(3)
    phases = []
    for eq in range(50):
        t = 0
        for _ in range(400):
            dur = rng.randint(600, 7200) * 1_000_000
            phases.append(PhaseSpan(eq, t, t + dur, "steady"))
            t += dur
    events = [(rng.randrange(50), rng.randrange(0, 400 * 3600 * 1_000_000)) for _ in range(100_000)]
    began = time.perf_counter()
    out = align(events, phases)
    elapsed = time.perf_counter() - began
    assert len(out) == 100_000 and sum(1 for i in out if i >= 0) > 50_000
    sample = rng.sample(range(100_000), 200)
    for i in sample:  # spot-check against the definition
        p = phases[out[i]] if out[i] >= 0 else None
        eq, ts = events[i]
        assert p is None or (p.equipment_id == eq and p.start <= ts and (p.end is None or ts < p.end))
    assert elapsed < 3.0, f"align took {elapsed:.2f} s for 100k events"
