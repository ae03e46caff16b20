"""Console pages of special work permits: the board ``/permits``, the calendar
``/permits/calendar``, the site map ``/permits/map``, the apply form ``/permits/new``, a
permit's detail ``/permits/{id}`` with the steps the caller may take, and the dashboard panel.

Forms go through the same services as the API (``permits.service``, ``permits.approvals``). A
refused step re-renders the page with the error's status code and each message at the field it
names, in the user's language; nothing pretends to have happened.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.deps import runtime
from plantguard.api.errors import error_body
from plantguard.audit.ledger import bind_actor
from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, NotFound, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.permits import apply_form, board, service, sheet
from plantguard.permits.contract import PERMIT_TYPES
from plantguard.permits.lifecycle import EVENT_KINDS, TRANSITIONS
from plantguard.permits.models import STATUS_LABELS, PermitSignature
from plantguard.permits.types import all_types, gases
from plantguard.risk import map as risk_map
from plantguard.tenancy.models import Area
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.web.render import render
from plantguard.web.session import WebId
from plantguard.workorders import uploads

# action → (lifecycle action deciding the statuses it may start from, the permission it needs)
ACTIONS: Final[dict[str, tuple[str, Perm]]] = {
    "submit": ("submit", Perm.APPLY_PERMITS), "confirm": ("confirm_measure", Perm.WORK_PERMITS),
    "gas": ("gas", Perm.WORK_PERMITS), "sign": ("sign", Perm.WORK_PERMITS),
    "approve": ("approve_step", Perm.APPROVE_PERMITS), "start": ("start", Perm.WORK_PERMITS),
    "suspend": ("suspend", Perm.WORK_PERMITS), "resume": ("resume", Perm.WORK_PERMITS),
    "complete": ("complete", Perm.WORK_PERMITS), "close": ("close", Perm.ACCEPT_PERMITS),
    "cancel": ("cancel", Perm.APPLY_PERMITS),
}


def common() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "COLUMN_LABELS": board.COLUMN_LABELS, "COLUMN_EMPTY": board.COLUMN_EMPTY,
            "SUSPEND_LABELS": board.SUSPEND_LABELS, "TYPE_COLOURS": board.TYPE_COLOURS, "EVENT_KINDS": EVENT_KINDS,
            "SIGN_STEP_LABELS": sheet.SIGN_STEP_LABELS, "WORKER_ROLE_LABELS": sheet.WORKER_ROLE_LABELS,
            "GAS_KIND_LABELS": sheet.GAS_KIND_LABELS, "DECISION_LABELS": sheet.DECISION_LABELS,
            "types": list(all_types().values()), "type_name": sheet.type_name, "grade_name": sheet.grade_name,
            "step_label": sheet.step_label, "gas_name": sheet.gas_name, "pt": sheet.plant_time,
            "is_zh": sheet.is_zh, "role_name": lambda role: sheet.step_label(f"approve:{role}"),
            "msg_text": sheet.message}


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 16 else None


def filters(request: Request) -> dict[str, Any]:
    qp = request.query_params
    t = qp.get("type", "")
    return {"type": t if t in PERMIT_TYPES else "", "area_id": _int(qp.get("area_id"))}


def areas(session: Session, actor: Actor) -> list[Any]:
    return list(session.execute(select(Area.id, Area.code, Area.name).where(
        Area.enterprise_id == actor.enterprise_id).order_by(Area.code)).all())


def allowed(session: Session, actor: Actor, data: sheet.Sheet, pending: list[dict[str, Any]]) -> set[str]:
    """The steps the page offers (the service re-checks everything: who is the guardian, who may
    accept, whether the gas analysis is recent enough ...)."""
    status = data.permit.status
    out = {a for a, (lc, perm) in ACTIONS.items() if status in TRANSITIONS[lc][0] and actor.can(perm)}
    if actor.can(Perm.MANAGE_PERMITS) and status in TRANSITIONS["cancel"][0]:
        out.add("cancel")
    if not any(p["can_sign"] for p in pending):
        out.discard("approve")
    return out


def detail_ctx(session: Session, actor: Actor, permit_id: int) -> dict[str, Any]:
    from plantguard.permits import approvals

    data = sheet.load(session, actor, permit_id)
    pending = approvals.pending(session, actor, data.permit)
    return {"s": data, "p": data.permit, "pending": pending, "actions": allowed(session, actor, data, pending),
            "conflicts": service.conflicts_of(session, data.permit), "fields": data.fields(),
            "now_local": datetime.now(plant_tz()).strftime("%Y-%m-%dT%H:%M"), "units": ("%vol", "%LEL", "mg/m3"),
            "gases": gases()["gases"], **common()}


def _moment(raw: str) -> datetime | None:
    try:
        return datetime.strptime(raw[:16], "%Y-%m-%dT%H:%M").replace(tzinfo=plant_tz()) if raw else None
    except ValueError:
        raise ValidationFailed([FieldError("sampled_at", apply_form.BAD_MOMENT)]) from None


def run_action(session: Session, a: Actor, pid: int, action: str, f: dict[str, str], var_dir: Any) -> None:
    note = f.get("note", "")[:2000]
    if action == "submit":
        service.submit(session, a, pid, note=note)
    elif action == "confirm":
        service.confirm_measure(session, a, pid, f.get("code", "")[:20], applicable=f.get("applicable") == "1",
                                note=note)
    elif action == "gas":
        try:
            value = float(f.get("value", "").replace(",", "."))
        except ValueError:
            value = float("nan")
        if value != value or abs(value) >= 1e12:  # not a number, or none a detector gives
            raise ValidationFailed([FieldError("value", apply_form.BAD_NUMBER)])
        service.record_gas(session, a, pid, kind=f.get("kind", ""), value=value, unit=f.get("unit", ""),
                           gas_code=f.get("gas_code") or None, sampled_at=_moment(f.get("sampled_at", "")),
                           sample_point=f.get("sample_point", ""), analyst_name=f.get("analyst_name", ""))
    elif action == "sign":
        service.sign(session, a, pid, f.get("step", ""), comment=f.get("comment", "")[:2000], var_dir=var_dir)
    elif action == "approve":
        from plantguard.permits import approvals

        approvals.decide(session, a, pid, approve=f.get("decision") != "refuse", comment=f.get("comment", "")[:2000],
                         role=f.get("role") or None, var_dir=var_dir)
    elif action == "start":
        service.start(session, a, pid)
    elif action == "suspend":
        service.suspend(session, a, pid, f.get("reason", ""), note)
    elif action == "resume":
        service.resume(session, a, pid, note)
    elif action == "complete":
        service.complete(session, a, pid, note)
    elif action == "close":
        service.close(session, a, pid, f.get("comment", "")[:2000], var_dir=var_dir)
    elif action == "cancel":
        service.cancel(session, a, pid, f.get("reason", ""))


def explain(exc: PlantGuardError) -> tuple[str, dict[str, str], list[str]]:
    """(the message, {field: message}, ["label: message"]) in the caller's language."""
    body = error_body(exc)
    rows = body.get("errors") or []
    errs = {e["field"]: e["message"] for e in rows}
    summary = [f"{e['label']}: {e['message']}" if e.get("label") else e["message"] for e in rows]
    return str(body["detail"]), errs, summary


