"""Console page: browse an OPC UA server, review the proposed points, accept a selection.

Three steps on one page: the endpoint form (GET), the proposals as an editable table with
a checkbox per row (POST, after browsing), and accepting (POST to ``/accept``), which goes
through the same ``accept_points`` as the API, so the console and the API refuse the same
input. Errors come back on the table, next to the row and field they are about.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from plantguard.api.errors import field_errors_from_pydantic
from plantguard.assets.service import equipment_service
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import ValidationFailed
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Perm
from plantguard.ingest.connectors.opcua.discovery_api import (
    MAX_ACCEPT,
    AcceptIn,
    BrowseIn,
    BrowseOut,
    accept_points,
    browse_points,
)
from plantguard.web.render import render
from plantguard.web.session import clean_text

PATH = "/devices/discover/opcua"
TEMPLATE = "ingest/opcua_discover.html"
ROW_FIELDS = ("node", "code", "name", "unit", "low", "high", "path", "type", "exists")
_POINT_FIELD = re.compile(r"^points\.(\d+)\.(\w+)$")
_FIELD_OF_COLUMN = {"range_low": "low", "range_high": "high"}


def _text(form: FormData, name: str, limit: int = 600) -> str:
    return clean_text(str(form.get(name) or "")).strip()[:limit]


def _rows_from_browse(found: BrowseOut) -> list[dict[str, Any]]:
    return [{"node": p.node, "code": p.code, "name": p.name, "unit": p.unit,
             "low": "" if p.range_low is None else f"{p.range_low:g}",
             "high": "" if p.range_high is None else f"{p.range_high:g}",
             "path": p.browse_path, "type": p.data_type, "exists": "1" if p.exists else "",
             "selected": not p.exists, "errors": {}} for p in found.proposals]


def _rows_from_form(form: FormData) -> list[dict[str, Any]]:
    try:
        n = max(0, min(int(str(form.get("rows") or "0")), MAX_ACCEPT))
    except ValueError:
        n = 0
    selected = {str(v) for v in form.getlist("sel")}
    rows = []
    for i in range(n):
        row: dict[str, Any] = {f: _text(form, f"{f}_{i}") for f in ROW_FIELDS}
        row["selected"] = str(i) in selected
        row["errors"] = {}
        rows.append(row)
    return rows


def _number(text: str) -> str | None:
    return text or None


class Discover:
    """What the template needs, whatever step the page is at."""

    def __init__(self, request: Request) -> None:
        self.request = request

    async def page(self, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        from plantguard.web.views import Page, _db

        page = await Page.load(self.request)
        page.actor.require(Perm.WRITE_DEVICES)

        def equipment() -> list[tuple[str, str]]:
            with _db(self.request) as session:
                items = equipment_service.list(session, page.actor, limit=500).items
                return [(str(e.id), f"{e.code} · {e.name}") for e in items]

        ctx.setdefault("rows", [])
        ctx.setdefault("errors", [])
        ctx.setdefault("values", {})
        return render(self.request, TEMPLATE, status_code=status_code, **page.ctx(
            equipment=await run_in_threadpool(equipment), path=PATH, nav="devices", **ctx))


def mount(app: FastAPI) -> None:
    from plantguard.web.views import Page, _db

    @app.get(PATH, include_in_schema=False, response_class=HTMLResponse)
    async def discover_form(request: Request) -> Response:
        return await Discover(request).page(values={"endpoint": "opc.tcp://", "max_nodes": "5000"})

    @app.post(PATH, include_in_schema=False, response_class=HTMLResponse)
    async def discover_browse(request: Request) -> Response:
        page = await Page.load(request)
        page.actor.require(Perm.WRITE_DEVICES)
        form = await page.form()
        values = {"endpoint": _text(form, "endpoint", 500), "max_nodes": _text(form, "max_nodes", 10) or "5000"}
        view = Discover(request)
        try:
            body = BrowseIn.model_validate({"endpoint": values["endpoint"], "max_nodes": values["max_nodes"]})
        except ValidationError as exc:
            return await view.page(422, values=values, errors=field_errors_from_pydantic(exc.errors()))
        with _db(request) as session:
            try:
                found = await browse_points(session, page.actor, body)
            except ValidationFailed as exc:
                return await view.page(422, values=values, errors=_messages(exc))
        values["endpoint"] = found.endpoint
        return await view.page(values=values, rows=_rows_from_browse(found), browsed=True, truncated=found.truncated,
                               visited=found.visited)

    @app.post(PATH + "/accept", include_in_schema=False, response_class=HTMLResponse)
    async def discover_accept(request: Request) -> Response:
        page = await Page.load(request)
        page.actor.require(Perm.WRITE_DEVICES)
        form = await page.form()
        rows = _rows_from_form(form)
        values = {k: _text(form, k, 500) for k in ("endpoint", "max_nodes", "device_code", "device_name",
                                                   "equipment_id", "mode")}
        chosen = [i for i, r in enumerate(rows) if r["selected"]]
        view = Discover(request)
        ctx = {"values": values, "rows": rows, "browsed": True}
        if not chosen:
            return await view.page(422, errors=[{"field": "points", "message": _("Select at least one node")}], **ctx)
        data = {
            "device_code": values["device_code"], "device_name": values["device_name"],
            "endpoint": values["endpoint"], "mode": values["mode"] or "subscribe",
            "equipment_id": values["equipment_id"] or None,
            "points": [{"node": rows[i]["node"], "code": rows[i]["code"], "name": rows[i]["name"],
                        "unit": rows[i]["unit"], "range_low": _number(rows[i]["low"]),
                        "range_high": _number(rows[i]["high"]), "existing": bool(rows[i]["exists"])}
                       for i in chosen],
        }
        try:
            body = AcceptIn.model_validate(data)
        except ValidationError as exc:
            return await view.page(422, errors=_attach(field_errors_from_pydantic(exc.errors()), rows, chosen), **ctx)

        def save() -> int | list[dict[str, str]]:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                try:
                    accept_points(session, page.actor, body)
                    session.commit()
                except ValidationFailed as exc:
                    session.rollback()
                    return _messages(exc)
                return body.equipment_id or 0

        result = await run_in_threadpool(save)
        if isinstance(result, list):
            return await view.page(422, errors=_attach(result, rows, chosen), **ctx)
        return RedirectResponse(f"/equipment/{result}" if result else "/points", status_code=303)


def _messages(exc: ValidationFailed) -> list[dict[str, str]]:
    return [{"field": e.field, "message": _(e.message) % e.params if e.params else _(e.message)} for e in exc.errors]


def _attach(errors: list[dict[str, str]], rows: list[dict[str, Any]], chosen: list[int]) -> list[dict[str, str]]:
    """Errors about ``points.<j>.<field>`` go onto the table row they are about (``j`` counts
    the selected rows only); the others stay in the list above the table."""
    rest: list[dict[str, str]] = []
    for e in errors:
        m = _POINT_FIELD.match(e["field"])
        if m and int(m.group(1)) < len(chosen):
            row = rows[chosen[int(m.group(1))]]
            row["errors"][_FIELD_OF_COLUMN.get(m.group(2), m.group(2))] = e["message"]
            rest.append({"field": e["field"], "message": e["message"], "row": str(chosen[int(m.group(1))] + 1)})
        else:
            rest.append(e)
    return rest
