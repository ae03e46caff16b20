"""Importing PLC event logs, MES phases, zone entries and environment readings from CSV
(or the same rows as JSON).

The rules, for every kind:

- Columns are found by their header (English names, common aliases, Chinese names; case,
  spaces and dashes do not matter); extra columns are ignored. The separator is ``,``, ``;``
  or a tab, whichever the header line uses. Text is UTF-8 (with or without a BOM) or GB 18030
  (what Excel writes on a Chinese Windows).
- Times are ISO 8601 with or without a zone (naive = plant time) or epoch numbers
  (:mod:`.times`).
- Equipment, areas, people and measurement points are named by their codes (employee number
  for people) and resolved inside the caller's enterprise only: another tenant's code is
  simply unknown.
- Every bad row is reported with its line number (the row's position for JSON) and the field
  at fault, and is not imported; the good rows of one file are written in the caller's
  transaction, so a file is imported atomically.
- Each row has a natural key (the equipment, time and code of an event; the machine and start
  of a phase; the area, entry time and badge of a zone entry; the point and time of a
  reading). Importing the same file again creates nothing new; a corrected row updates the
  stored one (readings excepted: the store keeps the first value of a point at a time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import tzinfo
from enum import StrEnum
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.reading import Quality, ReadingBatch
from plantguard.tenancy.models import Area, Person
from plantguard.timeseries.alignment.asof import last_phases_before
from plantguard.timeseries.alignment.csvfile import (
    FILE_TOO_MANY_ROWS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    ImportFileError,
    ParsedTable,
    decode,
    delimiter,
    file_error,
    read_table,
    table_from_records,
)
from plantguard.timeseries.alignment.models import (
    EVENT_KINDS,
    PHASES,
    SEVERITY_MAX,
    ZONE_SOURCES,
    MesPhase,
    MesWorkOrder,
    PlcEvent,
    ZoneEntry,
)
from plantguard.timeseries.alignment.times import TimeError, iso, parse_time, plant_tz
from plantguard.timeseries.store import write_batch

# Who may import: the same people who connect devices and map their points.
IMPORT_PERM = Perm.WRITE_DEVICES

CHUNK = 2000  # rows per INSERT/UPDATE statement; IN lists per query


class Kind(StrEnum):
    PLC_EVENTS = "plc_events"
    MES_PHASES = "mes_phases"
    ZONE_ENTRIES = "zone_entries"
    ENVIRONMENT = "environment"


KIND_LABELS: dict[Kind, str] = {
    Kind.PLC_EVENTS: N_("PLC events"),
    Kind.MES_PHASES: N_("MES work-order phases"),
    Kind.ZONE_ENTRIES: N_("Zone entries"),
    Kind.ENVIRONMENT: N_("Environment readings"),
}

# -- messages (catalogue ids) -------------------------------------------------------------------

REQUIRED = N_("This field is required")
ONE_OF = N_("Must be one of: %(expected)s")
WHOLE_NUMBER = N_("Must be a whole number")
NUMBER = N_("Must be a number")
FINITE = N_("Must be a finite number")
AT_MOST = N_("Must be at most %(le)s")
AT_LEAST = N_("Must be at least %(ge)s")
TOO_LONG = N_("Must be at most %(max_length)s characters")
NUL = N_("Must not contain NUL characters")
NOT_UNICODE = N_("Must be valid Unicode text")
UNKNOWN_EQUIPMENT = N_("Unknown equipment: %(code)s")
UNKNOWN_AREA = N_("Unknown area: %(code)s")
UNKNOWN_PERSON = N_("Unknown person: %(code)s")
UNKNOWN_POINT = N_("Unknown measurement point: %(code)s")
DUPLICATE = N_("Same record as line %(line)s")
END_BEFORE_START = N_("Must be later than the start")
OVERLAP_FILE = N_("Overlaps the phase on line %(line)s of the same equipment")
OVERLAP_STORED = N_("Overlaps a stored phase of the same equipment starting at %(start)s")
PERSON_OR_BADGE = N_("A person or a badge is required")
MISSING_COLUMN = N_("The file has no column for %(field)s")
DOUBLE_COLUMN = N_("Two columns are read as %(field)s: %(columns)s")
NO_POINT_COLUMNS = N_("The file has no column named after a measurement point")

# Column labels as users read them (field name → English label, a catalogue id).
FIELD_LABELS: dict[str, str] = {
    "file": N_("File"),
    "ts": N_("Time"),
    "equipment": N_("Equipment"),
    "code": N_("Code"),
    "kind": N_("Kind"),
    "severity": N_("Severity"),
    "message": N_("Message"),
    "order_no": N_("Work order"),
    "product": N_("Product"),
    "phase": N_("Phase"),
    "start": N_("Start time"),
    "end": N_("End time"),
    "person": N_("Person"),
    "badge": N_("Badge"),
    "area": N_("Area"),
    "entered_at": N_("Entered at"),
    "left_at": N_("Left at"),
    "source": N_("Source"),
    "point": N_("Measurement point"),
    "value": N_("Value"),
    "quality": N_("Quality"),
}


@dataclass(frozen=True)
class Column:
    name: str
    aliases: tuple[str, ...]
    required: bool = False


def _norm(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


TS_ALIASES = ("ts", "time", "timestamp", "datetime", "date_time", "event_time",
              "时间", "时间戳", "发生时间", "记录时间")

COLUMNS: dict[Kind, tuple[Column, ...]] = {
    Kind.PLC_EVENTS: (
        Column("ts", TS_ALIASES, True),
        Column("equipment", ("equipment", "equipment_code", "device", "machine", "设备", "设备编码", "设备编号"), True),
        Column("code", ("code", "event_code", "alarm_code", "事件代码", "报警代码", "代码"), True),
        Column("kind", ("kind", "type", "event_type", "类型", "事件类型"), True),
        Column("severity", ("severity", "level", "priority", "级别", "等级", "优先级")),
        Column("message", ("message", "text", "description", "msg", "描述", "信息", "内容", "报警信息")),
    ),
    Kind.MES_PHASES: (
        Column("order_no", ("order_no", "order", "work_order", "wo", "order_number", "工单", "工单号", "生产订单")),
        Column("product", ("product", "part", "part_no", "产品", "零件号", "物料")),
        Column("equipment", ("equipment", "equipment_code", "machine", "设备", "设备编码", "设备编号"), True),
        Column("phase", ("phase", "stage", "state", "阶段", "工序阶段", "状态"), True),
        Column("start", ("start", "start_time", "begin", "from", "started_at", "开始", "开始时间"), True),
        Column("end", ("end", "end_time", "finish", "to", "ended_at", "结束", "结束时间")),
    ),
    Kind.ZONE_ENTRIES: (
        Column("person", ("person", "employee_no", "employee", "staff_no", "人员", "工号", "员工号")),
        Column("badge", ("badge", "tag", "card", "card_no", "tag_id", "标签", "卡号", "定位卡")),
        Column("area", ("area", "zone", "area_code", "区域", "区域编码"), True),
        Column("entered_at", ("entered_at", "enter", "entry", "in", "in_time", "进入时间", "进入"), True),
        Column("left_at", ("left_at", "exit", "leave", "out", "out_time", "离开时间", "离开")),
        Column("source", ("source", "system", "来源", "定位方式")),
    ),
    Kind.ENVIRONMENT: (
        Column("ts", TS_ALIASES, True),
        Column("point", ("point", "point_code", "测点", "测点编码")),
        Column("value", ("value", "reading", "数值", "值")),
        Column("quality", ("quality", "质量")),
    ),
}

PHASE_ALIASES: dict[str, str] = {
    "die_change": "changeover", "setup": "changeover", "set_up": "changeover", "换模": "changeover",
    "换型": "changeover", "first_article": "first_piece", "first_piece_debugging": "first_piece",
    "trial": "first_piece", "首件调试": "first_piece", "首件": "first_piece", "调试": "first_piece",
    "production": "steady", "run": "steady", "running": "steady", "steady_production": "steady",
    "稳定生产": "steady", "生产": "steady", "正常生产": "steady", "维修": "maintenance", "保养": "maintenance",
    "repair": "maintenance", "空闲": "idle", "待机": "idle", "停机待料": "idle", "standby": "idle",
}
KIND_ALIASES: dict[str, str] = {
    "报警": "alarm", "告警": "alarm", "故障": "fault", "事故": "incident", "事件": "incident",
    "停机": "stop", "启动": "start", "信息": "info", "warning": "alarm", "error": "fault",
}
QUALITY_NAMES: dict[str, int] = {"good": 0, "uncertain": 1, "bad": 2, "0": 0, "1": 1, "2": 2}


# -- results --------------------------------------------------------------------------------------


@dataclass
class RowError:
    """One bad field of one row (or of the header line, ``row`` false)."""

    line: int
    field: str
    message: str  # catalogue id
    params: dict[str, Any] = dataclass_field(default_factory=dict)
    column: str = ""  # the header as written in the file
    row: bool = True  # False for an error of a column (the header), which rejects no row

    def rendered(self) -> dict[str, Any]:
        """The error in the current request's language."""
        params = {k: (_(v) if isinstance(v, str) and k == "field" else v) for k, v in self.params.items()}
        message = _(self.message) % params if params else _(self.message)
        return {"line": self.line, "row": self.row, "field": self.field, "column": self.column,
                "label": _(FIELD_LABELS.get(self.field, self.field)), "message": message}


