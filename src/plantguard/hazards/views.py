"""Console pages: the hazard register (filters by status, grade, category, area, overdue) and a
hazard's detail (the loop's step actions the caller's role allows, the grading form with the
criteria lists, the five-items form of a 重大隐患, before/after photos, history).

Forms go through the same service as the API. A refused step re-renders the page with the
message in the user's language and the error's status code; nothing pretends to have happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from plantguard.api.deps import runtime
from plantguard.api.errors import error_body
from plantguard.assets.models import Equipment
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import FieldError, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.hazards import criteria, service
from plantguard.hazards.categories import CATEGORY_LABELS
from plantguard.hazards.lifecycle import TRANSITIONS
from plantguard.hazards.models import (
    ATTACHMENT_KINDS,
    EVENT_KINDS,
    GRADE_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    TREATMENT_LABELS,
    Hazard,
)
from plantguard.ingest.views import when
from plantguard.tenancy.models import Area, User
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.web.render import render
from plantguard.web.session import WebId, WebOffset, clean_text
from plantguard.workorders import uploads

PAGE_SIZE: Final = 50
ACTIONS: Final = ("register", "reject", "assess", "plan", "start", "progress", "submit", "accept", "refuse", "close")
PERMS: Final = {"register": Perm.MANAGE_HAZARDS, "reject": Perm.MANAGE_HAZARDS, "assess": Perm.MANAGE_HAZARDS,
                "plan": Perm.MANAGE_HAZARDS, "close": Perm.MANAGE_HAZARDS, "start": Perm.RECTIFY_HAZARDS,
                "progress": Perm.RECTIFY_HAZARDS, "submit": Perm.RECTIFY_HAZARDS, "accept": Perm.ACCEPT_HAZARDS,
                "refuse": Perm.ACCEPT_HAZARDS}


def common() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "GRADE_LABELS": GRADE_LABELS, "CATEGORY_LABELS": CATEGORY_LABELS,
            "SOURCE_LABELS": SOURCE_LABELS, "TREATMENT_LABELS": TREATMENT_LABELS, "EVENT_KINDS": EVENT_KINDS,
            "ATTACHMENT_KINDS": ATTACHMENT_KINDS, "when": when, "is_overdue": service.is_overdue}


def names(session: Session, actor: Actor) -> dict[str, dict[int, str]]:
    ent = actor.enterprise_id
    return {
        "user": {int(i): d or u for i, d, u in session.execute(
            select(User.id, User.display_name, User.username).where(User.enterprise_id == ent))},
        "area": {int(i): f"{c} {n}" for i, c, n in session.execute(
            select(Area.id, Area.code, Area.name).where(Area.enterprise_id == ent))},
    }


def list_query(request: Request) -> dict[str, str]:
    qp = request.query_params
    status, grade, category, area = (qp.get(k, "") for k in ("status", "grade", "category", "area_id"))
    return {"status": status if status in {*STATUS_LABELS, "open"} else ("open" if "status" not in qp else ""),
            "grade": grade if grade in GRADE_LABELS else "",
            "category": category if category in CATEGORY_LABELS else "",
            "area_id": area if area.isdigit() and len(area) < 12 else "",
            "overdue": "1" if qp.get("overdue") == "1" else ""}


def allowed(actor: Actor, h: Hazard) -> set[str]:
    """Actions the page offers (the service re-checks everything, including "not your own
    rectification" and the five items)."""
    out = {a for a in ACTIONS if h.status in TRANSITIONS[a][0] and actor.can(PERMS[a])}
    if actor.user_id in (h.rectified_by or []):
        out -= {"accept", "refuse"}
    return out


def detail_ctx(session: Session, actor: Actor, hazard_id: int) -> dict[str, Any]:
    h = service.get(session, actor, hazard_id)
    return {"h": h, "events": service.history(session, actor, h), "attachments": service.attachments(session, actor, h),
            "names": names(session, actor), "actions": allowed(actor, h),
            "equipment": session.get(Equipment, h.equipment_id) if h.equipment_id else None,
            "missing": service.missing_five_items(h) if h.grade == "major" else [],
            "criteria": criteria.lists(), "criteria_by_code": criteria.by_code(),
            "users": session.execute(select(User.id, User.display_name, User.username).where(
                User.enterprise_id == actor.enterprise_id, User.active.is_(True)).order_by(User.username)).all(),
            "can_attach": h.status in TRANSITIONS["attach"][0] and (
                actor.can(Perm.REPORT_HAZARDS) or actor.can(Perm.RECTIFY_HAZARDS)),
            **common()}


BAD_DATE = N_("Enter a date as YYYY-MM-DD")


def _date(raw: str, field: str) -> datetime | None:
    """A plant-local date from a form (end of that day), or None when blank."""
    if not raw:
        return None
    try:
        day = datetime.strptime(raw[:10], "%Y-%m-%d")
    except ValueError:
        raise ValidationFailed([FieldError(field, BAD_DATE)]) from None
    return day.replace(hour=23, minute=59, tzinfo=plant_tz())


def _run_action(session: Session, a: Actor, item_id: int, action: str, form: dict[str, str]) -> None:
    note = form.get("note", "")[:2000]
    if action == "register":
        service.register(session, a, item_id, title=form.get("title") or None,
                         category=form.get("category") or None, note=note)
    elif action == "reject":
        service.reject(session, a, item_id, form.get("reason", "")[:500])
    elif action == "assess":
        service.assess(session, a, item_id, grade=form.get("grade", ""),
                       basis=[c for c in form.get("basis", "").split("\n") if c], basis_text=form.get("basis_text", ""),
                       treatment=form.get("treatment") or "deadline", category=form.get("category") or None,
                       deadline_at=_date(form.get("deadline_at", ""), "deadline_at"), note=note)
    elif action == "plan":
        resp = form.get("responsible_id", "")
        service.plan(session, a, item_id, {
            "responsible_id": int(resp) if resp.isdigit() and len(resp) < 12 else None,
            "measures": form.get("measures", "")[:5000], "funds": form.get("funds", "")[:200],
            "plan_deadline_at": _date(form.get("plan_deadline_at", ""), "plan_deadline_at"),
            "emergency_plan": form.get("emergency_plan", "")[:5000], "note": note})
    elif action == "start":
        service.start(session, a, item_id, note)
    elif action == "progress":
        service.progress(session, a, item_id, note)
    elif action == "submit":
        service.submit(session, a, item_id, note)
    elif action == "accept":
        service.accept(session, a, item_id, note)
    elif action == "refuse":
        service.refuse(session, a, item_id, form.get("reason", "")[:500])
    elif action == "close":
        service.close(session, a, item_id, note)


def message_of(exc: PlantGuardError) -> str:
    body = error_body(exc)
    if not body.get("errors"):
        return str(body["detail"])
    return "; ".join(f"{e['label']}: {e['message']}" if e.get("label") else e["message"] for e in body["errors"])


def mount(app: FastAPI) -> None:
    if getattr(app.state, "hazard_pages", False):
        return
    app.state.hazard_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/hazards", include_in_schema=False, response_class=HTMLResponse)
    def list_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        q = list_query(request)
        with _db(request) as session:
            result = service.list_hazards(session, page.actor, status=q["status"] or None, grade=q["grade"] or None,
                                          category=q["category"] or None,
                                          area_id=int(q["area_id"]) if q["area_id"] else None,
                                          overdue=bool(q["overdue"]), limit=PAGE_SIZE, offset=offset)
            nm = names(session, page.actor)
        args = {k: v for k, v in q.items() if v}
        return render(request, "hazards/list.html", **page.ctx(
            nav="hazards", hazards=result.items, total=result.total, offset=offset, limit=PAGE_SIZE, query=q,
            names=nm, page_url=lambda off: "/hazards?" + urlencode({**args, "offset": off}), **common()))

    @app.post("/hazards", include_in_schema=False)
    async def create(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        values: dict[str, Any] = {k: clean_text(str(form.get(k) or "")).strip()
                                  for k in ("title", "description", "location", "category")}
        values["title"], values["location"] = values["title"][:200], values["location"][:300]
        values["category"] = values["category"] or None
        area = str(form.get("area_id") or "")
        values["area_id"] = int(area) if area.isdigit() and len(area) < 12 else None

        def run() -> int:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                h = service.report(session, page.actor, values, source="manual")
                session.commit()
                return h.id

        try:
            hid = await run_in_threadpool(run)
        except PlantGuardError:  # invalid form: back to the list, which says so
            return RedirectResponse("/hazards?error=1", status_code=303)
        return RedirectResponse(f"/hazards/{hid}", status_code=303)

    @app.get("/hazards/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            ctx = detail_ctx(session, page.actor, item_id)
        return render(request, "hazards/detail.html", **page.ctx(nav="hazards", **ctx))

    async def act(request: Request, item_id: int, action: str) -> Response:
        page = await Page.load(request)
        form = await page.form()
        text = {k: clean_text(str(v)).strip() for k, v in form.multi_items() if isinstance(v, str) and k != "basis"}
        text["basis"] = "\n".join(str(v) for v in form.getlist("basis") if isinstance(v, str))
        upload = form.get("file")
        data = await upload.read(uploads.max_bytes() + 1) if isinstance(upload, UploadFile) else b""
        filename = upload.filename or "" if isinstance(upload, UploadFile) else ""
        var_dir = runtime(request).settings.var_dir

        def run() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                if action == "attachments":
                    service.add_attachment(session, page.actor, item_id, text.get("kind") or "other", filename,
                                           data, var_dir, text.get("note", "")[:2000])
                else:
                    _run_action(session, page.actor, item_id, action, text)
                session.commit()

        try:
            await run_in_threadpool(run)
        except PlantGuardError as exc:
            message = message_of(exc)

            def again() -> dict[str, Any]:
                with _db(request) as session:
                    return detail_ctx(session, page.actor, item_id)

            ctx = await run_in_threadpool(again)
            return render(request, "hazards/detail.html", status_code=exc.status_code,
                          **page.ctx(nav="hazards", error=message, **ctx))
        return RedirectResponse(f"/hazards/{item_id}", status_code=303)

    for name in (*ACTIONS, "attachments"):
        def make(action: str) -> Any:
            async def endpoint(request: Request, item_id: WebId) -> Response:
                return await act(request, item_id, action)
            return endpoint

        app.add_api_route(f"/hazards/{{item_id}}/{name}", make(name), methods=["POST"], include_in_schema=False)
