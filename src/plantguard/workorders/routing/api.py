"""/api/v1/routing: rule-set versions, the version in force, saving a version, the tester.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy.orm import Session

from plantguard.api.crud import model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.core.permissions import Actor, Perm
from plantguard.workorders.contract import FACT_FIELDS
from plantguard.workorders.routing.engine import show
from plantguard.workorders.routing.schemas import (
    DecisionOut,
    RuleSetCreate,
    RuleSetPublic,
    RuleSetSummary,
    StepOut,
    TryIn,
    TryOut,
    WhyOut,
)
from plantguard.workorders.routing.service import TryResult, routing_service

router = APIRouter(prefix="/routing", tags=["routing"], route_class=GuardedRoute)


def try_out(result: TryResult) -> TryOut:
    d = result.decision
    return TryOut(
        decision=DecisionOut(team_code=d.team_code, priority=d.priority.value, skills=list(d.skills),
                             assignee_username=d.assignee_username, rule=d.rule,
                             rule_set_version=result.version),
        steps=[StepOut(rule=s.rule, index=s.index, matched=s.matched,
                       why=WhyOut.model_validate(s.why.as_dict()) if s.why is not None else None)
               for s in result.steps],
        trace=list(d.trace), facts={k: sorted(v) if isinstance(v, frozenset) else
                                    show(k, v) if FACT_FIELDS[k] == "time" else v
                                    for k, v in result.facts.items()}, version=result.version)


@router.get("/rule-sets", response_model=list[RuleSetSummary], summary="Routing rule-set versions, newest first")
def list_versions(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    rows = routing_service.versions(session, actor)
    return [RuleSetSummary.model_validate(r) for r in rows]


@router.get("/rule-sets/current", response_model=RuleSetPublic, summary="The routing rule set in force")
def current(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return model_response(RuleSetPublic.model_validate(routing_service.current(session, actor)))


@router.get("/rule-sets/{version}", response_model=RuleSetPublic, summary="One routing rule-set version")
def one(version: Annotated[int, Path(ge=1, le=2**31 - 1)], actor: Actor = Depends(current_actor),
        session: Session = Depends(db_session)) -> Any:
    return model_response(RuleSetPublic.model_validate(routing_service.version(session, actor, version)))


@requires(Perm.MANAGE_ROUTING)
def create(body: RuleSetCreate, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    """Save a new version; 422 naming the rule (and the path in the document) when it cannot work."""
    row = routing_service.save(acting(session, actor), actor, body.source, body.comment)
    session.commit()
    return model_response(RuleSetPublic.model_validate(row), status_code=201)


router.add_api_route("/rule-sets", create, methods=["POST"], response_model=RuleSetPublic, status_code=201,
                     summary="Save a new routing rule-set version")


@requires(Perm.MANAGE_ROUTING)
def try_route(body: TryIn, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    """What would happen: the decision and, per rule tried, the predicate that failed or held."""
    result = routing_service.try_route(session, actor, body.facts, body.alarm_id, body.source)
    return model_response(try_out(result))


router.add_api_route("/try", try_route, methods=["POST"], response_model=TryOut,
                     summary="Try the routing rules on sample facts or an alarm")
