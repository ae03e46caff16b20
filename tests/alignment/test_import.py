"""CSV imports: good rows in, bad rows reported by line and field, re-imports change nothing,
and codes resolve inside the caller's enterprise only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from plantguard.core.context import locale_var
from plantguard.core.errors import PermissionDenied
from plantguard.core.permissions import Role
from plantguard.ingest.reading import to_us
from plantguard.timeseries.alignment.csvfile import MAX_FILE_BYTES, ImportFileError
from plantguard.timeseries.alignment.importers import ImportResult, Kind, import_csv, import_records
from plantguard.timeseries.alignment.models import MesPhase, MesWorkOrder, PlcEvent, ZoneEntry
from plantguard.timeseries.alignment.times import TimeError, parse_time
from plantguard.timeseries.models import ReadingRow
from tests.alignment.conftest import SHANGHAI, Plant, actor_of, local_us


def run(plant: Plant, kind: Kind, text: str | bytes, *, tenant: int = 1) -> ImportResult:
    t = plant.t1 if tenant == 1 else plant.t2
    data = text.encode("utf-8") if isinstance(text, str) else text
    with plant.db.factory() as s:
        result = import_csv(s, actor_of(t), kind, data)
        s.commit()
    return result


def errors_by_line(result: ImportResult) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for e in result.errors:
        out.setdefault(e.line, []).append(e.field)
    return out


def count(plant: Plant, model: type, enterprise_id: int | None = None) -> int:
    with plant.db.factory() as s:
        q = select(func.count()).select_from(model)
        if enterprise_id is not None:
            q = q.where(model.enterprise_id == enterprise_id)  # type: ignore[attr-defined]
        return int(s.scalar(q) or 0)


PLC = """ts,equipment,code,kind,severity,message
2026-03-02 08:00:00,EQ-1,A101,alarm,4,滑块过载
2026-03-02T08:05:00+08:00,EQ-1,F301,fault,6,"液压故障, 已复位"
2026-03-02 08:06:00,EQ-9,A101,alarm,4,unknown equipment
yesterday,EQ-1,A102,alarm,4,bad time
2026-03-02 08:07:00,EQ-1,A103,explosion,4,bad kind
2026-03-02 08:08:00,EQ-1,,alarm,12,no code and severity too high
1772410200,EQ-1,S001,stop,,epoch seconds
2026-03-02 08:00:00,EQ-1,A101,alarm,4,same key as line 2
"""


def test_plc_events_good_and_bad_rows(plant: Plant) -> None:
    result = run(plant, Kind.PLC_EVENTS, PLC)
    assert (result.rows, result.created, result.rejected) == (8, 3, 5)
    assert errors_by_line(result) == {
        4: ["equipment"], 5: ["ts"], 6: ["kind"], 7: ["code", "severity"], 9: ["ts"],
    }
    token = locale_var.set("en")
    try:
        rendered = {(e["line"], e["field"]): e for e in (err.rendered() for err in result.errors)}
    finally:
        locale_var.reset(token)
    assert rendered[(4, "equipment")]["message"] == "Unknown equipment: EQ-9"
    assert rendered[(4, "equipment")]["label"] == "Equipment"
    assert rendered[(6, "kind")]["message"].startswith("Must be one of: alarm, fault, incident")
    assert rendered[(7, "severity")]["message"] == "Must be at most 9"
    assert rendered[(9, "ts")]["message"] == "Same record as line 2"
    with plant.db.factory() as s:
        rows = s.execute(select(PlcEvent.ts, PlcEvent.code, PlcEvent.kind, PlcEvent.severity, PlcEvent.message,
                                PlcEvent.equipment_id, PlcEvent.enterprise_id).order_by(PlcEvent.ts)).all()
    assert [(r.code, r.kind, r.severity) for r in rows] == [("A101", "alarm", 4), ("F301", "fault", 6),
                                                            ("S001", "stop", 0)]
    # Naive = plant time (UTC+8); the epoch row is seconds.
    assert rows[0].ts == local_us(2026, 3, 2, 8, 0)
    assert rows[2].ts == 1772410200 * 1_000_000
    assert rows[1].message == "液压故障, 已复位"
    assert {r.equipment_id for r in rows} == {plant.t1.equipment_id}
    assert {r.enterprise_id for r in rows} == {plant.t1.enterprise_id}


def test_reimport_is_idempotent_and_corrections_update(plant: Plant) -> None:
    first = run(plant, Kind.PLC_EVENTS, PLC)
    again = run(plant, Kind.PLC_EVENTS, PLC)
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    assert count(plant, PlcEvent) == 3
    corrected = PLC.replace("4,滑块过载", "5,滑块过载（复核）")
    third = run(plant, Kind.PLC_EVENTS, corrected)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 2)
    with plant.db.factory() as s:
        sev, msg = s.execute(select(PlcEvent.severity, PlcEvent.message).where(PlcEvent.code == "A101")).one()
    assert (sev, msg) == (5, "滑块过载（复核）")


def test_other_enterprise_codes_are_unknown(plant: Plant) -> None:
    text = f"ts,equipment,code,kind\n2026-03-02 08:00:00,{plant.t2_only_equipment},A1,alarm\n"
    result = run(plant, Kind.PLC_EVENTS, text)
    assert result.created == 0 and errors_by_line(result) == {2: ["equipment"]}
    # The same code in both enterprises resolves to the importer's own equipment.
    both = "ts,equipment,code,kind\n2026-03-02 08:00:00,EQ-1,A1,alarm\n"
    assert run(plant, Kind.PLC_EVENTS, both, tenant=2).created == 1
    with plant.db.factory() as s:
        eq, ent = s.execute(select(PlcEvent.equipment_id, PlcEvent.enterprise_id)).one()
    assert (eq, ent) == (plant.t2.equipment_id, plant.t2.enterprise_id)
    assert count(plant, PlcEvent, plant.t1.enterprise_id) == 0
    # People and areas too.
    zone = "person,area,entered_at\nP001,ST,2026-03-02 08:00\n"
    assert run(plant, Kind.ZONE_ENTRIES, zone, tenant=2).created == 1
    with plant.db.factory() as s:
        person, area = s.execute(select(ZoneEntry.person_id, ZoneEntry.area_id)).one()
    assert (person, area) == (plant.t2.person_id, plant.t2.area_id)


def test_semicolons_chinese_headers_and_gb18030(plant: Plant) -> None:
    text = "时间;设备;报警代码;类型;等级;报警信息\r\n2026/3/2 8:00:00;EQ-1;A101;报警;4;滑块过载\r\n"
    result = run(plant, Kind.PLC_EVENTS, text.encode("gb18030"))
    assert (result.created, result.errors) == (1, [])
    with plant.db.factory() as s:
        ts, kind, msg = s.execute(select(PlcEvent.ts, PlcEvent.kind, PlcEvent.message)).one()
    assert (ts, kind, msg) == (local_us(2026, 3, 2, 8, 0), "alarm", "滑块过载")


def test_line_numbers_count_blank_lines_and_multiline_values(plant: Plant) -> None:
    text = ('\n'
            'ts,equipment,code,kind,message\n'
            '2026-03-02 08:00,EQ-1,A1,alarm,"two\nlines"\n'
            '\n'
            '2026-03-02 08:01,EQ-X,A1,alarm,x\n')
    result = run(plant, Kind.PLC_EVENTS, text)
    assert result.created == 1
    assert errors_by_line(result) == {6: ["equipment"]}


def test_file_level_errors(plant: Plant) -> None:
    with pytest.raises(ImportFileError) as missing:
        run(plant, Kind.PLC_EVENTS, "ts,equipment,kind\n2026-03-02 08:00,EQ-1,alarm\n")
    assert [(e.field, e.params["field"]) for e in missing.value.errors] == [("file", "Code")]
    for bad in (b"", b"\n\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"a" * (MAX_FILE_BYTES + 1)):
        with pytest.raises(ImportFileError):
            run(plant, Kind.PLC_EVENTS, bad)
    with pytest.raises(ImportFileError):  # two columns read as the same field
        run(plant, Kind.PLC_EVENTS, "ts,time,equipment,code,kind\n")
    assert count(plant, PlcEvent) == 0


def test_a_worker_cannot_import(plant: Plant) -> None:
    with plant.db.factory() as s, pytest.raises(PermissionDenied):
        import_csv(s, actor_of(plant.t1, Role.WORKER), Kind.PLC_EVENTS, PLC.encode())


MES = """order_no,product,equipment,phase,start,end
WO-1,左前门外板,EQ-1,changeover,2026-03-02T08:00:00+08:00,2026-03-02T08:30:00+08:00
WO-1,,EQ-1,首件调试,2026-03-02T08:30:00+08:00,2026-03-02T09:00:00+08:00
WO-1,,EQ-1,steady,2026-03-02T09:00:00+08:00,
,,EQ-1,idle,2026-03-02T08:45:00+08:00,2026-03-02T08:50:00+08:00
WO-2,顶盖,EQ-1,dancing,2026-03-02T12:00:00+08:00,
WO-2,顶盖,EQ-1,changeover,2026-03-02T13:00:00+08:00,2026-03-02T12:00:00+08:00
"""


def test_mes_phases(plant: Plant) -> None:
    result = run(plant, Kind.MES_PHASES, MES)
    assert result.created == 3
    assert errors_by_line(result) == {5: ["start"], 6: ["phase"], 7: ["end"]}
    assert result.errors[0].params == {"line": 3}  # overlaps first-piece debugging on line 3
    with plant.db.factory() as s:
        phases = s.execute(select(MesPhase.phase, MesPhase.start_ts, MesPhase.end_ts, MesWorkOrder.order_no,
                                  MesWorkOrder.product)
                           .join(MesWorkOrder, MesWorkOrder.id == MesPhase.work_order_id)
                           .order_by(MesPhase.start_ts)).all()
    assert [p.phase for p in phases] == ["changeover", "first_piece", "steady"]
    assert phases[2].end_ts is None
    assert {(p.order_no, p.product) for p in phases} == {("WO-1", "左前门外板")}
    assert count(plant, MesWorkOrder) == 1  # WO-2's rows were all rejected

    again = run(plant, Kind.MES_PHASES, MES)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    # The steady phase gets its end; a phase overlapping a stored one is refused.
    more = ("equipment,phase,start,end\n"
            "EQ-1,steady,2026-03-02T09:00:00+08:00,2026-03-02T11:00:00+08:00\n"
            "EQ-1,idle,2026-03-02T08:40:00+08:00,2026-03-02T08:41:00+08:00\n"
            "EQ-1,idle,2026-03-02T11:00:00+08:00,\n")
    third = run(plant, Kind.MES_PHASES, more)
    assert (third.created, third.updated) == (1, 1)
    assert errors_by_line(third) == {3: ["start"]}
    assert third.errors[0].params["start"].startswith("2026-03-02T08:30:00+08:00")


ZONES = """person,badge,area,entered_at,left_at,source
P001,UWB-0001,ST,1772409600000,1772424000000,uwb
,VISITOR-7,ST,2026-03-02 08:10,2026-03-02 08:20,rfid
P999,,ST,2026-03-02 08:10,,uwb
,,ST,2026-03-02 08:10,,uwb
P001,,XX,2026-03-02 08:10,,uwb
P001,,WD,2026-03-02 09:00,2026-03-02 08:00,uwb
P001,,WD,2026-03-02 09:00,,carrier-pigeon
"""


def test_zone_entries(plant: Plant) -> None:
    result = run(plant, Kind.ZONE_ENTRIES, ZONES)
    assert result.created == 2
    assert errors_by_line(result) == {4: ["person"], 5: ["person"], 6: ["area"], 7: ["left_at"], 8: ["source"]}
    with plant.db.factory() as s:
        rows = s.execute(select(ZoneEntry.badge, ZoneEntry.person_id, ZoneEntry.entered_ts, ZoneEntry.left_ts,
                                ZoneEntry.source).order_by(ZoneEntry.entered_ts)).all()
    assert rows[0] == ("UWB-0001", plant.t1.person_id, 1772409600000 * 1000, 1772424000000 * 1000, "uwb")
    assert rows[1][:2] == ("VISITOR-7", None) and rows[1].source == "rfid"
    assert run(plant, Kind.ZONE_ENTRIES, ZONES).unchanged == 2


def test_environment_wide_and_long(plant: Plant) -> None:
    wide = ("ts,ST-ENV-TMP,ST-ENV-RH,NO-SUCH-POINT\n"
            "2026-03-02T08:00:00+08:00,24.5,61,1\n"
            "2026-03-02T08:10:00+08:00,24.7,,2\n"
            "2026-03-02T08:20:00+08:00,warm,60,3\n"
            "2026-03-02T08:30:00+08:00,inf,60,3\n")
    result = run(plant, Kind.ENVIRONMENT, wide)
    assert result.created == 3  # 2 + 1 (an empty cell is no reading)
    assert [(e.line, e.field, e.column, e.row) for e in result.errors] == [
        (1, "point", "NO-SUCH-POINT", False), (4, "value", "ST-ENV-TMP", True), (5, "value", "ST-ENV-TMP", True)]
    assert result.rejected == 2
    long = ("ts;point;value;quality\n"
            "2026-03-02T08:40:00+08:00;ST-ENV-TMP;24,9;good\n"
            "2026-03-02T08:40:00+08:00;EQ-1-HP;21,0;bad\n"
            "2026-03-02T08:50:00+08:00;ST-ENV-XX;1;good\n")
    second = run(plant, Kind.ENVIRONMENT, long)
    assert second.created == 2 and errors_by_line(second) == {4: ["point"]}
    with plant.db.factory() as s:
        rows = s.execute(select(ReadingRow.point_id, ReadingRow.ts, ReadingRow.value, ReadingRow.quality)
                         .order_by(ReadingRow.ts, ReadingRow.point_id)).all()
    assert (plant.tmp_point_id, local_us(2026, 3, 2, 8, 40), 24.9, 0) in rows
    assert (plant.t1.point_id, local_us(2026, 3, 2, 8, 40), 21.0, 2) in rows
    assert len(rows) == 5
    again = run(plant, Kind.ENVIRONMENT, wide)
    assert (again.created, again.unchanged) == (0, 3)


def test_json_rows_share_the_rules(plant: Plant) -> None:
    rows: list[dict[str, object]] = [
        {"ts": "2026-03-02T08:00:00+08:00", "equipment": "EQ-1", "code": "A1", "kind": "alarm", "severity": 3},
        {"ts": 1772410200000, "equipment": "EQ-1", "code": "A2", "kind": "fault"},
        {"ts": "2026-03-02T08:00:00+08:00", "equipment": "EQ-1", "code": "A3\x00", "kind": "alarm"},
        {"ts": "2026-03-02T08:00:00+08:00", "equipment": "EQ-1", "code": "A4\ud800", "kind": "alarm"},
    ]
    with plant.db.factory() as s:
        result = import_records(s, actor_of(plant.t1), Kind.PLC_EVENTS, rows)
        s.commit()
    assert result.created == 2
    assert errors_by_line(result) == {3: ["code"], 4: ["code"]}


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-02T08:00:00+08:00", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ("2026-03-02T00:00:00Z", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ("2026-03-02 08:00", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),  # naive: Shanghai
    ("2026/3/2 08:00:00.250", datetime(2026, 3, 2, 0, 0, 0, 250000, tzinfo=UTC)),
    ("1772409600", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ("1772409600.5", datetime(2026, 3, 2, 0, 0, 0, 500000, tzinfo=UTC)),
    ("1772409600000", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ("1772409600000000", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
    ("1772409600000000000", datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
])
def test_times(text: str, expected: datetime) -> None:
    assert parse_time(text, SHANGHAI) == to_us(expected)


@pytest.mark.parametrize("text", ["", "0", "1970-01-01T00:00:00Z", "2026-13-01", "soon", "nan", "2200-01-01",
                                  "9" * 400])
def test_bad_times(text: str) -> None:
    with pytest.raises(TimeError):
        parse_time(text, SHANGHAI)