def mount(app: FastAPI) -> None:
    if getattr(app.state, "permit_pages", False):
        return
    app.state.permit_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/permits", include_in_schema=False, response_class=HTMLResponse)
    def board_page(request: Request) -> Response:
        page = Page(request)
        q = filters(request)
        with _db(request) as session:
            columns = board.board(session, page.actor, type_code=q["type"] or None, area_id=q["area_id"])
            area_rows = areas(session, page.actor)
        return render(request, "permits/board.html", **page.ctx(
            nav="permits", columns=columns, query=q, areas=area_rows, **common()))

    @app.get("/permits/calendar", include_in_schema=False, response_class=HTMLResponse)
    def calendar_page(request: Request) -> Response:
        page = Page(request)
        q = filters(request)
        view = "month" if request.query_params.get("view") == "month" else "week"
        today = datetime.now(plant_tz()).date()
        try:
            anchor = date.fromisoformat(request.query_params.get("date", "")[:10])
        except ValueError:
            anchor = today
        if not date(2000, 1, 1) <= anchor <= date(2100, 12, 31):  # a calendar, not a date arithmetic test
            anchor = today
        with _db(request) as session:
            cal = board.calendar(session, page.actor, view=view, anchor=anchor, today=today,
                                 type_code=q["type"] or None, area_id=q["area_id"])
            area_rows = areas(session, page.actor)
        return render(request, "permits/calendar.html", **page.ctx(
            nav="permits", cal=cal, query=q, areas=area_rows, today=today, **common()))

    @app.get("/permits/map", include_in_schema=False, response_class=HTMLResponse)
    def map_page(request: Request) -> Response:
        page = Page(request)
        q = filters(request)
        site_id = _int(request.query_params.get("site_id"))
        with _db(request) as session:
            m = risk_map.site_map(session, page.actor, site_id)
            markers, unplaced = board.site_markers(session, page.actor, m, type_code=q["type"] or None)
            sites = risk_map.sites(session, page.actor)
        return render(request, "permits/map.html", **page.ctx(
            nav="permits", m=m, markers=markers, unplaced=unplaced, sites=sites, query=q,
            points_attr=lambda poly: " ".join(f"{x:g},{y:g}" for x, y in poly), centre=board.centre, **common()))

    @app.get("/permits/new", include_in_schema=False, response_class=HTMLResponse)
    def new_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.APPLY_PERMITS)
        with _db(request) as session:
            opts = apply_form.options(session, page.actor)
        return render(request, "permits/new.html", **page.ctx(
            nav="permits", o=opts, v=apply_form.defaults(utcnow(), request.query_params.get("type")),
            errors={}, message=None, **common()))

    @app.post("/permits/new", include_in_schema=False)
    async def new_submit(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        then_submit = form.get("then") == "submit"

        def run() -> int:
            values = apply_form.parse(form)
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                permit = service.apply(session, page.actor, values)
                if then_submit:
                    service.submit(session, page.actor, permit.id)
                session.commit()
                return permit.id

        try:
            pid = await run_in_threadpool(run)
        except PlantGuardError as exc:
            message, errs, summary = explain(exc)

            def again() -> dict[str, Any]:
                with _db(request) as session:
                    return apply_form.options(session, page.actor)

            opts = await run_in_threadpool(again)
            return render(request, "permits/new.html", status_code=exc.status_code, **page.ctx(
                nav="permits", o=opts, v=apply_form.echo(form), errors=errs, summary=summary, message=message,
                **common()))
        return RedirectResponse(f"/permits/{pid}", status_code=303)

    @app.get("/permits/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            ctx = detail_ctx(session, page.actor, item_id)
        return render(request, "permits/detail.html", **page.ctx(nav="permits", **ctx))

    @app.get("/permits/{item_id}/signatures/{sig_id}", include_in_schema=False)
    def signature_image(request: Request, item_id: WebId, sig_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            permit = service.get(session, page.actor, item_id)
            sig = session.get(PermitSignature, sig_id)
            if sig is None or sig.permit_id != permit.id or not sig.image_stored_name:
                raise NotFound(N_("Signature"), sig_id)
            path = uploads.path_of(runtime(request).settings.var_dir, permit.enterprise_id, sig.image_stored_name)
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400",
                                                                  "X-Content-Type-Options": "nosniff"})

    async def act(request: Request, item_id: int, action: str) -> Response:
        page = await Page.load(request)
        form = await page.form()
        text = {k: str(v).replace("\x00", "").strip() for k, v in form.multi_items() if isinstance(v, str)}
        var_dir = runtime(request).settings.var_dir

        def run() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                run_action(session, page.actor, item_id, action, text, var_dir)
                session.commit()

        try:
            await run_in_threadpool(run)
        except PlantGuardError as exc:
            message, errs, _ = explain(exc)

            def again() -> dict[str, Any]:
                with _db(request) as session:
                    return detail_ctx(session, page.actor, item_id)

            ctx = await run_in_threadpool(again)
            return render(request, "permits/detail.html", status_code=exc.status_code, **page.ctx(
                nav="permits", error=message, failed=action, field_errors=errs, posted=text, **ctx))
        return RedirectResponse(f"/permits/{item_id}#permit-actions", status_code=303)

    for name in ACTIONS:
        def make(action: str) -> Any:
            async def endpoint(request: Request, item_id: WebId) -> Response:
                return await act(request, item_id, action)
            return endpoint

        app.add_api_route(f"/permits/{{item_id}}/{name}", make(name), methods=["POST"], include_in_schema=False)

    @app.get("/dashboard/permits", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_panel(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            counts = board.counts(session, page.actor, utcnow())
            suspended = board.cards(session, page.actor, service.list_permits(
                session, page.actor, status="suspended", limit=5).items)
        resp = render(request, "permits/_dashboard.html", **page.ctx(counts=counts, suspended=suspended, **common()))
        resp.headers["Cache-Control"] = "no-store"
        return resp
