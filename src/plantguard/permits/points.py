"""Binding sensing points to a permit's location (issue 7 point 4): which fixed gas, oxygen and
toxic detectors stand at the work, and how one of their readings compares with the permit's limits.

Why binding is not a content edit (4.18 forbids altering an approved permit): the bound points do
not change what the permit allows (work, place, people, measures, time); they add evidence about
the atmosphere while it is used, like another gas analysis. So points may be bound and unbound
while the permit is not finished, and ``content_sha256`` does not cover them; every binding is a
line in the permit's history instead.

The limits themselves are the service's (:func:`plantguard.permits.gas.evaluate`, 5.3.2 / 6.4);
this module only turns a detector's unit into the one the limit is written in: fixed detectors
read toxics in ppm, GBZ 2.1 limits are in mg/m³ (mg/m³ = ppm × M / 24.45 at 25 °C, 101.3 kPa).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.db import utcnow
from plantguard.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.permits import gas, lifecycle
from plantguard.permits.contract import TERMINAL_STATUSES, GasKind
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import STATUS_LABELS, Permit, PermitPoint
from plantguard.permits.query import get, who
from plantguard.permits.readiness import KIND_LABELS, uses_continuous
from plantguard.permits.types import PermitType, gases, get_type
from plantguard.timeseries.models import PointLast

# Point quantities (assets: measurement_point.quantity) → the kind of limit they are checked against.
QUANTITY_KIND: dict[str, str] = {"gas_lel": GasKind.COMBUSTIBLE, "gas_vol": GasKind.COMBUSTIBLE,
                                 "gas_o2": GasKind.OXYGEN}
# Toxic quantities and the gases.yaml ``toxics`` code they measure.
TOXIC_QUANTITY_GAS: dict[str, str] = {"gas_h2s": "hydrogen_sulfide", "gas_co": "carbon_monoxide",
                                      "gas_cl2": "chlorine", "gas_benzene": "benzene"}
MOLAR_MASS_G: dict[str, float] = {"hydrogen_sulfide": 34.08, "carbon_monoxide": 28.01, "chlorine": 70.90,
                                  "benzene": 78.11}
MOLAR_VOLUME_L = 24.45
UNIT_ALIASES: dict[str, str] = {"%lel": "%LEL", "%vol": "%vol", "% vol": "%vol", "vol%": "%vol", "ppm": "ppm",
                                "mg/m3": "mg/m3", "mg/m³": "mg/m3"}
POINT = N_("measurement point")


def point_kind(quantity: str) -> str | None:
    """The kind of limit a point's readings are checked against; None for anything but a gas."""
    q = (quantity or "").strip().lower()
    if q in QUANTITY_KIND:
        return QUANTITY_KIND[q]
    return GasKind.TOXIC if q.startswith("gas_") else None


def kinds_with_limits(ptype: PermitType, fields: dict[str, Any]) -> list[str]:
    """The kinds the standard sets a limit for on this work (the only ones worth watching)."""
    rules = ptype.gas
    if rules is None:
        return []
    out: list[str] = []
    if rules.combustible:
        out.append(GasKind.COMBUSTIBLE)
    if rules.oxygen is not None or (rules.oxygen_service_max and fields.get("oxygen_service")):
        out.append(GasKind.OXYGEN)
    if rules.toxic:
        out.append(GasKind.TOXIC)
    return out


def norm_unit(unit: str) -> str:
    return UNIT_ALIASES.get((unit or "").strip().lower(), (unit or "").strip())


def _unit_ok(kind: str, unit: str, gas_code: str) -> bool:
    u = norm_unit(unit)
    if kind == GasKind.TOXIC:
        return u == "mg/m3" or (u == "ppm" and gas_code in MOLAR_MASS_G)
    return u in gas.UNITS[kind]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    value: float  # as read, in the point's unit
    unit: str
    vol_pct: float | None
    limit: str  # limit text citing its clause


def judge(ptype: PermitType, permit: Any, kind: str, gas_code: str, value: float, unit: str) -> Verdict:
    """One reading of a bound point against the permit's limit (``gas.evaluate``). A reading
    outside the detector's physical scale is clamped to it (a slightly negative zero drift is
    zero; over 100 %LEL is 100 %LEL, still a breach), never refused. ``permit`` needs ``fields``
    and ``gas_code`` (a :class:`Permit` or the monitor's snapshot of one)."""
    u = norm_unit(unit)
    v = max(0.0, float(value))
    if u in ("%LEL", "%vol"):
        v = min(v, 100.0)
    checked, checked_unit = v, u
    if kind == GasKind.TOXIC and u == "ppm":
        checked, checked_unit = v * MOLAR_MASS_G[gas_code] / MOLAR_VOLUME_L, "mg/m3"
    passed, vol, limit = gas.evaluate(ptype, permit, kind, gas_code or None, checked, checked_unit)
    return Verdict(passed, float(value), u, vol, limit)


