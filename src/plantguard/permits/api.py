"""/api/v1/permits (特殊作业票) and /api/v1/permit-types (the catalogue).

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the service checks the role again and scopes every query to the tenant; each
step commits once, after the service has checked everything (nothing half-written).

Every POST accepts an ``Idempotency-Key`` (the phone page replays steps taken offline): the
first send's history line keeps the key, and a repeat answers the permit as it is now, with
``Idempotent-Replayed: true``, without doing the step again. Signatures are JSON with the drawn
signature as a PNG data URL (``signature_png``), as the canvas gives it.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId, Limit, Offset, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires, runtime
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.permits import calendar, lifecycle, service, types
from plantguard.permits.models import STATUS_LABELS, Permit
from plantguard.permits.schemas import (
    AnalysisOut,
    CloseIn,
    EventOut,
    GasIn,
    GradeReason,
    LinkOut,
    MeasureIn,
    MeasureOut,
    NoteIn,
    PermitApply,
    PermitDetail,
    PermitPublic,
    PermitUpdate,
    ReasonIn,
    SignatureOut,
    SignIn,
    SuspendIn,
    WorkerOut,
)
from plantguard.tenancy.models import Person
from plantguard.workorders import idempotency, uploads

router = APIRouter(tags=["permits"], route_class=GuardedRoute)
Word = Annotated[Text | None, Query(max_length=200)]
ID = ItemId
MeasureCode = Annotated[str, Path(max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
KEYED = {"parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                         "description": "Client-chosen id of this step: a repeat returns the permit, unchanged"}]}


def _label(obj: Any, lang_en: bool) -> str:
    return str(getattr(obj, "name_en", "") if lang_en else getattr(obj, "name", ""))


def _is_en() -> bool:
    from plantguard.core.context import locale_var

    return locale_var.get() == "en"


def public(p: Permit) -> dict[str, Any]:
    en = _is_en()
    ptype = types.get_type(p.type_code)
    grade = ptype.grade(p.grade) if ptype else None
    return {**PermitPublic.model_validate(p).model_dump(),
            "type_name": _label(ptype, en) if ptype else p.type_code,
            "grade_name": _label(grade, en) if grade else p.grade,
            "status_label": _(STATUS_LABELS.get(p.status, p.status))}


def _reason(r: dict[str, Any]) -> GradeReason:
    params = dict(r.get("params") or {})
    msgid = str(r.get("msgid") or "")
    try:
        text = _(msgid) % params if params else _(msgid)
    except (KeyError, TypeError, ValueError):
        text = _(msgid)
    return GradeReason(msgid=msgid, params=params, text=text)


def detail_of(session: Session, actor: Actor, permit_id: int) -> PermitDetail:
    p = service.get(session, actor, permit_id)
    rows = service.workers(session, p)
    names: dict[int, str] = {pid: name for pid, name in session.execute(select(Person.id, Person.name).where(
        Person.id.in_([w.person_id for w in rows]), Person.enterprise_id == actor.enterprise_id))}
    return PermitDetail(
        **public(p), fields=p.fields or {}, grade_reasons=[_reason(r) for r in p.grade_reasons or []],
        risk_identification=p.risk_identification, jsa=p.jsa or [], other_measures=p.other_measures,
        other_measures_by=p.other_measures_by, suspend_note=p.suspend_note,
        workers=[WorkerOut(**WorkerOut.model_validate(w).model_dump(exclude={"name"}), name=names.get(w.person_id, ""))
                 for w in rows],
        measures=[MeasureOut.model_validate(m) for m in service.measures(session, p)],
        signatures=[SignatureOut.model_validate(s) for s in service.signatures(session, p)],
        analyses=[AnalysisOut.model_validate(a) for a in service.analyses(session, p)],
        links=[LinkOut.model_validate(x) for x in service.linked(session, p)],
        history=[EventOut(**EventOut.model_validate(e).model_dump(exclude={"kind_label"}),
                          kind_label=_(lifecycle.EVENT_KINDS.get(e.kind, e.kind)))
                 for e in service.history(session, p)],
        conflicts=service.conflicts_of(session, p))


def step(request: Request, session: Session, actor: Actor, item_id: int,
         do: Callable[[Session, str | None], object]) -> Any:
    key = idempotency.key_of(request)
    permit = service.get(session, actor, item_id)
    again = service.replayed(session, permit, key)
    do(acting(session, actor), key)
    session.commit()
    headers = {idempotency.REPLAYED_HEADER: "true"} if again else None
    return JSONResponse(detail_of(session, actor, item_id).model_dump(mode="json"), headers=headers)


def _png(value: str | None) -> bytes | None:
    return None if value is None else uploads.decode_data_url(value, "signature_png")


@router.get("/permits", response_model=PageOut[PermitPublic], summary="Special work permits (特殊作业票), newest first")
def list_permits(limit: Limit = 50, offset: Offset = 0, status: Word = None, type_code: Word = None,
                 area_id: RefId = None, guardian_id: RefId = None, person_id: RefId = None,
                 from_: Annotated[datetime | None, Query(alias="from")] = None,
                 to: Annotated[datetime | None, Query()] = None,
                 actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = service.list_permits(session, actor, status=status, type_code=type_code, area_id=area_id,
                                guardian_id=guardian_id, person_id=person_id,
                                start=calendar.aware(from_) if from_ else None, end=calendar.aware(to) if to else None,
                                limit=limit, offset=offset)
    return model_response(PageOut[PermitPublic](items=[PermitPublic(**public(p)) for p in page.items],
                                                total=page.total))


@router.post("/permits", response_model=PermitDetail, status_code=201,
             summary="Apply for a permit (draft); a repeated Idempotency-Key returns the first one",
             openapi_extra=KEYED)
@requires(Perm.APPLY_PERMITS)
def apply(request: Request, body: PermitApply, actor: Actor = Depends(current_actor),
          session: Session = Depends(db_session)) -> Any:
    key = idempotency.key_of(request)
    again = key is not None and service.by_client_key(session, actor, key) is not None
    p = service.apply(acting(session, actor), actor, body.model_dump(), client_key=key)
    session.commit()
    headers = {idempotency.REPLAYED_HEADER: "true"} if again else None
    return JSONResponse(detail_of(session, actor, p.id).model_dump(mode="json"), status_code=201, headers=headers)


@router.get("/permits/{item_id}", response_model=PermitDetail,
            summary="One permit: workers, measures, sign-offs, gas analyses, links, history, conflicts")
def read_permit(item_id: ID, actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return model_response(detail_of(session, actor, item_id))


@router.patch("/permits/{item_id}", response_model=PermitDetail,
              summary="Change a draft (an approved permit is never altered: GB 30871-2022 4.18)")
@requires(Perm.APPLY_PERMITS)
def update(item_id: ID, body: PermitUpdate, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    service.update(acting(session, actor), actor, item_id, body.model_dump(exclude_unset=True))
    session.commit()
    return model_response(detail_of(session, actor, item_id))


@router.post("/permits/{item_id}/submit", response_model=PermitDetail, summary="Submit for approval",
             openapi_extra=KEYED)
@requires(Perm.APPLY_PERMITS)
def submit(request: Request, item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    note = body.note if body else ""
    return step(request, session, actor, item_id,
                lambda s, k: service.submit(s, actor, item_id, note=note, client_key=k))


@router.post("/permits/{item_id}/measures/{code}", response_model=PermitDetail,
             summary="Decide one safety measure (applicable or not), confirmed by the caller", openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def confirm_measure(request: Request, item_id: ID, code: MeasureCode, body: MeasureIn,
                    actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, lambda s, k: service.confirm_measure(
        s, actor, item_id, code, applicable=body.applicable, note=body.note, client_key=k))


@router.post("/permits/{item_id}/gas-analyses", response_model=PermitDetail,
             summary="Record a gas analysis; a failed one suspends active work (6.5)", openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def record_gas(request: Request, item_id: ID, body: GasIn, actor: Actor = Depends(current_actor),
               session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, lambda s, k: service.record_gas(
        s, actor, item_id, kind=body.kind, value=body.value, unit=body.unit, gas_code=body.gas_code,
        sampled_at=body.sampled_at, sample_point=body.sample_point, analyst_person_id=body.analyst_person_id,
        analyst_name=body.analyst_name, client_key=k))


@router.post("/permits/{item_id}/signatures", response_model=PermitDetail,
             summary="Sign a step as oneself (work leader, guardian, briefer, briefee, shift leader); JSON with "
                     "the drawn signature as a PNG data URL", openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def sign(request: Request, item_id: ID, body: SignIn, actor: Actor = Depends(current_actor),
         session: Session = Depends(db_session)) -> Any:
    png = _png(body.signature_png)
    var_dir = runtime(request).settings.var_dir
    return step(request, session, actor, item_id, lambda s, k: service.sign(
        s, actor, item_id, body.step, comment=body.comment, lat=body.lat, lon=body.lon, signature_png=png,
        var_dir=var_dir, client_key=k))


@router.post("/permits/{item_id}/start", response_model=PermitDetail, summary="Start work", openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def start(request: Request, item_id: ID, actor: Actor = Depends(current_actor),
          session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id, lambda s, k: service.start(s, actor, item_id, client_key=k))


@router.post("/permits/{item_id}/suspend", response_model=PermitDetail, summary="Suspend work (暂停)",
             openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def suspend(request: Request, item_id: ID, body: SuspendIn, actor: Actor = Depends(current_actor),
            session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id,
                lambda s, k: service.suspend(s, actor, item_id, body.reason, body.note, client_key=k))


@router.post("/permits/{item_id}/resume", response_model=PermitDetail,
             summary="Resume work (after a new analysis where required)", openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def resume(request: Request, item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    note = body.note if body else ""
    return step(request, session, actor, item_id,
                lambda s, k: service.resume(s, actor, item_id, note, client_key=k))


@router.post("/permits/{item_id}/complete", response_model=PermitDetail, summary="Work finished (完工)",
             openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def complete(request: Request, item_id: ID, body: NoteIn | None = None, actor: Actor = Depends(current_actor),
             session: Session = Depends(db_session)) -> Any:
    note = body.note if body else ""
    return step(request, session, actor, item_id,
                lambda s, k: service.complete(s, actor, item_id, note, client_key=k))


@router.post("/permits/{item_id}/close", response_model=PermitDetail,
             summary="Completion acceptance (完工验收): not by the work leader or a worker", openapi_extra=KEYED)
@requires(Perm.ACCEPT_PERMITS)
def close(request: Request, item_id: ID, body: CloseIn | None = None, actor: Actor = Depends(current_actor),
          session: Session = Depends(db_session)) -> Any:
    b = body or CloseIn()
    png = _png(b.signature_png)
    var_dir = runtime(request).settings.var_dir
    return step(request, session, actor, item_id, lambda s, k: service.close(
        s, actor, item_id, b.comment, lat=b.lat, lon=b.lon, signature_png=png, var_dir=var_dir, client_key=k))


@router.post("/permits/{item_id}/cancel", response_model=PermitDetail,
             summary="Cancel (作废/收回): the applicant before approval, the guardian during work, a manager any time",
             openapi_extra=KEYED)
@requires(Perm.WORK_PERMITS)
def cancel(request: Request, item_id: ID, body: ReasonIn, actor: Actor = Depends(current_actor),
           session: Session = Depends(db_session)) -> Any:
    return step(request, session, actor, item_id,
                lambda s, k: service.cancel(s, actor, item_id, body.reason, client_key=k))


@router.get("/permit-types", summary="The eight permit types of GB 30871-2022: grades, fields, measures, clauses")
def permit_types(actor: Actor = Depends(current_actor)) -> Any:
    actor.require(Perm.READ)
    en = _is_en()
    roles = types.approver_roles()
    out = []
    for t in types.all_types().values():
        out.append({
            "code": t.code, "name": _label(t, en), "clause": t.clause, "number_prefix": t.number_prefix,
            "guardian_required": t.guardian_required, "validity_default_max_h": t.validity_default_max_h,
            "validity_note": t.raw.get("validity_note", ""),
            "grades": [{"code": g.code, "name": _label(g, en), "clause": g.clause, "validity_max_h": g.validity_max_h,
                        "description": g.description, "bounds": list(g.bounds) if g.bounds else None,
                        "approvers": [{"role": r, "name": (roles.get(r) or {}).get("name_en" if en else "name", r)}
                                      for r in g.approvers]} for g in t.grades],
            "fields": [{"name": f.name, "label": f.label_en if en else f.label, "type": f.type, "required": f.required,
                        "choices": f.choices} for f in t.fields],
            "measures": [{"code": m.code, "text": m.text} for m in t.measures],
            "certificates": {"workers": list(t.worker_certificates), "guardian": list(t.guardian_certificates)},
            "gas": None if t.gas is None else {
                "clause": t.gas.clause, "before_start_min": t.gas.before_start_min,
                "break_reanalysis_min": t.gas.break_reanalysis_min, "continuous_grades": list(t.gas.continuous_grades),
                "combustible": t.gas.combustible, "oxygen": list(t.gas.oxygen) if t.gas.oxygen else None,
                "toxic": t.gas.toxic, "required": t.gas.required, "required_if_field": t.gas.required_if_field},
        })
    return {"standard": "GB 30871-2022", "types": out,
            "gases": {k: {"name": v["name_en"] if en else v["name"], "lel_vol": v["lel_vol"]}
                      for k, v in types.gases()["gases"].items()}}
