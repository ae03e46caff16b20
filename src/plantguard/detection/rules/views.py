"""Console pages of detection rules: list, create/edit with a YAML (or JSON) condition editor,
a backtest chart, and the detector catalogue generated from each detector's parameter model.

The form goes through the same schema and service as the API, so its errors are the API's,
shown beside the editor with the field path (``condition.any.1.detector``). The backtest runs
on the server (the same engine as the live stage) and the page only draws it.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import yaml
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_, translate_field
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Perm
from plantguard.detection import registry
from plantguard.detection.rules.models import DetectionRule
from plantguard.detection.rules.schemas import BacktestOut, RuleCreate, RuleUpdate
from plantguard.detection.rules.service import MAX_BACKTEST_HOURS, detection_rule_service
from plantguard.detection.signals import Severity
from plantguard.web.render import render
from plantguard.web.session import WebId, clean_text

SEVERITY_LABELS = {Severity.CRITICAL: N_("Critical"), Severity.MAJOR: N_("Major"), Severity.MINOR: N_("Minor"),
                   Severity.WARNING: N_("Warning")}
EXAMPLE = """# One detector (a leaf), or a combination: any: [...] / all: [...]
detector: threshold
params:
  conditions:
    - {signal: value, direction: high, limit: 28}
threshold: 0.5      # score that counts as anomalous (0.5 = the detector's own alarm level)
duration_s: 60      # seconds the condition must hold before it alarms
clear_duration_s: 0
"""
Hours = Annotated[float | None, Query(gt=0, le=MAX_BACKTEST_HOURS)]


def shown(errors: list[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "label": translate_field(e.field),
             "message": _(e.message) % {k: _(v) if isinstance(v, str) else v for k, v in e.params.items()}
             if e.params else _(e.message)} for e in errors]


def parse_doc(name: str, text: str, empty: Any) -> tuple[Any, list[FieldError]]:
    """YAML (JSON is YAML too) into a mapping; a field error naming the text area otherwise."""
    if not text.strip():
        return empty, []
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" ({_('line %(n)s', n=mark.line + 1)})" if mark is not None else ""
        return empty, [FieldError(name, N_("Not valid YAML or JSON%(where)s"), {"where": where})]
    if value is None:
        return empty, []
    if not isinstance(value, dict):
        return empty, [FieldError(name, N_("Must be an object"))]
    return value, []


def dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False) if value else ""


def catalogue() -> list[dict[str, Any]]:
    """Every registered detector with its parameters, from its own pydantic model."""
    out = []
    for name, cls in sorted(registry.available().items()):
        schema = cls.params_model.model_json_schema()
        required = set(schema.get("required", ()))
        params = []
        for pname, prop in schema.get("properties", {}).items():
            kind = prop.get("type") or " | ".join(str(a.get("type", a.get("$ref", "?")).rsplit("/", 1)[-1])
                                                  for a in prop.get("anyOf", ()))
            if "enum" in prop:
                kind = " | ".join(str(v) for v in prop["enum"])
            bounds = ", ".join(f"{sym} {prop[key]}" for key, sym in (
                ("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"),
                ("minItems", "items ≥")) if key in prop)
            params.append({"name": pname, "type": kind or "object", "required": pname in required,
                           "default": prop.get("default"), "bounds": bounds,
                           "description": prop.get("description", "")})
        module = sys.modules.get(cls.__module__)
        doc = (module.__doc__ if module is not None else None) or cls.__doc__ or ""
        out.append({"name": name, "summary": doc.strip().split("\n\n")[0], "params": params,
                    "example": dump({"detector": name, "params": dict(cls.example)})})
    return out


def scope_options(session: Any, enterprise_id: int) -> tuple[list[Any], list[Any]]:
    points = session.execute(select(MeasurementPoint.id, MeasurementPoint.code, MeasurementPoint.name).where(
        MeasurementPoint.enterprise_id == enterprise_id).order_by(MeasurementPoint.code)).all()
    equipment = session.execute(select(Equipment.id, Equipment.code, Equipment.name).where(
        Equipment.enterprise_id == enterprise_id).order_by(Equipment.code)).all()
    return points, equipment


def form_values(form: Any) -> dict[str, Any]:
    names = ("name", "description", "severity", "scope", "condition", "overrides")
    return {k: clean_text(str(form.get(k) or "")) for k in names} | {"enabled": bool(form.get("enabled"))}


def rule_values(obj: DetectionRule) -> dict[str, Any]:
    scope = f"point:{obj.point_id}" if obj.point_id else f"equipment:{obj.equipment_id}"
    return {"name": obj.name, "description": obj.description, "severity": obj.severity, "scope": scope,
            "condition": dump(obj.condition), "overrides": dump(obj.overrides), "enabled": obj.enabled}


def to_data(values: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    condition, errors = parse_doc("condition", values["condition"], {})
    overrides, more = parse_doc("overrides", values["overrides"], {})
    kind, _sep, ident = values["scope"].partition(":")
    scope: dict[str, Any] = {"point_id": None, "equipment_id": None}
    if kind in ("point", "equipment") and ident.isdigit():
        scope[f"{kind}_id"] = int(ident)
    data = {"name": values["name"], "description": values["description"], "enabled": values["enabled"],
            "severity": values["severity"] or Severity.WARNING.value, "condition": condition,
            "overrides": overrides, **scope}
    return data, errors + more


def mount(app: FastAPI) -> None:
    from plantguard.web.views import Page, _db

    def common() -> dict[str, Any]:
        return {"nav": "detection", "severities": [(s.value, SEVERITY_LABELS[s]) for s in Severity]}

    @app.get("/detection-rules", include_in_schema=False, response_class=HTMLResponse)
    def list_page(request: Request, q: Annotated[str | None, Query(max_length=100)] = None) -> Response:
        page = Page(request)
        with _db(request) as session:
            items = detection_rule_service.list(session, page.actor, limit=500, q=clean_text(q or "") or None).items
            points, equipment = scope_options(session, page.actor.enterprise_id)
        names = {f"point:{i}": c for i, c, _n in points} | {f"equipment:{i}": c for i, c, _n in equipment}
        rows = [{"r": r, "detectors": ", ".join(sorted(_detectors(r.condition))),
                 "scope": names.get(f"point:{r.point_id}" if r.point_id else f"equipment:{r.equipment_id}", "?")}
                for r in items]
        return render(request, "detection/list.html", **page.ctx(rows=rows, q=q or "", **common()))

    @app.get("/detection-rules/catalogue", include_in_schema=False, response_class=HTMLResponse)
    def catalogue_page(request: Request) -> Response:
        page = Page(request)
        return render(request, "detection/catalogue.html", **page.ctx(detectors=catalogue(), **common()))

    def form_page(request: Request, page: Any, obj: DetectionRule | None, values: dict[str, Any],
                  errors: list[FieldError], status_code: int = 200, backtest: BacktestOut | None = None,
                  hours: float = 24) -> Response:
        with _db(request) as session:
            points, equipment = scope_options(session, page.actor.enterprise_id)
        errs = shown(errors)
        by_area: dict[str, list[dict[str, str]]] = {}
        for e in errs:
            by_area.setdefault(e["field"].split(".")[0], []).append(e)
        chart = None
        if backtest is not None:
            chart = {"series": [s.model_dump() for s in backtest.series],
                     "alarms": [[a.start.timestamp() * 1000, (a.end or backtest.end).timestamp() * 1000]
                                for a in backtest.alarms],
                     "labels": {"alarm": _("Would have alarmed")}}
        return render(request, "detection/form.html", status_code=status_code, **page.ctx(
            obj=obj, values=values, errors=by_area, error_list=errs, points=points, equipment=equipment,
            example=EXAMPLE, backtest=backtest, chart=chart, hours=hours, **common()))

    @app.get("/detection-rules/new", include_in_schema=False, response_class=HTMLResponse)
    def new_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.WRITE_DETECTION)
        values = {"name": "", "description": "", "severity": "warning", "scope": "", "condition": EXAMPLE,
                  "overrides": "", "enabled": True}
        return form_page(request, page, None, values, [])

    async def save(request: Request, item_id: int | None) -> Response:
        page = await Page.load(request)
        form = await page.form()
        page.actor.require(Perm.WRITE_DETECTION)
        values = form_values(form)

        def run() -> Response:
            data, errors = to_data(values)
            obj = None
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                if item_id is not None:
                    obj = detection_rule_service.get(session, page.actor, item_id)
                if not errors:
                    try:
                        if item_id is None:
                            obj = detection_rule_service.create(session, page.actor, RuleCreate.model_validate(data))
                        else:
                            obj = detection_rule_service.update(session, page.actor, item_id,
                                                                RuleUpdate.model_validate(data))
                        session.commit()
                        return RedirectResponse(f"/detection-rules/{obj.id}", status_code=303)
                    except ValidationError as exc:
                        from plantguard.api.errors import field_errors_from_pydantic

                        errors = [FieldError(e["field"], e["message"])
                                  for e in field_errors_from_pydantic(exc.errors())]
                    except ValidationFailed as exc:
                        errors = list(exc.errors)
                    session.rollback()
                    if item_id is not None:
                        obj = detection_rule_service.get(session, page.actor, item_id)
            return form_page(request, page, obj, values, errors, status_code=422)

        return await run_in_threadpool(run)

    @app.post("/detection-rules/new", include_in_schema=False, response_class=HTMLResponse)
    async def create(request: Request) -> Response:
        return await save(request, None)

    @app.get("/detection-rules/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def edit_page(request: Request, item_id: WebId, hours: Hours = None) -> Response:
        page = Page(request)
        with _db(request) as session:
            obj = detection_rule_service.get(session, page.actor, item_id)
            values = rule_values(obj)
            result, errors = None, []
            if hours is not None:
                try:
                    result = detection_rule_service.backtest(session, page.actor, item_id, hours)
                except ValidationFailed as exc:
                    errors = list(exc.errors)
        return form_page(request, page, obj, values, errors, backtest=result, hours=hours or 24)

    @app.post("/detection-rules/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    async def update(request: Request, item_id: WebId) -> Response:
        return await save(request, item_id)

    @app.post("/detection-rules/{item_id}/delete", include_in_schema=False)
    async def delete(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        await page.form()
        page.actor.require(Perm.WRITE_DETECTION)

        def run() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                detection_rule_service.delete(session, page.actor, item_id)
                session.commit()

        await run_in_threadpool(run)
        return RedirectResponse("/detection-rules", status_code=303)


def _detectors(condition: Any) -> set[str]:
    if isinstance(condition, dict):
        if "detector" in condition:
            return {str(condition["detector"])}
        return {d for key in ("any", "all") for c in condition.get(key) or () for d in _detectors(c)}
    return set()
