"""/api/v1/detection-rules: CRUD, ``POST /validate`` and ``POST /{id}/backtest``.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId, RefId, crud_router, model_response
from plantguard.api.deps import GuardedRoute, current_actor, db_session, requires
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import Text
from plantguard.detection.rules.schemas import BacktestOut, RuleCreate, RulePublic, RuleUpdate, ValidateOut
from plantguard.detection.rules.service import MAX_BACKTEST_HOURS, detection_rule_service
from plantguard.detection.signals import Severity


async def rule_filters(
    enabled: bool | None = None,
    severity: Severity | None = None,
    point_id: RefId = None,
    equipment_id: RefId = None,
    q: Annotated[Text | None, Query(max_length=100, description="Text search over name and description")] = None,
) -> dict[str, Any]:
    return {"enabled": enabled, "severity": severity.value if severity else None, "point_id": point_id,
            "equipment_id": equipment_id, "q": q}


router = APIRouter()
extra = APIRouter(prefix="/detection-rules", tags=["detection-rules"], route_class=GuardedRoute)


@requires(Perm.WRITE_DETECTION)
def validate(body: RuleCreate, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    """The rule as it would be saved: 422 with field-named errors, or what it would run."""
    actor.require(Perm.WRITE_DETECTION)
    return model_response(detection_rule_service.check(session, actor, body.model_dump()))


extra.add_api_route("/validate", validate, methods=["POST"], response_model=ValidateOut,
                    summary="Validate a detection rule without saving it")


@requires(Perm.WRITE_DETECTION)
def backtest(
    item_id: ItemId,
    hours: Annotated[float, Query(gt=0, le=MAX_BACKTEST_HOURS, description="How far back to run the rule")] = 24,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(db_session),
) -> Any:
    """When the rule would have alarmed over the stored history of its points (the live engine)."""
    actor.require(Perm.WRITE_DETECTION)
    return model_response(detection_rule_service.backtest(session, actor, item_id, hours))


extra.add_api_route("/{item_id}/backtest", backtest, methods=["POST"], response_model=BacktestOut,
                    summary="Run a detection rule over stored history")

router.include_router(extra)
router.include_router(crud_router(
    path="/detection-rules", tag="detection-rules", service=detection_rule_service, create_schema=RuleCreate,
    update_schema=RuleUpdate, public_schema=RulePublic, filters=rule_filters,
))
