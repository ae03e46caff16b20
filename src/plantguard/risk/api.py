"""/api/v1/risk-points, /api/v1/risk-sources, /api/v1/risk-measures, /api/v1/risk-methods.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the service checks the role again and scopes every query to the tenant;
every write is one transaction.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId, Limit, Offset, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.risk import config, methods, service
from plantguard.risk.models import RiskPoint
from plantguard.risk.schemas import (
    NULLABLE_POINT,
    AssessmentIn,
    AssessmentPublic,
    MeasureCreate,
    MeasurePublic,
    MeasureUpdate,
    MethodIn,
    MethodPublic,
    MethodsOut,
    PointCreate,
    PointDetail,
    PointPublic,
    PointUpdate,
    SourceCreate,
    SourceDetail,
    SourcePublic,
    SourceUpdate,
)

router = APIRouter(tags=["risk"], route_class=GuardedRoute)
Word = Annotated[Text | None, Query(max_length=80)]
MethodName = Annotated[str, Path(pattern="^(lec|ls)$", description="lec or ls")]


def detail_of(session: Session, actor: Actor, point: RiskPoint) -> PointDetail:
    sources = service.sources_of(session, actor, point)
    measures = service.measures_of_sources(session, actor, [s.id for s in sources])
    base = PointPublic.model_validate(point).model_dump()
    return PointDetail(
        **base,
        hazard_sources=[SourceDetail(**SourcePublic.model_validate(s).model_dump(),
                                     measures=[MeasurePublic.model_validate(m) for m in measures[s.id]])
                        for s in sources],
        assessments=[AssessmentPublic.model_validate(a) for a in service.history(session, actor, point)])


def _changes(body: Any, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Fields given in the body; ``null`` clears only the nullable ones."""
    data = body.model_dump(exclude_unset=True)
    return {k: v for k, v in data.items() if v is not None or k in nullable}


@router.get("/risk-points", response_model=PageOut[PointPublic],
            summary="Risk points with their current level, worst first")
def list_points(limit: Limit = 50, offset: Offset = 0, area_id: RefId = None, level: Word = None, q: Word = None,
                active: bool | None = True, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    page = service.list_points(session, actor, area_id=area_id, level=level, q=q, active=active, limit=limit,
                               offset=offset)
    return model_response(PageOut[PointPublic](items=[PointPublic.model_validate(p) for p in page.items],
                                               total=page.total))


@router.get("/risk-points/{item_id}", response_model=PointDetail,
            summary="One risk point with its hazard sources, control measures and assessment history")
def read_point(item_id: ItemId, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return model_response(detail_of(session, actor, service.get_point(session, actor, item_id)))


@router.post("/risk-points", response_model=PointDetail, status_code=201, summary="Add a risk point")
@requires(Perm.MANAGE_RISK)
def create_point(body: PointCreate, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    point = service.create_point(acting(session, actor), actor, body.model_dump())
    session.commit()
    return model_response(detail_of(session, actor, point), 201)


@router.patch("/risk-points/{item_id}", response_model=PointDetail,
              summary="Change a risk point; active=false deactivates it")
@requires(Perm.MANAGE_RISK)
def update_point(item_id: ItemId, body: PointUpdate, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    point = service.update_point(acting(session, actor), actor, item_id, _changes(body, NULLABLE_POINT))
    session.commit()
    return model_response(detail_of(session, actor, point))


@router.post("/risk-points/{item_id}/hazard-sources", response_model=SourcePublic, status_code=201,
             summary="Add a hazard source (危险源) to a point")
@requires(Perm.MANAGE_RISK)
def create_source(item_id: ItemId, body: SourceCreate, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Any:
    src = service.create_source(acting(session, actor), actor, item_id, body.model_dump())
    session.commit()
    return model_response(SourcePublic.model_validate(src), 201)


@router.patch("/risk-sources/{item_id}", response_model=SourcePublic,
              summary="Change a hazard source; active=false deactivates it")
@requires(Perm.MANAGE_RISK)
def update_source(item_id: ItemId, body: SourceUpdate, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Any:
    src = service.update_source(acting(session, actor), actor, item_id, _changes(body))
    session.commit()
    return model_response(SourcePublic.model_validate(src))


@router.post("/risk-sources/{item_id}/measures", response_model=MeasurePublic, status_code=201,
             summary="Add a control measure to a hazard source")
@requires(Perm.MANAGE_RISK)
def create_measure(item_id: ItemId, body: MeasureCreate, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    m = service.create_measure(acting(session, actor), actor, item_id, body.model_dump())
    session.commit()
    return model_response(MeasurePublic.model_validate(m), 201)


@router.patch("/risk-measures/{item_id}", response_model=MeasurePublic,
              summary="Change a control measure; active=false deactivates it")
@requires(Perm.MANAGE_RISK)
def update_measure(item_id: ItemId, body: MeasureUpdate, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    m = service.update_measure(acting(session, actor), actor, item_id, _changes(body))
    session.commit()
    return model_response(MeasurePublic.model_validate(m))


@router.post("/risk-points/{item_id}/assessments", response_model=AssessmentPublic, status_code=201,
             summary="Assess a point or one of its hazard sources (LEC or risk matrix)")
@requires(Perm.MANAGE_RISK)
def assess(item_id: ItemId, body: AssessmentIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    """422 naming the factor (``values.L``…) when a value is not in the table in force."""
    row = service.assess(acting(session, actor), actor, item_id, body.model_dump())
    session.commit()
    return model_response(AssessmentPublic.model_validate(row), 201)


@router.get("/risk-methods", response_model=MethodsOut,
            summary="The assessment methods in force (LEC and matrix) and the shipped variants")
def read_methods(actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    lec = config.current(session, actor, "lec")
    ls = config.current(session, actor, "ls")
    return model_response(MethodsOut(lec=MethodPublic.model_validate(lec), ls=MethodPublic.model_validate(ls),
                                     variants={m: methods.shipped_variants(m) for m in methods.METHOD_FACTORS}))


@router.get("/risk-methods/{method}/versions", response_model=list[MethodPublic],
            summary="Saved versions of a method, newest first")
def method_versions(method: MethodName, actor: Actor = Depends(current_actor),
                    session: Session = Depends(db_session)) -> Any:
    return [MethodPublic.model_validate(r) for r in config.versions(session, actor, method)]


@router.put("/risk-methods/{method}", response_model=MethodPublic,
            summary="Select a shipped variant or save edited tables (a new version)")
@requires(Perm.MANAGE_RISK)
def save_method(method: MethodName, body: MethodIn, actor: Actor = Depends(current_actor),
                session: Session = Depends(db_session)) -> Any:
    row = config.save(acting(session, actor), actor, method, variant=body.variant, spec=body.spec,
                      comment=body.comment)
    session.commit()
    return model_response(MethodPublic.model_validate(row))
