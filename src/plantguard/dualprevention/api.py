"""/api/v1/dual-prevention/kpi and the XLSX exports of the lists:
/api/v1/risk-points.xlsx, /api/v1/hazards.xlsx, /api/v1/inspections.xlsx, /api/v1/workorders.xlsx.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Why ``/hazards.xlsx`` rather than ``/hazards/export.xlsx``: the latter would be matched by
``/hazards/{item_id}`` of the domain router (included first) and answered 422. Each export
takes exactly the list endpoint's filters (same names, same validation); the service checks
the role and scopes the query to the caller's enterprise.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from plantguard.api.crud import RefId
from plantguard.api.deps import GuardedRoute, current_actor, db_session
from plantguard.core.permissions import Actor
from plantguard.core.schemas import Text
from plantguard.core.xlsx import XLSX_MEDIA_TYPE, filename
from plantguard.dualprevention import exports, kpi
from plantguard.dualprevention.schemas import KpiOut

router = APIRouter(tags=["dual-prevention"], route_class=GuardedRoute)
Word = Annotated[Text | None, Query(max_length=80)]
DayParam = Annotated[Text | None, Query(alias="from", max_length=20, description="first plant-local day, YYYY-MM-DD")]
ToParam = Annotated[Text | None, Query(max_length=20, description="last plant-local day (inclusive), YYYY-MM-DD")]
DaysParam = Annotated[Text | None, Query(max_length=20, description="recurrence window in days (1-730, default 90)")]
XLSX_DOC: dict[int | str, dict[str, Any]] = {200: {
    "description": "The list as an XLSX workbook (header in the caller's language, times in plant time). "
                   "X-Total-Count: rows matching the filters; X-Exported-Rows: rows in the file (at most 10000).",
    "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/dual-prevention/kpi", response_model=KpiOut,
            summary="Hazards by grade/category/area/status, on-time rectification, closure, recurrence, "
                    "inspection completion and 12-month trends")
def get_kpi(from_: DayParam = None, to: ToParam = None, recurrence_days: DaysParam = None,
            actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    k = kpi.kpi(session, actor, from_, to, recurrence_days)
    body = KpiOut.model_validate(kpi.as_dict(k)).model_dump_json(by_alias=True)
    return Response(body, media_type="application/json")


def _xlsx(e: exports.Export) -> Response:
    return Response(e.content, media_type=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{filename(e.stem)}"', "Cache-Control": "no-store",
        "X-Total-Count": str(e.total), "X-Exported-Rows": str(e.rows)})


@router.get("/hazards.xlsx", response_class=Response, responses=XLSX_DOC,
            summary="Hazards as XLSX (the filters of GET /hazards)")
def hazards_xlsx(status: Word = None, grade: Word = None, category: Word = None, area_id: RefId = None,
                 overdue: bool | None = None, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Response:
    return _xlsx(exports.hazards_xlsx(session, actor, status=status, grade=grade, category=category,
                                      area_id=area_id, overdue=overdue))


@router.get("/risk-points.xlsx", response_class=Response, responses=XLSX_DOC,
            summary="The risk register as XLSX (the filters of GET /risk-points)")
def risk_points_xlsx(area_id: RefId = None, level: Word = None, q: Word = None, active: bool | None = True,
                     actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Response:
    return _xlsx(exports.risk_points_xlsx(session, actor, area_id=area_id, level=level, q=q, active=active))


@router.get("/inspections.xlsx", response_class=Response, responses=XLSX_DOC,
            summary="Inspection tasks and their outcome as XLSX (the filters of GET /inspections)")
def inspections_xlsx(status: Word = None, plan_id: RefId = None, risk_point_id: RefId = None,
                     team_id: RefId = None, mine: bool | None = None, due: Word = None,
                     actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Response:
    return _xlsx(exports.inspections_xlsx(session, actor, status=status, plan_id=plan_id,
                                          risk_point_id=risk_point_id, team_id=team_id, mine=mine, due=due))


@router.get("/workorders.xlsx", response_class=Response, responses=XLSX_DOC,
            summary="Work orders as XLSX (the filters of GET /workorders)")
def workorders_xlsx(status: Word = None, priority: Word = None, team_id: RefId = None, assignee: Word = None,
                    overdue: bool | None = None, actor: Actor = Depends(current_actor),
                    session: Session = Depends(db_session)) -> Response:
    return _xlsx(exports.workorders_xlsx(session, actor, status=status, priority=priority, team_id=team_id,
                                         assignee=assignee, overdue=overdue))
