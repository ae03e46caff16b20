"""Equipment ledger and measurement point services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.crud import Ref, TenantCrud
from plantguard.core.errors import Conflict, FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Area

THRESHOLD_ORDER = ("low_alarm", "low_warning", "high_warning", "high_alarm")


class EquipmentService(TenantCrud[Equipment]):
    model = Equipment
    entity_label = N_("Equipment")
    write_perm = Perm.WRITE_EQUIPMENT
    refs = (Ref("area_id", Area, N_("area")),)
    search_fields = ("code", "name", "type", "model", "maker")

    def check_delete(self, session: Session, actor: Actor, obj: Equipment) -> None:
        points = session.scalar(
            select(func.count()).select_from(MeasurementPoint).where(MeasurementPoint.equipment_id == obj.id)
        )
        if points:
            raise Conflict(
                "Equipment %(code)s still has %(count)s measurement points; delete or move them first",
                code=obj.code, count=points,
            )


class PointService(TenantCrud[MeasurementPoint]):
    model = MeasurementPoint
    entity_label = N_("Measurement point")
    write_perm = Perm.WRITE_POINTS
    refs = (Ref("equipment_id", Equipment, N_("equipment")),)
    search_fields = ("code", "name", "quantity")

    def validate(
        self, session: Session, actor: Actor, merged: dict[str, Any], obj: MeasurementPoint | None
    ) -> None:
        errors: list[FieldError] = []
        lo, hi = merged.get("range_low"), merged.get("range_high")
        if lo is not None and hi is not None and lo >= hi:
            errors.append(FieldError("range_high", "Must be greater than the range low (%(low)s)", {"low": lo}))
        prev_name, prev_val = None, None
        for name in THRESHOLD_ORDER:
            val = merged.get(name)
            if val is None:
                continue
            if prev_val is not None and val < prev_val:
                errors.append(FieldError(name, "Must not be below %(other)s (%(value)s)",
                                         {"other": prev_name, "value": prev_val}))
            prev_name, prev_val = name, val
        if errors:
            raise ValidationFailed(errors)


equipment_service = EquipmentService()
point_service = PointService()
