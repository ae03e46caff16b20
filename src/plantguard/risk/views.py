"""Console pages of the risk register: the list (filters by area and level, coloured level
badges), a point's detail (hazard sources, control measures, assessment history, the
assessment form with a live score preview) and the assessment-method settings.

Forms go through the same services as the API, so a refusal (a value outside its table, a
code in use) re-renders the page with the message naming the field and the error's status,
and nothing is written.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlencode

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.errors import error_body, field_errors_from_pydantic
from plantguard.assets.models import Equipment
from plantguard.audit.ledger import bind_actor
from plantguard.core.context import locale_var
from plantguard.core.errors import FieldError, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest.views import when
from plantguard.risk import config, methods, service
from plantguard.risk.contract import LEVEL_COLOUR_NAMES, LEVEL_LABELS, LEVELS_HIGH_FIRST, RiskLevel
from plantguard.risk.models import MEASURE_KINDS, METHODS, POINT_KINDS, RESPONSIBLE_LEVELS
from plantguard.risk.schemas import (
    AssessmentIn,
    MeasureCreate,
    MeasureUpdate,
    PointCreate,
    PointUpdate,
    SourceCreate,
    SourceUpdate,
)
from plantguard.tenancy.models import Area, Person, Team
from plantguard.web.render import render
from plantguard.web.session import WebId, WebOffset, clean_text

PAGE_SIZE: Final = 50
POINT_TEXT: Final = ("code", "name", "kind", "description", "job", "responsible_level")
POINT_REFS: Final = ("area_id", "equipment_id", "responsible_team_id", "responsible_person_id")


def common() -> dict[str, Any]:
    return {"LEVEL_LABELS": {lv.value: LEVEL_LABELS[lv] for lv in LEVELS_HIGH_FIRST},
            "LEVEL_COLOURS": {lv.value: LEVEL_COLOUR_NAMES[lv] for lv in LEVELS_HIGH_FIRST},
            "POINT_KINDS": POINT_KINDS, "RESPONSIBLE_LEVELS": RESPONSIBLE_LEVELS, "MEASURE_KINDS": MEASURE_KINDS,
            "METHODS": METHODS, "when": when, "accident_label": methods.accident_label,
            "accident_types": methods.accident_types(), "spec_text": methods.text, "fmt": methods.fmt,
            "locale": locale_var.get(),
            "LEVEL_LABELS_T": {lv.value: _(LEVEL_LABELS[lv]) for lv in LEVELS_HIGH_FIRST}}


def choices(session: Session, actor: Actor) -> dict[str, Any]:
    ent = actor.enterprise_id
    return {
        "areas": session.execute(select(Area.id, Area.code, Area.name).where(Area.enterprise_id == ent)
                                 .order_by(Area.code)).all(),
        "teams": session.execute(select(Team.id, Team.code, Team.name).where(Team.enterprise_id == ent)
                                 .order_by(Team.code)).all(),
        "persons": session.execute(select(Person.id, Person.name).where(Person.enterprise_id == ent)
                                   .order_by(Person.name).limit(500)).all(),
        "equipment": session.execute(select(Equipment.id, Equipment.code, Equipment.name).where(
            Equipment.enterprise_id == ent).order_by(Equipment.code).limit(500)).all(),
    }


def message_of(exc: PlantGuardError | ValidationError) -> str:
    if isinstance(exc, ValidationError):
        errors = field_errors_from_pydantic(exc.errors())
        return "; ".join(f"{e['label']}: {e['message']}" for e in errors)
    body = error_body(exc)
    if not body.get("errors"):
        return str(body["detail"])
    return "; ".join(f"{e['label']}: {e['message']}" if e.get("label") else e["message"] for e in body["errors"])


def method_payload(session: Session, actor: Actor) -> dict[str, Any]:
    """The tables in force, for the assessment form's selects and its live preview."""
    out: dict[str, Any] = {}
    for m in methods.METHOD_FACTORS:
        row = config.peek(session, actor.enterprise_id, m)
        out[m] = {"version": row.version, "variant": row.variant, "spec": row.spec}
    return out