def _permit_type(permit: Permit) -> PermitType:
    ptype = get_type(permit.type_code)
    if ptype is None:  # pragma: no cover - types.yaml holds every stored type
        raise NotFound(N_("Permit"), permit.id)
    return ptype


def _point(session: Session, enterprise_id: int, point_id: int) -> MeasurementPoint:
    pt = session.scalars(select(MeasurementPoint).where(MeasurementPoint.id == point_id,
                                                        MeasurementPoint.enterprise_id == enterprise_id)).first()
    if pt is None:
        raise ValidationFailed([FieldError("point_id", N_("No such %(entity)s"), {"entity": POINT})])
    return pt


def _gas_for(kind: str, point: MeasurementPoint, permit: Permit, gas_code: str | None) -> str:
    """The gas a binding is judged for, or a field-named refusal."""
    if kind == GasKind.OXYGEN:
        return ""
    if kind == GasKind.COMBUSTIBLE:
        code = gas_code or permit.gas_code or ""
        if code not in gases()["gases"]:
            raise ValidationFailed([FieldError("gas_code", N_(
                "Name the gas this point measures: the combustible limit depends on its LEL (%(clause)s)"),
                {"clause": "GB 30871-2022 5.3.2"})])
        return code
    code = gas_code or TOXIC_QUANTITY_GAS.get(point.quantity.strip().lower(), "")
    if code not in gases().get("toxics", {}):
        raise ValidationFailed([FieldError("gas_code", N_(
            "Name the toxic gas this point measures (one with an exposure limit, %(clause)s)"),
            {"clause": "GB 30871-2022 6.4 b"})])
    return code