@dataclass
class ImportResult:
    kind: str
    rows: int = 0  # data rows read
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # already stored as given (a re-import)
    errors: list[RowError] = dataclass_field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def rejected(self) -> int:
        return len({e.line for e in self.errors if e.row})


@dataclass
class ColumnMap:
    """Header cell index per field, and the header text (for error messages)."""

    index: dict[str, int]
    names: dict[str, str]
    extra: list[tuple[int, str]]  # columns not read as a field: (index, header text)

    def get(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""


def map_columns(kind: Kind, header: list[str], *, require: bool = True) -> ColumnMap:
    lookup = {_norm(alias): col.name for col in COLUMNS[kind] for alias in (col.name, *col.aliases)}
    index: dict[str, int] = {}
    names: dict[str, str] = {}
    extra: list[tuple[int, str]] = []
    seen: dict[str, list[str]] = {}
    for i, cell in enumerate(header):
        name = lookup.get(_norm(cell))
        if name is None:
            extra.append((i, cell.strip().lstrip("\ufeff")))
            continue
        seen.setdefault(name, []).append(cell.strip())
        index.setdefault(name, i)
        names.setdefault(name, cell.strip().lstrip("\ufeff"))
    errors = [FieldError("file", DOUBLE_COLUMN, {"field": FIELD_LABELS[n], "columns": ", ".join(cells)})
              for n, cells in seen.items() if len(cells) > 1]
    if require:
        errors += [FieldError("file", MISSING_COLUMN, {"field": FIELD_LABELS[c.name]})
                   for c in COLUMNS[kind] if c.required and c.name not in index]
    if errors:
        raise ImportFileError(errors)
    return ColumnMap(index, names, extra)


# -- references -------------------------------------------------------------------------------


class Codes:
    """Codes of one enterprise → ids; exact match first, then case-insensitive if unambiguous."""

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        self.exact: dict[str, int] = {}
        folded: dict[str, int | None] = {}
        for code, ident in pairs:
            self.exact[code] = ident
            key = code.casefold()
            folded[key] = None if key in folded else ident
        self.folded = folded

    def get(self, code: str) -> int | None:
        if code in self.exact:
            return self.exact[code]
        return self.folded.get(code.casefold())


def _codes(session: Session, column: Any, ident: Any, tenant: Any, enterprise_id: int) -> Codes:
    return Codes((str(c), int(i)) for c, i in session.execute(select(column, ident).where(tenant == enterprise_id)))


# -- row parsing helpers ------------------------------------------------------------------------


class RowErrors:
    """Errors of the row being parsed."""

    def __init__(self, line: int, mapped: ColumnMap, out: list[RowError]) -> None:
        self.line = line
        self.mapped = mapped
        self.out = out
        self.bad = False

    def add(self, name: str, message: str, **params: Any) -> None:
        self.bad = True
        self.out.append(RowError(self.line, name, message, params, self.mapped.names.get(name, "")))


def _text(cells: list[str], m: ColumnMap, e: RowErrors, name: str, max_len: int, *, required: bool = False) -> str:
    value = m.get(cells, name)
    if "\x00" in value:
        e.add(name, NUL)
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON "\ud800" escape
        e.add(name, NOT_UNICODE)
        return ""
    if required and not value:
        e.add(name, REQUIRED)
    elif len(value) > max_len:
        e.add(name, TOO_LONG, max_length=max_len)
    return value


def _time(cells: list[str], m: ColumnMap, e: RowErrors, name: str, tz: tzinfo, *, required: bool) -> int | None:
    value = m.get(cells, name)
    if not value:
        if required:
            e.add(name, REQUIRED)
        return None
    try:
        return parse_time(value, tz)
    except TimeError as exc:
        e.add(name, exc.message)
        return None


def _choice(value: str, choices: Mapping[str, str], aliases: Mapping[str, str]) -> str | None:
    key = _norm(value)
    if key in choices:
        return key
    return aliases.get(key) or aliases.get(value.strip())


def _ref(codes: Codes, cells: list[str], m: ColumnMap, e: RowErrors, name: str, unknown: str,
         *, required: bool) -> int | None:
    code = _text(cells, m, e, name, 80, required=required)
    if not code:
        return None
    ident = codes.get(code)
    if ident is None:
        e.add(name, unknown, code=code)
    return ident


def _number(text: str, decimal_comma: bool) -> float:
    if decimal_comma and "," in text and "." not in text:
        text = text.replace(",", ".")
    return float(text)


# -- records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRec:
    line: int
    equipment_id: int
    ts: int
    code: str
    kind: str
    severity: int
    message: str


@dataclass(frozen=True, slots=True)
class PhaseRec:
    line: int
    equipment_id: int
    order_no: str
    product: str
    phase: str
    start: int
    end: int | None


@dataclass(frozen=True, slots=True)
class ZoneRec:
    line: int
    area_id: int
    person_id: int | None
    badge: str
    entered: int
    left: int | None
    source: str


@dataclass(frozen=True, slots=True)
class ReadingRec:
    line: int
    point_id: int
    ts: int
    value: float | None
    quality: int


def _dedupe(records: list[Any], key: Callable[[Any], Any], field_name: str, errors: list[RowError],
            mapped: ColumnMap) -> list[Any]:
    """Keep the first record of each natural key; later ones are reported."""
    first: dict[Any, int] = {}
    out = []
    for rec in records:
        k = key(rec)
        if k in first:
            errors.append(RowError(rec.line, field_name, DUPLICATE, {"line": first[k]},
                                   mapped.names.get(field_name, "")))
            continue
        first[k] = rec.line
        out.append(rec)
    return out


# -- the importer ---------------------------------------------------------------------------------


@dataclass
class Importer:
    """Imports into one enterprise inside the caller's session (the caller commits)."""

    session: Session
    enterprise_id: int
    tz: tzinfo = dataclass_field(default_factory=plant_tz)
    decimal_comma: bool = False

    def run(self, kind: Kind, table: ParsedTable) -> ImportResult:
        result = ImportResult(kind.value, rows=len(table.rows))
        handler = {
            Kind.PLC_EVENTS: self._plc_events,
            Kind.MES_PHASES: self._mes_phases,
            Kind.ZONE_ENTRIES: self._zone_entries,
            Kind.ENVIRONMENT: self._environment,
        }[kind]
        handler(table, result)
        result.errors.sort(key=lambda err: (err.line, err.field))
        return result

    @property
    def conn(self) -> Connection:
        return self.session.connection()

    # -- PLC events --------------------------------------------------------------------------

    def _plc_events(self, table: ParsedTable, result: ImportResult) -> None:
        m = map_columns(Kind.PLC_EVENTS, table.header)
        equipment = _codes(self.session, Equipment.code, Equipment.id, Equipment.enterprise_id, self.enterprise_id)
        kinds = ", ".join(EVENT_KINDS)
        recs: list[EventRec] = []
        for line, cells in table.rows:
            e = RowErrors(line, m, result.errors)
            ts = _time(cells, m, e, "ts", self.tz, required=True)
            eq = _ref(equipment, cells, m, e, "equipment", UNKNOWN_EQUIPMENT, required=True)
            code = _text(cells, m, e, "code", 60, required=True)
            raw_kind = _text(cells, m, e, "kind", 40, required=True)
            kind = _choice(raw_kind, EVENT_KINDS, KIND_ALIASES) if raw_kind else None
            if raw_kind and kind is None:
                e.add("kind", ONE_OF, expected=kinds)
            severity = 0
            raw_sev = m.get(cells, "severity")
            if raw_sev:
                try:
                    severity = int(raw_sev)
                except ValueError:
                    e.add("severity", WHOLE_NUMBER)
                else:
                    if severity < 0:
                        e.add("severity", AT_LEAST, ge=0)
                    elif severity > SEVERITY_MAX:
                        e.add("severity", AT_MOST, le=SEVERITY_MAX)
            message = _text(cells, m, e, "message", 500)
            if not e.bad and ts is not None and eq is not None and kind is not None:
                recs.append(EventRec(line, eq, ts, code, kind, severity, message))
        recs = _dedupe(recs, lambda r: (r.equipment_id, r.ts, r.code), "ts", result.errors, m)
        self._write_events(recs, result)

    def _write_events(self, recs: list[EventRec], result: ImportResult) -> None:
        if not recs:
            return
        t = PlcEvent.__table__
        existing: dict[tuple[int, int, str], tuple[int, str, int, str]] = {}
        eq_ids = sorted({r.equipment_id for r in recs})
        lo, hi = min(r.ts for r in recs), max(r.ts for r in recs)
        for ids in _chunks(eq_ids, 500):
            q = select(t.c.id, t.c.equipment_id, t.c.ts, t.c.code, t.c.kind, t.c.severity, t.c.message).where(
                t.c.enterprise_id == self.enterprise_id, t.c.equipment_id.in_(ids), t.c.ts.between(lo, hi))
            for row in self.conn.execute(q):
                existing[(row.equipment_id, row.ts, row.code)] = (row.id, row.kind, row.severity, row.message)
        new, changed = [], []
        for r in recs:
            old = existing.get((r.equipment_id, r.ts, r.code))
            if old is None:
                new.append({"enterprise_id": self.enterprise_id, "equipment_id": r.equipment_id, "ts": r.ts,
                            "code": r.code, "kind": r.kind, "severity": r.severity, "message": r.message})
            elif old[1:] != (r.kind, r.severity, r.message):
                changed.append({"id": old[0], "kind": r.kind, "severity": r.severity, "message": r.message})
        result.created += self._insert(t, new)
        self._update(PlcEvent, changed)
        result.updated += len(changed)
        result.unchanged += len(recs) - len(new) - len(changed)

    # -- MES phases ----------------------------------------------------------------------------

    def _mes_phases(self, table: ParsedTable, result: ImportResult) -> None:
        m = map_columns(Kind.MES_PHASES, table.header)
        equipment = _codes(self.session, Equipment.code, Equipment.id, Equipment.enterprise_id, self.enterprise_id)
        phases = ", ".join(PHASES)
        recs: list[PhaseRec] = []
        for line, cells in table.rows:
            e = RowErrors(line, m, result.errors)
            order_no = _text(cells, m, e, "order_no", 60)
            product = _text(cells, m, e, "product", 200)
            eq = _ref(equipment, cells, m, e, "equipment", UNKNOWN_EQUIPMENT, required=True)
            raw_phase = _text(cells, m, e, "phase", 40, required=True)
            phase = _choice(raw_phase, PHASES, PHASE_ALIASES) if raw_phase else None
            if raw_phase and phase is None:
                e.add("phase", ONE_OF, expected=phases)
            start = _time(cells, m, e, "start", self.tz, required=True)
            end = _time(cells, m, e, "end", self.tz, required=False)
            if start is not None and end is not None and end <= start:
                e.add("end", END_BEFORE_START)
            if not e.bad and eq is not None and phase is not None and start is not None:
                recs.append(PhaseRec(line, eq, order_no, product, phase, start, end))
        recs = _dedupe(recs, lambda r: (r.equipment_id, r.start), "start", result.errors, m)
        recs = self._without_overlaps(recs, result.errors, m)
        self._write_phases(recs, result)

    def _stored_phases(self, eq_ids: list[int], lo: int, hi: int) -> dict[int, list[tuple[int, int | None]]]:
        """(start, end) of stored phases that may meet [lo, hi]: those starting inside it and
        each machine's last one starting before it."""
        t = MesPhase.__table__
        out: dict[int, list[tuple[int, int | None]]] = {}
        for ids in _chunks(eq_ids, 500):
            q = select(t.c.equipment_id, t.c.start_ts, t.c.end_ts).where(
                t.c.enterprise_id == self.enterprise_id, t.c.equipment_id.in_(ids), t.c.start_ts.between(lo, hi))
            for row in self.conn.execute(q):
                out.setdefault(row.equipment_id, []).append((row.start_ts, row.end_ts))
            for eq, start, end, _phase, _wo in last_phases_before(self.conn, self.enterprise_id, lo, ids):
                out.setdefault(eq, []).append((start, end))
        return out

    def _without_overlaps(self, recs: list[PhaseRec], errors: list[RowError], m: ColumnMap) -> list[PhaseRec]:
        """Reject phases that overlap another phase of the same machine.

        A phase without an end runs until the machine's next phase: that is no overlap. When
        two rows of the file overlap the later line is rejected; a row that overlaps a stored
        phase (other than the one it replaces) is rejected."""
        if not recs:
            return recs
        hi = max(max(r.start for r in recs), max((r.end or 0) for r in recs))
        stored = self._stored_phases(sorted({r.equipment_id for r in recs}), min(r.start for r in recs), hi)
        rejected: set[int] = set()
        by_eq: dict[int, list[PhaseRec]] = {}
        for r in recs:
            by_eq.setdefault(r.equipment_id, []).append(r)
        for eq, mine in by_eq.items():
            replaced = {r.start for r in mine}
            while True:
                spans: list[tuple[int, int | None, PhaseRec | None]] = [
                    (s, e, None) for s, e in stored.get(eq, []) if s not in replaced]
                spans += [(r.start, r.end, r) for r in mine if r.line not in rejected]
                spans.sort(key=lambda x: x[0])
                fresh = False
                for (s1, e1, r1), (s2, _e2, r2) in pairwise(spans):
                    if e1 is None or e1 <= s2:
                        continue
                    if r1 is None and r2 is None:
                        continue  # stored data already overlapped; not this file's doing
                    if r1 is not None and r2 is not None:
                        bad, other = (r2, r1) if r2.line > r1.line else (r1, r2)
                        errors.append(RowError(bad.line, "start", OVERLAP_FILE, {"line": other.line},
                                               m.names.get("start", "")))
                    else:
                        found = (r1, s2) if r1 is not None else (r2, s1)
                        assert found[0] is not None
                        bad, other_start = found[0], found[1]
                        errors.append(RowError(bad.line, "start", OVERLAP_STORED,
                                               {"start": iso(other_start, self.tz)}, m.names.get("start", "")))
                    rejected.add(bad.line)
                    fresh = True
                    break
                if not fresh:
                    break
        return [r for r in recs if r.line not in rejected]

    def _work_orders(self, recs: list[PhaseRec], result: ImportResult) -> dict[str, int]:
        t = MesWorkOrder.__table__
        wanted: dict[str, str] = {}
        for r in recs:
            if r.order_no and (r.order_no not in wanted or r.product):
                wanted[r.order_no] = r.product or wanted.get(r.order_no, "")
        ids: dict[str, int] = {}
        products: dict[str, str] = {}
        for nos in _chunks(sorted(wanted), 500):
            q = select(t.c.id, t.c.order_no, t.c.product).where(
                t.c.enterprise_id == self.enterprise_id, t.c.order_no.in_(nos))
            for row in self.conn.execute(q):
                ids[row.order_no], products[row.order_no] = row.id, row.product
        now = utcnow()
        new = [{"enterprise_id": self.enterprise_id, "order_no": no, "product": prod, "created_at": now,
                "updated_at": now} for no, prod in wanted.items() if no not in ids]
        self._insert(t, new)
        changed = [{"id": ids[no], "product": prod, "updated_at": now} for no, prod in wanted.items()
                   if no in ids and prod and prod != products[no]]
        self._update(MesWorkOrder, changed)
        missing = [no for no in wanted if no not in ids]
        for nos in _chunks(missing, 500):
            q_ids = select(t.c.id, t.c.order_no).where(t.c.enterprise_id == self.enterprise_id,
                                                       t.c.order_no.in_(nos))
            for found_id, found_no in self.conn.execute(q_ids):
                ids[found_no] = found_id
        return ids

    def _write_phases(self, recs: list[PhaseRec], result: ImportResult) -> None:
        if not recs:
            return
        orders = self._work_orders(recs, result)
        t = MesPhase.__table__
        eq_ids = sorted({r.equipment_id for r in recs})
        lo, hi = min(r.start for r in recs), max(r.start for r in recs)
        existing: dict[tuple[int, int], tuple[int, int | None, str, int | None]] = {}
        for ids in _chunks(eq_ids, 500):
            q = select(t.c.id, t.c.equipment_id, t.c.start_ts, t.c.end_ts, t.c.phase, t.c.work_order_id).where(
                t.c.enterprise_id == self.enterprise_id, t.c.equipment_id.in_(ids), t.c.start_ts.between(lo, hi))
            for row in self.conn.execute(q):
                existing[(row.equipment_id, row.start_ts)] = (row.id, row.end_ts, row.phase, row.work_order_id)
        new, changed = [], []
        for r in recs:
            wo = orders.get(r.order_no) if r.order_no else None
            old = existing.get((r.equipment_id, r.start))
            if old is None:
                new.append({"enterprise_id": self.enterprise_id, "equipment_id": r.equipment_id,
                            "work_order_id": wo, "phase": r.phase, "start_ts": r.start, "end_ts": r.end})
            elif old[1:] != (r.end, r.phase, wo):
                changed.append({"id": old[0], "end_ts": r.end, "phase": r.phase, "work_order_id": wo})
        result.created += self._insert(t, new)
        self._update(MesPhase, changed)
        result.updated += len(changed)
        result.unchanged += len(recs) - len(new) - len(changed)

    # -- zone entries -----------------------------------------------------------------------------

    def _zone_entries(self, table: ParsedTable, result: ImportResult) -> None:
        m = map_columns(Kind.ZONE_ENTRIES, table.header)
        areas = _codes(self.session, Area.code, Area.id, Area.enterprise_id, self.enterprise_id)
        people = _codes(self.session, Person.employee_no, Person.id, Person.enterprise_id, self.enterprise_id)
        sources = ", ".join(ZONE_SOURCES)
        recs: list[ZoneRec] = []
        for line, cells in table.rows:
            e = RowErrors(line, m, result.errors)
            person_code = _text(cells, m, e, "person", 40)
            badge = _text(cells, m, e, "badge", 60)
            person = None
            if person_code:
                person = people.get(person_code)
                if person is None:
                    e.add("person", UNKNOWN_PERSON, code=person_code)
            elif not badge and not e.bad:
                e.add("person" if "person" in m.index else "badge", PERSON_OR_BADGE)
            area = _ref(areas, cells, m, e, "area", UNKNOWN_AREA, required=True)
            entered = _time(cells, m, e, "entered_at", self.tz, required=True)
            left = _time(cells, m, e, "left_at", self.tz, required=False)
            if entered is not None and left is not None and left <= entered:
                e.add("left_at", END_BEFORE_START)
            raw_source = _text(cells, m, e, "source", 40)
            source = _norm(raw_source) if raw_source else "uwb"
            if source not in ZONE_SOURCES:
                e.add("source", ONE_OF, expected=sources)
            if not e.bad and area is not None and entered is not None:
                recs.append(ZoneRec(line, area, person, badge or person_code, entered, left, source))
        recs = _dedupe(recs, lambda r: (r.area_id, r.entered, r.badge), "entered_at", result.errors, m)
        self._write_zone_entries(recs, result)

    def _write_zone_entries(self, recs: list[ZoneRec], result: ImportResult) -> None:
        if not recs:
            return
        t = ZoneEntry.__table__
        area_ids = sorted({r.area_id for r in recs})
        lo, hi = min(r.entered for r in recs), max(r.entered for r in recs)
        existing: dict[tuple[int, int, str], tuple[int, int | None, int | None, str]] = {}
        for ids in _chunks(area_ids, 500):
            q = select(t.c.id, t.c.area_id, t.c.entered_ts, t.c.badge, t.c.left_ts, t.c.person_id, t.c.source).where(
                t.c.enterprise_id == self.enterprise_id, t.c.area_id.in_(ids), t.c.entered_ts.between(lo, hi))
            for row in self.conn.execute(q):
                existing[(row.area_id, row.entered_ts, row.badge)] = (row.id, row.left_ts, row.person_id, row.source)
        new, changed = [], []
        for r in recs:
            old = existing.get((r.area_id, r.entered, r.badge))
            if old is None:
                new.append({"enterprise_id": self.enterprise_id, "area_id": r.area_id, "person_id": r.person_id,
                            "badge": r.badge, "entered_ts": r.entered, "left_ts": r.left, "source": r.source})
            elif old[1:] != (r.left, r.person_id, r.source):
                changed.append({"id": old[0], "left_ts": r.left, "person_id": r.person_id, "source": r.source})
        result.created += self._insert(t, new)
        self._update(ZoneEntry, changed)
        result.updated += len(changed)
        result.unchanged += len(recs) - len(new) - len(changed)

    # -- environment readings -------------------------------------------------------------------

    def _environment(self, table: ParsedTable, result: ImportResult) -> None:
        m = map_columns(Kind.ENVIRONMENT, table.header)
        points = _codes(self.session, MeasurementPoint.code, MeasurementPoint.id, MeasurementPoint.enterprise_id,
                        self.enterprise_id)
        long_format = "point" in m.index
        if long_format and "value" not in m.index:
            raise file_error(MISSING_COLUMN, field=FIELD_LABELS["value"])
        recs: list[ReadingRec] = []
        if long_format:
            for line, cells in table.rows:
                e = RowErrors(line, m, result.errors)
                ts = _time(cells, m, e, "ts", self.tz, required=True)
                point = _ref(points, cells, m, e, "point", UNKNOWN_POINT, required=True)
                value = self._value(m.get(cells, "value"), e, "value", required=True)
                quality = 0
                raw_q = m.get(cells, "quality")
                if raw_q:
                    q = QUALITY_NAMES.get(raw_q.strip().lower())
                    if q is None:
                        e.add("quality", ONE_OF, expected="good, uncertain, bad")
                    else:
                        quality = q
                if not e.bad and ts is not None and point is not None:
                    recs.append(ReadingRec(line, point, ts, value, quality))
        else:
            columns: list[tuple[int, int, str]] = []  # (cell index, point id, header)
            for i, name in m.extra:
                if not name:
                    continue
                pid = points.get(name)
                if pid is None:
                    result.errors.append(RowError(table.header_line, "point", UNKNOWN_POINT, {"code": name}, name,
                                                  row=False))
                else:
                    columns.append((i, pid, name))
            if not columns and not result.errors:
                raise file_error(NO_POINT_COLUMNS)
            for line, cells in table.rows:
                e = RowErrors(line, m, result.errors)
                ts = _time(cells, m, e, "ts", self.tz, required=True)
                values: list[tuple[int, float]] = []
                for i, pid, name in columns:
                    raw = cells[i].strip() if i < len(cells) else ""
                    if not raw:
                        continue  # no reading of this point at this time
                    value = self._value(raw, e, "value", required=False, column=name)
                    if value is not None:
                        values.append((pid, value))
                if not e.bad and ts is not None:
                    recs.extend(ReadingRec(line, pid, ts, v, 0) for pid, v in values)
        recs = _dedupe(recs, lambda r: (r.point_id, r.ts), "ts", result.errors, m)
        self._write_readings(recs, result)

    def _value(self, raw: str, e: RowErrors, name: str, *, required: bool, column: str = "") -> float | None:
        if not raw:
            if required:
                e.add(name, REQUIRED)
            return None
        try:
            value = _number(raw, self.decimal_comma)
        except ValueError:
            self._value_error(e, name, NUMBER, column)
            return None
        if not math.isfinite(value):
            self._value_error(e, name, FINITE, column)
            return None
        return value

    @staticmethod
    def _value_error(e: RowErrors, name: str, message: str, column: str) -> None:
        if column:
            e.bad = True
            e.out.append(RowError(e.line, name, message, {}, column))
        else:
            e.add(name, message)

    def _write_readings(self, recs: list[ReadingRec], result: ImportResult) -> None:
        if not recs:
            return
        batch = ReadingBatch(self.enterprise_id)
        for r in recs:
            batch.append(r.point_id, r.ts, r.value, Quality(r.quality))
        created = write_batch(self.conn, batch)
        result.created += created
        result.unchanged += len(recs) - created

    # -- statements -------------------------------------------------------------------------------

    def _insert(self, table: Any, rows: list[dict[str, Any]]) -> int:
        """Insert, skipping rows whose natural key appeared meanwhile (a concurrent import)."""
        if not rows:
            return 0
        dialect = self.conn.dialect.name
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing()
        else:  # pragma: no cover - the two supported databases are above
            stmt = insert(table)
        for chunk in _chunks(rows, CHUNK):
            self.conn.execute(stmt, chunk)
        return len(rows)

    def _update(self, model: Any, rows: list[dict[str, Any]]) -> None:
        for chunk in _chunks(rows, CHUNK):
            self.session.execute(update(model), chunk)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


# -- entry points ------------------------------------------------------------------------------------


def import_csv(session: Session, actor: Actor, kind: Kind | str, data: bytes, *, tz: tzinfo | None = None,
               ) -> ImportResult:
    """Import one CSV file for the caller's enterprise; the caller commits."""
    actor.require(IMPORT_PERM)
    text = decode(data)
    table = read_table(text)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    importer = Importer(session, actor.enterprise_id, tz or plant_tz(), decimal_comma=delimiter(first) == ";")
    return importer.run(Kind(kind), table)


def import_records(session: Session, actor: Actor, kind: Kind | str, records: Sequence[Mapping[str, Any]],
                   *, tz: tzinfo | None = None) -> ImportResult:
    """Import rows given as mappings (the JSON batch API); field names as in the CSV header."""
    actor.require(IMPORT_PERM)
    if len(records) > MAX_ROWS:
        raise file_error(FILE_TOO_MANY_ROWS, limit=MAX_ROWS)
    return Importer(session, actor.enterprise_id, tz or plant_tz()).run(Kind(kind), table_from_records(records))


def import_file_for(session: Session, enterprise_id: int, kind: Kind | str, data: bytes,
                    *, tz: tzinfo | None = None) -> ImportResult:
    """The same as :func:`import_csv` without a caller: for the CLI and the simulator's loader,
    which act as the system on one enterprise."""
    text = decode(data)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    importer = Importer(session, enterprise_id, tz or plant_tz(), decimal_comma=delimiter(first) == ";")
    return importer.run(Kind(kind), read_table(text))


__all__ = [
    "COLUMNS",
    "IMPORT_PERM",
    "KIND_LABELS",
    "MAX_FILE_BYTES",
    "ImportFileError",
    "ImportResult",
    "Kind",
    "ParsedTable",
    "RowError",
    "import_csv",
    "import_file_for",
    "import_records",
]
