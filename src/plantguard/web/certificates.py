"""A person's certificates, added and removed from the person page.

Certificates belong to the person record (the API replaces the whole list); the console edits
one at a time and writes the whole list back through the same service, so the same rules
(dates in order, tenant scope, the ledger) apply.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from plantguard.api.errors import field_errors_from_pydantic
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import ValidationFailed
from plantguard.core.i18n import gettext as _
from plantguard.tenancy.schemas import CertificateIn, PersonUpdate
from plantguard.tenancy.service import person_service
from plantguard.web.session import WebId

FIELDS = ("kind", "number", "issued_by", "issued_on", "expires_on")


def _current(person: Any) -> list[dict[str, Any]]:
    return [CertificateIn.model_validate(c, from_attributes=True).model_dump() for c in person.certificates]


def mount_certificates(app: FastAPI) -> None:
    from plantguard.web.resources import RESOURCES
    from plantguard.web.views import Page, _db, _detail

    @app.post("/people/{item_id}/certificates", include_in_schema=False)
    async def add_certificate(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        form = await page.form()
        data: dict[str, Any] = {k: (str(form.get(k) or "").strip() or None) for k in FIELDS}
        data["number"] = data["number"] or ""
        data["issued_by"] = data["issued_by"] or ""

        def save() -> Response:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                person = person_service.get(session, page.actor, item_id)
                errs: list[dict[str, str]] = []
                try:
                    cert = CertificateIn.model_validate(data)
                    update = PersonUpdate.model_validate({"certificates": [*_current(person), cert.model_dump()]})
                    person_service.update(session, page.actor, item_id, update)
                    session.commit()
                    return RedirectResponse(f"/people/{item_id}", status_code=303)
                except ValidationError as exc:
                    errs = field_errors_from_pydantic(exc.errors())
                except ValidationFailed as exc:
                    session.rollback()
                    errs = [{"field": e.field.rsplit(".", 1)[-1],
                             "message": _(e.message) % e.params if e.params else _(e.message)} for e in exc.errors]
                person = person_service.get(session, page.actor, item_id)
                return _detail(request, page, RESOURCES["people"], session, person, cert_errors=errs,
                               status_code=422)

        return await run_in_threadpool(save)

    @app.post("/people/{item_id}/certificates/{cert_id}/delete", include_in_schema=False)
    async def remove_certificate(request: Request, item_id: WebId, cert_id: WebId) -> Response:
        page = await Page.load(request)
        await page.form()

        def remove() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                person = person_service.get(session, page.actor, item_id)
                kept = [CertificateIn.model_validate(c, from_attributes=True).model_dump()
                        for c in person.certificates if c.id != cert_id]
                person_service.update(session, page.actor, item_id, PersonUpdate.model_validate({"certificates": kept}))
                session.commit()

        await run_in_threadpool(remove)
        return RedirectResponse(f"/people/{item_id}", status_code=303)