def bind(session: Session, actor: Actor, permit_id: int, *, point_id: int, kind: str, gas_code: str | None = None,
         now: datetime | None = None) -> PermitPoint:
    """Bind a gas, oxygen or toxic point of the caller's plant to the permit; checked first,
    recorded in the permit's history. Watched as soon as the monitor next refreshes."""
    actor.require(Perm.APPLY_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    if permit.status in TERMINAL_STATUSES:
        raise Conflict(N_("Sensing points cannot be bound to this permit: it is %(status)s"),
                       status=STATUS_LABELS.get(permit.status, permit.status))
    point = _point(session, actor.enterprise_id, point_id)
    measured = point_kind(point.quantity)
    if measured is None:
        raise ValidationFailed([FieldError("point_id", N_("Point %(code)s does not measure a gas"),
                                           {"code": point.code})])
    if kind != measured:
        raise ValidationFailed([FieldError("kind", N_("Point %(code)s measures %(quantity)s: its kind is %(kind)s"),
                                           {"code": point.code, "quantity": point.quantity,
                                            "kind": KIND_LABELS.get(measured, measured)})])
    ptype = _permit_type(permit)
    if kind not in kinds_with_limits(ptype, permit.fields or {}):
        raise ValidationFailed([FieldError("kind", N_(
            "GB 30871-2022 sets no %(kind)s limit for this work: such a point cannot be watched for it"),
            {"kind": KIND_LABELS.get(kind, kind)})])
    code = _gas_for(kind, point, permit, gas_code)
    if not _unit_ok(kind, point.unit, code):
        raise ValidationFailed([FieldError("point_id", N_(
            "Point %(code)s reads in %(unit)s, which cannot be compared with the limit"),
            {"code": point.code, "unit": point.unit or "—"})])
    if session.scalar(select(PermitPoint.id).where(PermitPoint.permit_id == permit.id,
                                                   PermitPoint.point_id == point.id)) is not None:
        raise Conflict(N_("Point %(code)s is already bound to this permit"), code=point.code)
    row = PermitPoint(enterprise_id=permit.enterprise_id, permit_id=permit.id, point_id=point.id, kind=kind,
                      gas_code=code)
    session.add(row)
    at = now or utcnow()
    lifecycle.record(session, permit, "point_bound", at=at, who=who(actor), note=f"{point.code} {point.name}",
                     detail={"point_id": point.id, "code": point.code, "kind": kind, "gas_code": code})
    return row


def unbind(session: Session, actor: Actor, permit_id: int, point_id: int, *, now: datetime | None = None) -> None:
    """Unbind a point. While work under continuous monitoring is in progress, the last point of
    a kind the work needs may not go: the monitoring stands for the analysis (5.3.1 d)."""
    actor.require(Perm.APPLY_PERMITS)
    permit = get(session, actor, permit_id, for_update=True)
    row = session.scalars(select(PermitPoint).where(PermitPoint.permit_id == permit.id,
                                                    PermitPoint.point_id == point_id)).first()
    if row is None:
        raise NotFound(POINT, point_id)
    if permit.status in TERMINAL_STATUSES:
        raise Conflict(N_("Sensing points cannot be unbound from this permit: it is %(status)s"),
                       status=STATUS_LABELS.get(permit.status, permit.status))
    ptype = _permit_type(permit)
    if permit.status == S.ACTIVE and uses_continuous(ptype, permit):
        same = session.scalars(select(PermitPoint.id).where(PermitPoint.permit_id == permit.id,
                                                            PermitPoint.kind == row.kind)).all()
        if row.kind in gas.required_kinds(ptype, permit.fields or {}) and len(same) <= 1:
            raise Conflict(N_("Work under continuous monitoring is in progress: the last %(kind)s point cannot be "
                              "unbound (GB 30871-2022 5.3.1 d)"), kind=KIND_LABELS.get(row.kind, row.kind))
    code = session.scalar(select(MeasurementPoint.code).where(MeasurementPoint.id == point_id)) or str(point_id)
    session.delete(row)
    lifecycle.record(session, permit, "point_unbound", at=now or utcnow(), who=who(actor), note=code,
                     detail={"point_id": point_id, "code": code, "kind": row.kind})


def _last(session: Session, point_ids: list[int]) -> dict[int, PointLast]:
    if not point_ids:
        return {}
    return {r.point_id: r for r in session.scalars(select(PointLast).where(PointLast.point_id.in_(point_ids)))}


def _described(pt: MeasurementPoint, eq_code: str, last: PointLast | None) -> dict[str, Any]:
    from plantguard.ingest.reading import from_us

    return {"point_id": pt.id, "code": pt.code, "name": pt.name, "quantity": pt.quantity, "unit": pt.unit,
            "equipment_code": eq_code, "kind": point_kind(pt.quantity),
            "current_value": last.value if last else None, "current_ts": from_us(last.ts) if last else None}


def bound(session: Session, actor: Actor, permit_id: int) -> list[dict[str, Any]]:
    """The permit's points with the value the monitor last saw and the newest stored reading."""
    permit = get(session, actor, permit_id)
    rows = session.execute(select(PermitPoint, MeasurementPoint, Equipment.code)
                           .join(MeasurementPoint, MeasurementPoint.id == PermitPoint.point_id)
                           .join(Equipment, Equipment.id == MeasurementPoint.equipment_id)
                           .where(PermitPoint.permit_id == permit.id, PermitPoint.enterprise_id == actor.enterprise_id)
                           .order_by(PermitPoint.id)).all()
    last = _last(session, [pp.point_id for pp, _, _ in rows])
    return [{**_described(pt, eq, last.get(pt.id)), "kind": pp.kind, "gas_code": pp.gas_code,
             "last_value": pp.last_value, "last_ts": pp.last_ts} for pp, pt, eq in rows]


def suggest(session: Session, actor: Actor, permit_id: int) -> list[dict[str, Any]]:
    """Gas, oxygen and toxic points on the permit's equipment or in its area that are not bound
    yet and that the work has a limit for; the permit's own equipment first."""
    permit = get(session, actor, permit_id)
    wanted = set(kinds_with_limits(_permit_type(permit), permit.fields or {}))
    taken = set(session.scalars(select(PermitPoint.point_id).where(PermitPoint.permit_id == permit.id)))
    place = Equipment.area_id == permit.area_id
    if permit.equipment_id is not None:
        place = or_(place, Equipment.id == permit.equipment_id)
    rows = session.execute(select(MeasurementPoint, Equipment.code, Equipment.id)
                           .join(Equipment, Equipment.id == MeasurementPoint.equipment_id)
                           .where(MeasurementPoint.enterprise_id == actor.enterprise_id,
                                  Equipment.enterprise_id == actor.enterprise_id, MeasurementPoint.enabled.is_(True),
                                  MeasurementPoint.quantity.like("gas\\_%", escape="\\"), place)
                           .order_by(MeasurementPoint.code)).all()
    picked = [(pt, code, eq_id) for pt, code, eq_id in rows
              if pt.id not in taken and point_kind(pt.quantity) in wanted]
    picked.sort(key=lambda r: (r[2] != permit.equipment_id, r[0].code))
    last = _last(session, [pt.id for pt, _, _ in picked])
    return [_described(pt, code, last.get(pt.id)) for pt, code, _ in picked]