def detail_ctx(session: Session, actor: Actor, point_id: int) -> dict[str, Any]:
    point = service.get_point(session, actor, point_id)
    sources = service.sources_of(session, actor, point)
    area = session.get(Area, point.area_id)
    equipment = session.get(Equipment, point.equipment_id) if point.equipment_id else None
    team = session.get(Team, point.responsible_team_id) if point.responsible_team_id else None
    person = session.get(Person, point.responsible_person_id) if point.responsible_person_id else None
    mp = method_payload(session, actor)
    return {"p": point, "sources": sources,
            "measures": service.measures_of_sources(session, actor, [s.id for s in sources]),
            "history": service.history(session, actor, point), "area": area, "equipment": equipment,
            "team": team, "person": person, "method_data": mp, "method_json": script_json(mp),
            "source_names": {s.id: s.name for s in sources},
            **choices(session, actor), **common()}


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` (labels are user-edited text)."""
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def _form_values(form: Any, fields: tuple[str, ...], refs: tuple[str, ...] = ()) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for k in fields:
        if k in form:
            values[k] = clean_text(str(form.get(k) or "")).strip()
    for k in refs:
        if k in form:
            raw = str(form.get(k) or "").strip()
            values[k] = int(raw) if raw.isdigit() and len(raw) < 18 else (raw or None)
    return values


def _number(raw: str) -> float | str:
    try:
        return float(raw)
    except ValueError:
        return raw


def mount(app: FastAPI) -> None:
    if getattr(app.state, "risk_pages", False):
        return
    app.state.risk_pages = True
    from plantguard.web.views import Page, _db

    def list_view(request: Request, page: Any, offset: int, error: str = "", status_code: int = 200) -> Response:
        qp = request.query_params
        area_raw = qp.get("area_id", "")
        area_id = int(area_raw) if area_raw.isdigit() and len(area_raw) < 18 else None
        level = qp.get("level", "")
        level = level if level in {*(lv.value for lv in RiskLevel), "none"} else ""
        q = clean_text(qp.get("q", ""))[:80]
        with _db(request) as session:
            result = service.list_points(session, page.actor, area_id=area_id, level=level or None, q=q or None,
                                         limit=PAGE_SIZE, offset=offset)
            ch = choices(session, page.actor)
        args = {k: v for k, v in {"area_id": area_raw if area_id else "", "level": level, "q": q}.items() if v}
        area_names = {a.id: f"{a.code} {a.name}" for a in ch["areas"]}
        return render(request, "risk/register.html", status_code=status_code, **page.ctx(
            nav="risk", points=result.items, total=result.total, offset=offset, limit=PAGE_SIZE,
            query={"area_id": area_id, "level": level, "q": q}, area_names=area_names, error=error,
            page_url=lambda off: "/risk?" + urlencode({**args, "offset": off}), **ch, **common()))

    @app.get("/risk", include_in_schema=False, response_class=HTMLResponse)
    def register_page(request: Request, offset: WebOffset = 0) -> Response:
        return list_view(request, Page(request), offset)

    @app.post("/risk", include_in_schema=False)
    async def create_point(request: Request) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.MANAGE_RISK)
        values = _form_values(form, POINT_TEXT, POINT_REFS)

        def run() -> int:
            body = PointCreate.model_validate({k: v for k, v in values.items() if v not in ("", None)})
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                point = service.create_point(session, page.actor, body.model_dump())
                session.commit()
                return point.id

        try:
            pid = await run_in_threadpool(run)
        except (PlantGuardError, ValidationError) as exc:
            status = exc.status_code if isinstance(exc, PlantGuardError) else 422
            msg = message_of(exc)
            return await run_in_threadpool(lambda: list_view(request, page, 0, msg, status))
        return RedirectResponse(f"/risk/points/{pid}", status_code=303)

    @app.get("/risk/points/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            ctx = detail_ctx(session, page.actor, item_id)
        return render(request, "risk/detail.html", **page.ctx(nav="risk", **ctx))

    async def act(request: Request, item_id: int, action: str) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.MANAGE_RISK)
        target_raw = str(form.get("target_id") or "")
        target = int(target_raw) if target_raw.isdigit() and len(target_raw) < 18 else 0

        def run() -> None:
            a = page.actor
            with _db(request, write=True) as session:
                bind_actor(session, a)
                service.get_point(session, a, item_id)
                if action == "update":
                    values = _form_values(form, POINT_TEXT, POINT_REFS)
                    body = PointUpdate.model_validate({k: v for k, v in values.items()
                                                       if v != "" or k in ("description", "job")})
                    service.update_point(session, a, item_id, body.model_dump(exclude_unset=True))
                elif action in ("deactivate", "activate"):
                    service.update_point(session, a, item_id, {"active": action == "activate"})
                elif action == "source":
                    body_s = SourceCreate.model_validate({
                        "name": clean_text(str(form.get("name") or "")).strip(),
                        "description": clean_text(str(form.get("description") or "")),
                        "consequences": [str(c) for c in form.getlist("consequences")][:20]})
                    service.create_source(session, a, item_id, body_s.model_dump())
                elif action == "source-toggle":
                    src = service.get_source(session, a, target)
                    if src.risk_point_id != item_id:
                        raise ValidationFailed([FieldError("target_id", N_("%(entity)s not found"),
                                                           {"entity": service.SOURCE})])
                    body_u = SourceUpdate(active=not src.active)
                    service.update_source(session, a, target, body_u.model_dump(exclude_unset=True))
                elif action == "measure":
                    src = service.get_source(session, a, target)
                    if src.risk_point_id != item_id:
                        raise ValidationFailed([FieldError("target_id", N_("%(entity)s not found"),
                                                           {"entity": service.SOURCE})])
                    body_m = MeasureCreate.model_validate({
                        "kind": str(form.get("kind") or ""),
                        "description": clean_text(str(form.get("description") or "")).strip()})
                    service.create_measure(session, a, target, body_m.model_dump())
                elif action == "measure-toggle":
                    m = service.get_measure(session, a, target)
                    service.update_measure(session, a, target,
                                           MeasureUpdate(active=not m.active).model_dump(exclude_unset=True))
                elif action == "assess":
                    method = str(form.get("method") or "")
                    factors = methods.METHOD_FACTORS.get(method, ())
                    src_raw = str(form.get("hazard_source_id") or "")
                    body_a = AssessmentIn.model_validate({
                        "method": method,
                        "hazard_source_id": int(src_raw) if src_raw.isdigit() and len(src_raw) < 18 else None,
                        "values": {f: _number(str(form.get(f"{method}_{f}") or "")) for f in factors},
                        "note": clean_text(str(form.get("note") or "")).strip()})
                    service.assess(session, a, item_id, body_a.model_dump())
                session.commit()

        try:
            await run_in_threadpool(run)
        except (PlantGuardError, ValidationError) as exc:
            status = exc.status_code if isinstance(exc, PlantGuardError) else 422
            message = message_of(exc)

            def again() -> dict[str, Any]:
                with _db(request) as session:
                    return detail_ctx(session, page.actor, item_id)

            ctx = await run_in_threadpool(again)
            return render(request, "risk/detail.html", status_code=status,
                          **page.ctx(nav="risk", error=message, **ctx))
        return RedirectResponse(f"/risk/points/{item_id}", status_code=303)

    for name in ("update", "deactivate", "activate", "source", "source-toggle", "measure", "measure-toggle",
                 "assess"):
        def make(action: str) -> Any:
            async def endpoint(request: Request, item_id: WebId) -> Response:
                return await act(request, item_id, action)
            return endpoint

        app.add_api_route(f"/risk/points/{{item_id}}/{name}", make(name), methods=["POST"],
                          include_in_schema=False)

    def methods_view(request: Request, page: Any, error: str = "", drafts: dict[str, str] | None = None,
                     status_code: int = 200) -> Response:
        with _db(request) as session:
            rows = {m: config.peek(session, page.actor.enterprise_id, m) for m in methods.METHOD_FACTORS}
            history = {m: config.versions(session, page.actor, m, limit=20) for m in methods.METHOD_FACTORS}
        drafts = drafts or {}
        texts = {m: drafts.get(m) or yaml.safe_dump({k: rows[m].spec.get(k) for k in ("factors", "levels", "bands")
                                                     if k in rows[m].spec}, allow_unicode=True, sort_keys=False)
                 for m in methods.METHOD_FACTORS}
        variants = {m: methods.shipped_variants(m) for m in methods.METHOD_FACTORS}
        defaults = {m: methods.default_variant(m) for m in methods.METHOD_FACTORS}
        return render(request, "risk/methods.html", status_code=status_code, **page.ctx(
            nav="risk", rows=rows, history=history, texts=texts, variants=variants, defaults=defaults, error=error,
            **common()))

    @app.get("/risk/methods", include_in_schema=False, response_class=HTMLResponse)
    def methods_page(request: Request) -> Response:
        return methods_view(request, Page(request))

    @app.post("/risk/methods/{method}", include_in_schema=False)
    async def save_method(request: Request, method: str) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.MANAGE_RISK)
        variant = str(form.get("variant") or "").strip()[:40]
        spec_text = str(form.get("spec") or "").replace("\r\n", "\n")[:100_000]
        comment = clean_text(str(form.get("comment") or "")).strip()[:300]

        def run() -> None:
            spec: dict[str, Any] | None = None
            if variant == methods.CUSTOM:
                try:
                    doc = yaml.safe_load(spec_text)
                except yaml.YAMLError:
                    raise ValidationFailed([FieldError("spec", N_("Not valid YAML or JSON%(where)s"),
                                                       {"where": ""})]) from None
                if not isinstance(doc, dict):
                    raise ValidationFailed([FieldError("spec", N_("Must be an object"))])
                spec = doc
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                config.save(session, page.actor, method, variant=variant or None, spec=spec, comment=comment)
                session.commit()

        try:
            await run_in_threadpool(run)
        except PlantGuardError as exc:
            msg, status = message_of(exc), exc.status_code
            drafts = {method: spec_text} if variant == methods.CUSTOM else None
            return await run_in_threadpool(lambda: methods_view(request, page, msg, drafts, status))
        return RedirectResponse("/risk/methods", status_code=303)
