"""Equipment and measurement point schemas: Base, Create, Update, Public."""

from __future__ import annotations

from datetime import date
from typing import Literal

from plantguard.core.schemas import (
    Code,
    Code60,
    Id,
    Input,
    LongText,
    Name,
    Name60,
    Number,
    Output,
    ShortText,
    ShortText20,
    ShortText40,
    ShortText100,
)

Criticality = Literal["A", "B", "C"]
EquipmentStatus = Literal["in_service", "standby", "maintenance", "retired"]


class EquipmentCreate(Input):
    code: Code
    name: Name
    type: Name60
    area_id: Id
    model: ShortText100 = ""
    maker: ShortText = ""
    install_date: date | None = None
    criticality: Criticality = "B"
    status: EquipmentStatus = "in_service"
    notes: LongText = ""


class EquipmentUpdate(Input):
    code: Code | None = None
    name: Name | None = None
    type: Name60 | None = None
    area_id: Id | None = None
    model: ShortText100 | None = None
    maker: ShortText | None = None
    install_date: date | None = None
    criticality: Criticality | None = None
    status: EquipmentStatus | None = None
    notes: LongText | None = None


class AreaRef(Output):
    id: int
    code: str
    name: str


class EquipmentPublic(Output):
    id: int
    code: str
    name: str
    type: str
    model: str
    maker: str
    install_date: date | None
    criticality: str
    status: str
    notes: str
    area_id: int
    area: AreaRef


class PointCreate(Input):
    equipment_id: Id
    code: Code60
    name: Name
    quantity: ShortText40 = ""
    unit: ShortText20 = ""
    range_low: Number | None = None
    range_high: Number | None = None
    low_alarm: Number | None = None
    low_warning: Number | None = None
    high_warning: Number | None = None
    high_alarm: Number | None = None
    enabled: bool = True


class PointUpdate(Input):
    equipment_id: Id | None = None
    code: Code60 | None = None
    name: Name | None = None
    quantity: ShortText40 | None = None
    unit: ShortText20 | None = None
    range_low: Number | None = None
    range_high: Number | None = None
    low_alarm: Number | None = None
    low_warning: Number | None = None
    high_warning: Number | None = None
    high_alarm: Number | None = None
    enabled: bool | None = None


class EquipmentRef(Output):
    id: int
    code: str
    name: str


class PointPublic(Output):
    id: int
    equipment_id: int
    equipment: EquipmentRef
    code: str
    name: str
    quantity: str
    unit: str
    range_low: float | None
    range_high: float | None
    low_alarm: float | None
    low_warning: float | None
    high_warning: float | None
    high_alarm: float | None
    enabled: bool
