"""Console and phone pages of inspections.

* ``/inspections``: tasks (due, done, missed; mine) and the plans; ``/inspections/plans/new``
  and ``/inspections/plans/{id}``: the plan editor; ``/inspections/checklists/{point}``: the
  checklist editor (edit, add, remove, restore, move up/down, regenerate);
  ``/inspections/labels``: the printable label sheet (print CSS; the PDF is
  ``/api/v1/inspection-labels``); ``/dashboard/inspections``: the dashboard panel.
* ``/i/{token}``: what the QR label opens on a phone (after sign-in): the point, its open task
  and the checklist; ``inspection.js`` checks in (with the browser's location, or the reason
  there is none) and sends the results through the JSON API with an ``Idempotency-Key``.

Forms go through the same services as the API; a refused step re-renders with the message.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.errors import error_body
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import PlantGuardError
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.views import when
from plantguard.inspections import checklists, labels, plans, tags, tasks
from plantguard.inspections.models import FREQUENCIES, GEO_STATUSES, OUTCOMES, TASK_STATUSES, InspectionPlan
from plantguard.risk.models import RiskPoint
from plantguard.tenancy.models import Area, Team
from plantguard.web.render import render
from plantguard.web.session import WebId, WebOffset, clean_text
from plantguard.workorders import uploads

PAGE_SIZE: Final = 50
ROLE_LABELS: Final = {"admin": N_("Administrator"), "safety_manager": N_("Safety manager"),
                      "team_leader": N_("Team leader"), "worker": N_("Worker"), "contractor": N_("Contractor")}


def common() -> dict[str, Any]:
    return {"FREQUENCIES": FREQUENCIES, "TASK_STATUSES": TASK_STATUSES, "OUTCOMES": OUTCOMES,
            "GEO_STATUSES": GEO_STATUSES, "when": when, "ROLES": ROLE_LABELS}


def names(session: Session, actor: Actor) -> dict[str, dict[int, str]]:
    ent = actor.enterprise_id
    return {
        "team": {int(i): f"{c} {n}" for i, c, n in session.execute(
            select(Team.id, Team.code, Team.name).where(Team.enterprise_id == ent))},
        "point": {int(i): f"{c} {n}" for i, c, n in session.execute(
            select(RiskPoint.id, RiskPoint.code, RiskPoint.name).where(RiskPoint.enterprise_id == ent))},
        "plan": {int(i): n for i, n in session.execute(
            select(InspectionPlan.id, InspectionPlan.name).where(InspectionPlan.enterprise_id == ent))},
    }


def _message(exc: PlantGuardError) -> str:
    body = error_body(exc)
    if not body.get("errors"):
        return str(body["detail"])
    return "; ".join(f"{e['label']}: {e['message']}" if e.get("label") else e["message"] for e in body["errors"])


def mount(app: FastAPI) -> None:
    if getattr(app.state, "inspection_pages", False):
        return
    app.state.inspection_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/inspections", include_in_schema=False, response_class=HTMLResponse)
    def list_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        qp = request.query_params
        status = qp.get("status", "open")
        status = status if status in TASK_STATUSES else ""
        mine = qp.get("mine") == "1"
        due = "today" if qp.get("due") == "today" else ""
        with _db(request) as session:
            result = tasks.list_tasks(session, page.actor, status=status or None, mine=mine, due=due or None,
                                      limit=PAGE_SIZE, offset=offset)
            plan_rows = plans.list_plans(session, page.actor, limit=200).items
            nm = names(session, page.actor)
        return render(request, "inspections/list.html", **page.ctx(
            nav="inspections", tasks=result.items, total=result.total, offset=offset, limit=PAGE_SIZE,
            query={"status": status, "mine": mine, "due": due}, plans=plan_rows, names=nm, **common()))

    def _plan_form_ctx(session: Session, actor: Actor) -> dict[str, Any]:
        return {"points": session.execute(select(RiskPoint.id, RiskPoint.code, RiskPoint.name).where(
                    RiskPoint.enterprise_id == actor.enterprise_id, RiskPoint.active.is_(True))
                    .order_by(RiskPoint.code)).all(),
                "teams": session.execute(select(Team.id, Team.code, Team.name).where(
                    Team.enterprise_id == actor.enterprise_id).order_by(Team.code)).all()}

    @app.get("/inspections/plans/new", include_in_schema=False, response_class=HTMLResponse)
    def new_plan_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.MANAGE_INSPECTIONS)
        with _db(request) as session:
            ctx = _plan_form_ctx(session, page.actor)
        return render(request, "inspections/plan.html", **page.ctx(
            nav="inspections", plan=None, chosen=[], error="", **ctx, **common()))

    @app.get("/inspections/plans/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def plan_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            plan = plans.get(session, page.actor, item_id)
            chosen = plans.point_ids(session, plan)
            ctx = _plan_form_ctx(session, page.actor)
        return render(request, "inspections/plan.html", **page.ctx(
            nav="inspections", plan=plan, chosen=chosen, error="", **ctx, **common()))

    async def save_plan(request: Request, item_id: int | None) -> Response:
        page = await Page.load(request)
        form = await page.form()
        who = str(form.get("assign") or "role")
        team = str(form.get("team_id") or "")
        values: dict[str, Any] = {
            "name": clean_text(str(form.get("name") or "")).strip()[:200] or "—",
            "frequency": str(form.get("frequency") or ""),
            "risk_point_ids": [int(v) for v in form.getlist("risk_point_ids") if str(v).isdigit()],
            "assignee_role": str(form.get("assignee_role") or "") or None if who == "role" else None,
            "team_id": int(team) if who == "team" and team.isdigit() else None,
            "active": form.get("active") == "1", "note": clean_text(str(form.get("note") or ""))[:2000]}

        def run() -> int:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                plan = (plans.create(session, page.actor, values) if item_id is None
                        else plans.update(session, page.actor, item_id, values))
                session.commit()
                return plan.id

        try:
            pid = await run_in_threadpool(run)
        except PlantGuardError as exc:
            with _db(request) as session:
                ctx = _plan_form_ctx(session, page.actor)
                plan = plans.get(session, page.actor, item_id) if item_id is not None else None
            return render(request, "inspections/plan.html", status_code=exc.status_code, **page.ctx(
                nav="inspections", plan=plan, chosen=values["risk_point_ids"], error=_message(exc), **ctx,
                **common()))
        return RedirectResponse(f"/inspections/plans/{pid}", status_code=303)

    @app.post("/inspections/plans/new", include_in_schema=False)
    async def create_plan_form(request: Request) -> Response:
        return await save_plan(request, None)

    @app.post("/inspections/plans/{item_id}", include_in_schema=False)
    async def update_plan_form(request: Request, item_id: WebId) -> Response:
        return await save_plan(request, item_id)

    @app.get("/inspections/checklists/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def checklist_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request, write=True) as session:
            point = checklists.point_of(session, page.actor, item_id)
            if page.actor.can(Perm.MANAGE_INSPECTIONS):
                bind_actor(session, page.actor)
                checklists.ensure(session, page.actor.enterprise_id, item_id)
                session.commit()
            all_items = checklists.items(session, page.actor.enterprise_id, item_id, with_removed=True)
            area = session.get(Area, point.area_id)
        return render(request, "inspections/checklist.html", **page.ctx(
            nav="inspections", point=point, area=area, items=[i for i in all_items if not i.removed],
            removed=[i for i in all_items if i.removed], error=request.query_params.get("error", ""),
            **common()))

    @app.post("/inspections/checklists/{item_id}", include_in_schema=False)
    async def checklist_action(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        form = await page.form()
        action = str(form.get("action") or "")
        target = str(form.get("item") or "")
        text = clean_text(str(form.get("text") or ""))[:600]

        def run() -> None:
            a = page.actor
            with _db(request, write=True) as session:
                bind_actor(session, a)
                tid = int(target) if target.isdigit() else 0
                if action == "add":
                    checklists.add(session, a, item_id, text)
                elif action == "edit":
                    checklists.edit(session, a, item_id, tid, text)
                elif action == "remove":
                    checklists.remove(session, a, item_id, tid)
                elif action == "restore":
                    checklists.restore(session, a, item_id, tid)
                elif action in ("up", "down"):
                    order = [i.id for i in checklists.items(session, a.enterprise_id, item_id)]
                    if tid in order:
                        n = order.index(tid)
                        m = n - 1 if action == "up" else n + 1
                        if 0 <= m < len(order):
                            order[n], order[m] = order[m], order[n]
                    checklists.reorder(session, a, item_id, order)
                else:
                    checklists.regenerate(session, a, item_id)
                session.commit()

        try:
            await run_in_threadpool(run)
        except PlantGuardError as exc:
            from urllib.parse import quote

            return RedirectResponse(f"/inspections/checklists/{item_id}?error={quote(_message(exc))}",
                                    status_code=303)
        return RedirectResponse(f"/inspections/checklists/{item_id}", status_code=303)

    @app.get("/inspections/labels", include_in_schema=False, response_class=HTMLResponse)
    def labels_page(request: Request) -> Response:
        page = Page(request)
        plan = request.query_params.get("plan_id", "")
        plan_id = int(plan) if plan.isdigit() else None
        with _db(request, write=True) as session:
            bind_actor(session, page.actor)
            sheet = labels.collect(session, page.actor, str(request.base_url), plan_id=plan_id)
            session.commit()
        svgs = {label.risk_point_id: tags.qr_svg(label.url) for label in sheet}
        resp = render(request, "inspections/labels.html", **page.ctx(
            nav="inspections", labels=sheet, svgs=svgs, plan_id=plan_id))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/dashboard/inspections", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_panel(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            today = tasks.today(session, page.actor)
        resp = render(request, "inspections/_dashboard.html", **page.ctx(today=today))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/i/{token}", include_in_schema=False, response_class=HTMLResponse)
    def scan_page(request: Request, token: str) -> Response:
        page = Page(request)
        with _db(request) as session:
            point_id = tags.point_of_token(session, page.actor, token[:40])
            point = session.get(RiskPoint, point_id)
            area = session.get(Area, point.area_id) if point else None
            task = tasks.open_task_of_point(session, page.actor, point_id)
            items = checklists.items(session, page.actor.enterprise_id, point_id)
            mine = task is not None and tasks.may_perform(session, page.actor, task)
            plan = session.get(InspectionPlan, task.plan_id) if task else None
        resp = render(request, "inspections/scan.html", **page.ctx(
            point=point, area=area, task=task, plan=plan, items=items, mine=mine, token=token[:40],
            max_bytes=uploads.max_bytes(), **common()))
        resp.headers["Cache-Control"] = "no-store"
        return resp
