"""Operational context recorded next to the readings: PLC events, MES work orders and their
phases, people's zone entries (UWB/RFID). Ambient values are ordinary readings of the
environment monitors' measurement points and live in the ``reading`` table.

Time columns (``ts``, ``*_ts``) are integers, microseconds since the Unix epoch, UTC, exactly
like ``reading.ts``. Why not ``UTCDateTime``: every question asked of these tables is an
as-of comparison against readings or against each other ("the phase whose start is the
latest one not after t"), and the vectorised alignment sorts and merges hundreds of thousands
of timestamps. Integers compare directly with reading times, need no per-row conversion on
bulk import or read, cost 8 bytes on SQLite and have no timezone to get wrong. The API and the
pages convert at the edge.

These rows are telemetry-like and imported in bulk (a day of PLC logs is thousands of rows),
so they are not ``Audited``: the ledger would grow by one entry per row. The natural keys
below make a re-import the same rows, which is what an import history needs.

Each natural key is a unique constraint whose leading columns are the as-of lookup's index:
(enterprise, equipment, time) for events and phases, (enterprise, area, entered) for zone
entries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plantguard.core.db import PK, Base, TimestampMixin
from plantguard.core.i18n import N_
from plantguard.tenancy.models import TenantMixin

BIGINT = BigInteger().with_variant(Integer(), "sqlite")

# Work phases, code → English label (a catalogue message id; zh-CN in the catalogue).
PHASES: dict[str, str] = {
    "changeover": N_("Changeover (die change)"),
    "first_piece": N_("First-piece debugging"),
    "steady": N_("Steady production"),
    "maintenance": N_("Maintenance"),
    "idle": N_("Idle"),
}

# PLC event kinds. Alarms, faults and incidents count towards risk; starts and stops are
# state changes that only give context.
EVENT_KINDS: dict[str, str] = {
    "alarm": N_("Alarm"),
    "fault": N_("Fault"),
    "incident": N_("Incident"),
    "stop": N_("Machine stop"),
    "start": N_("Machine start"),
    "info": N_("Information"),
}
RISK_KINDS: tuple[str, ...] = ("alarm", "fault", "incident")

# Where a zone entry came from.
ZONE_SOURCES: dict[str, str] = {"uwb": N_("UWB positioning"), "rfid": N_("RFID gate"), "manual": N_("Manual entry")}

SEVERITY_MAX = 9  # 0 = not given; 1 (lowest) … 9 (highest), as PLC alarm classes number them


class PlcEvent(TenantMixin, Base):
    """One PLC log line: an alarm, fault, incident, stop or start of one piece of equipment."""

    __tablename__ = "plc_event"
    __table_args__ = (UniqueConstraint("enterprise_id", "equipment_id", "ts", "code"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    ts: Mapped[int] = mapped_column(BIGINT)  # µs since epoch, UTC
    code: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[int] = mapped_column(SmallInteger, default=0)
    message: Mapped[str] = mapped_column(String(500), default="")


# The phase-risk report reads every event of a period across the plant.
Index("ix_plc_event_enterprise_ts", PlcEvent.enterprise_id, PlcEvent.ts)


class MesWorkOrder(TenantMixin, TimestampMixin, Base):
    """An MES production order; its phases on each machine are :class:`MesPhase` rows."""

    __tablename__ = "mes_work_order"
    __table_args__ = (UniqueConstraint("enterprise_id", "order_no"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(60))
    product: Mapped[str] = mapped_column(String(200), default="")


class MesPhase(TenantMixin, Base):
    """A span of one machine's time in one work phase, half-open: ``[start_ts, end_ts)``.

    ``end_ts`` is empty while the phase is going on; a phase also ends where the machine's
    next phase starts. Idle and maintenance spans have no work order."""

    __tablename__ = "mes_phase"
    __table_args__ = (UniqueConstraint("enterprise_id", "equipment_id", "start_ts"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("mes_work_order.id", ondelete="SET NULL"), index=True, default=None
    )
    phase: Mapped[str] = mapped_column(String(20))
    start_ts: Mapped[int] = mapped_column(BIGINT)
    end_ts: Mapped[int | None] = mapped_column(BIGINT, default=None)


# The phase-risk report reads the phases starting in a period across the plant.
Index("ix_mes_phase_enterprise_start", MesPhase.enterprise_id, MesPhase.start_ts)


class ZoneEntry(TenantMixin, Base):
    """A badge's stay in an area, half-open: ``[entered_ts, left_ts)``; open while inside.

    ``badge`` is the tag as the positioning system reads it (the employee number when the
    import names only the person); ``person_id`` is set when the tag belongs to a known person."""

    __tablename__ = "zone_entry"
    __table_args__ = (UniqueConstraint("enterprise_id", "area_id", "entered_ts", "badge"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"), index=True,
                                                  default=None)
    badge: Mapped[str] = mapped_column(String(60))
    entered_ts: Mapped[int] = mapped_column(BIGINT)
    left_ts: Mapped[int | None] = mapped_column(BIGINT, default=None)
    source: Mapped[str] = mapped_column(String(10), default="uwb")
