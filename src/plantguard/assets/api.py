"""/api/v1/equipment and /api/v1/points."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from plantguard.api.crud import RefId, crud_router
from plantguard.assets.schemas import (
    EquipmentCreate,
    EquipmentPublic,
    EquipmentUpdate,
    PointCreate,
    PointPublic,
    PointUpdate,
)
from plantguard.assets.service import equipment_service, point_service
from plantguard.core.schemas import Text

Search = Annotated[Text | None, Query(max_length=100, description="Text search over code, name, ...")]


async def equipment_filters(
    area_id: RefId = None,
    status: Literal["in_service", "standby", "maintenance", "retired"] | None = None,
    criticality: Literal["A", "B", "C"] | None = None,
    type: Annotated[Text | None, Query(max_length=60)] = None,
    q: Search = None,
) -> dict[str, Any]:
    return {"area_id": area_id, "status": status, "criticality": criticality, "type": type, "q": q}


async def point_filters(equipment_id: RefId = None, q: Search = None) -> dict[str, Any]:
    return {"equipment_id": equipment_id, "q": q}


router = APIRouter()
router.include_router(crud_router(
    path="/equipment", tag="equipment", service=equipment_service, create_schema=EquipmentCreate,
    update_schema=EquipmentUpdate, public_schema=EquipmentPublic, filters=equipment_filters,
))
router.include_router(crud_router(
    path="/points", tag="points", service=point_service, create_schema=PointCreate,
    update_schema=PointUpdate, public_schema=PointPublic, filters=point_filters,
))
