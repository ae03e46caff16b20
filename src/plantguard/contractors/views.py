"""Console pages: contractor companies (/contractors), one company with its qualifications,
workers (admission today and why not), workers' certificates and inductions
(/contractors/{id}), and the documents expiring within 30 days (/contractors/expiring).

Forms go through the same schemas and services as the API. A refused form re-renders the page
with each message next to its field and the values as typed, in the user's language, with the
error's status code; nothing pretends to have happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.errors import error_body, field_errors_from_pydantic
from plantguard.audit.ledger import bind_actor
from plantguard.contractors import admission, expiring, service
from plantguard.contractors.models import COMPANY_STATUS_LABELS
from plantguard.contractors.schemas import (
    CertificateCreate,
    CompanyCreate,
    CompanyUpdate,
    InductionCreate,
    QualificationCreate,
    WorkerAdd,
)
from plantguard.core.errors import PlantGuardError
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor
from plantguard.tenancy.models import Certificate, Person
from plantguard.web.render import render
from plantguard.web.session import WebId, clean_text

PAGE_SIZE: Final = 200
TEXT, DATE, NUMBER, BOOL, ID = "text", "date", "number", "bool", "id"
COMPANY_FIELDS: Final = {"name": TEXT, "credit_code": TEXT, "contact_name": TEXT, "contact_phone": TEXT,
                         "scope": TEXT, "status": TEXT, "agreement_until": DATE, "notes": TEXT}
QUALIFICATION_FIELDS: Final = {"kind": TEXT, "number": TEXT, "issued_by": TEXT, "issued_on": DATE,
                               "expires_on": DATE}
WORKER_FIELDS: Final = {"mode": TEXT, "person_id": ID, "employee_no": TEXT, "name": TEXT, "phone": TEXT,
                        "job_title": TEXT}
CERTIFICATE_FIELDS: Final = {**QUALIFICATION_FIELDS, "kind_code": TEXT}
INDUCTION_FIELDS: Final = {"person_id": ID, "held_on": DATE, "topic": TEXT, "trainer": TEXT, "hours": NUMBER,
                           "score": NUMBER, "passed": BOOL, "valid_until": DATE}


class FormErrors(Exception):
    """A form refused: messages by field, already translated."""

    def __init__(self, fields: dict[str, str], status_code: int = 422) -> None:
        super().__init__("form refused")
        self.fields = fields
        self.status_code = status_code


def parse(form: Any, spec: dict[str, str]) -> dict[str, Any]:
    """Form text → values for a schema: blank dates are None (cleared), blank numbers and ids are
    left out (the schema's default); anything else goes to the schema as typed, to be refused there."""
    out: dict[str, Any] = {}
    for name, kind in spec.items():
        raw = clean_text(str(form.get(name) or "")).strip()
        if kind == BOOL:
            out[name] = name in form
        elif kind == DATE:
            out[name] = raw or None
        elif kind in (NUMBER, ID):
            if raw:
                out[name] = raw
        else:
            out[name] = raw
    return out


def build(schema: type[BaseModel], values: dict[str, Any]) -> Any:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise FormErrors({e["field"]: e["message"] for e in field_errors_from_pydantic(exc.errors())}) from None


def kind_codes(session: Session, actor: Actor) -> list[str]:
    """Certificate kind codes to offer: those the permit types ask for and those in use here."""
    from plantguard.permits.types import all_types

    codes = {c for t in all_types().values() for c in (*t.worker_certificates, *t.guardian_certificates)}
    codes |= set(session.scalars(select(Certificate.kind_code).where(
        Certificate.enterprise_id == actor.enterprise_id, Certificate.kind_code != "").distinct()))
    return sorted(codes)


def list_ctx(session: Session, actor: Actor, status: str) -> dict[str, Any]:
    page = service.company_service.list(session, actor, limit=PAGE_SIZE, status=status or None)
    companies = list(page.items)
    return {"companies": companies, "total": page.total, "status": status,
            "sums": expiring.summaries(session, actor, companies), "today": service.plant_today(),
            "COMPANY_STATUS": COMPANY_STATUS_LABELS}


def detail_ctx(session: Session, actor: Actor, company_id: int) -> dict[str, Any]:
    company = service.company_service.get(session, actor, company_id)
    today = service.plant_today()
    people = service.workers(session, actor, company_id)
    refused = admission.refusals_for(session, actor.enterprise_id, people, today)
    employees = session.scalars(select(Person).where(
        Person.enterprise_id == actor.enterprise_id, Person.contractor_company_id.is_(None),
        Person.active.is_(True)).order_by(Person.employee_no)).all()
    return {"c": company, "today": today, "sum": expiring.summaries(session, actor, [company], today)[company.id],
            "quals": service.qualifications(session, actor, company_id),
            "workers": [(p, [admission.message(e) for e in refused[p.id]]) for p in people],
            "inductions": service.induction_service.list_for(session, actor, company_id=company_id,
                                                              limit=PAGE_SIZE).items,
            "names": {p.id: f"{p.name} ({p.employee_no})" for p in people},
            "employees": employees, "kind_codes": kind_codes(session, actor),
            "induction_months": service.induction_valid_months(), "COMPANY_STATUS": COMPANY_STATUS_LABELS}


def message_of(exc: PlantGuardError) -> str:
    body = error_body(exc)
    if not body.get("errors"):
        return str(body["detail"])
    return "; ".join(f"{e['label']}: {e['message']}" for e in body["errors"])


def mount(app: FastAPI) -> None:
    if getattr(app.state, "contractor_pages", False):
        return
    app.state.contractor_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/contractors", include_in_schema=False, response_class=HTMLResponse)
    def list_page(request: Request) -> Response:
        page = Page(request)
        status = request.query_params.get("status", "")
        status = status if status in COMPANY_STATUS_LABELS else ""
        with _db(request) as session:
            ctx = list_ctx(session, page.actor, status)
        return render(request, "contractors/list.html", **page.ctx(nav="contractors", form="", errors={},
                                                                    values={}, **ctx))

    @app.get("/contractors/expiring", include_in_schema=False, response_class=HTMLResponse)
    def expiring_page(request: Request) -> Response:
        page = Page(request)
        raw = request.query_params.get("days", "30")
        days = int(raw) if raw.isdigit() and int(raw) <= expiring.MAX_DAYS else 30
        today = service.plant_today()
        with _db(request) as session:
            items = expiring.expiring(session, page.actor, days, today)
        return render(request, "contractors/expiring.html", **page.ctx(
            nav="contractors-expiring", items=items, days=days, today=today))

    @app.get("/contractors/{company_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail_page(request: Request, company_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            ctx = detail_ctx(session, page.actor, company_id)
        return render(request, "contractors/detail.html", **page.ctx(nav="contractors", form="", errors={},
                                                                      values={}, target=None, **ctx))

    async def submit(request: Request, company_id: int | None, form_name: str, spec: dict[str, str],
                     run: Callable[[Session, Actor, dict[str, Any]], str], target: int | None = None) -> Response:
        """Run one form: redirect on success; on refusal the page again with the messages."""
        page = await Page.load(request)
        form = await page.form()
        values = parse(form, spec)

        def work() -> str:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                url = run(session, page.actor, values)
                session.commit()
                return url

        errors: dict[str, str] = {}
        error = ""
        try:
            return RedirectResponse(await run_in_threadpool(work), status_code=303)
        except FormErrors as exc:
            errors, status_code = exc.fields, exc.status_code
        except PlantGuardError as exc:
            status_code = exc.status_code
            body = error_body(exc)
            errors = {e["field"]: e["message"] for e in body.get("errors") or [] if e["field"] in spec}
            if not errors:  # not about a field of this form: said at the top of the page
                error = message_of(exc)

        def again() -> dict[str, Any]:
            with _db(request) as session:
                if company_id is None:
                    return list_ctx(session, page.actor, "")
                return detail_ctx(session, page.actor, company_id)

        ctx = await run_in_threadpool(again)
        template = "contractors/list.html" if company_id is None else "contractors/detail.html"
        return render(request, template, status_code=status_code, **page.ctx(
            nav="contractors", form=f"{form_name}-{target}" if target else form_name, errors=errors, error=error,
            values=values, target=target, **ctx))

    @app.post("/contractors", include_in_schema=False)
    async def create_company(request: Request) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            return f"/contractors/{service.company_service.create(s, a, build(CompanyCreate, v)).id}"
        return await submit(request, None, "company", COMPANY_FIELDS, run)

    @app.post("/contractors/{company_id}", include_in_schema=False)
    async def edit_company(request: Request, company_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            service.company_service.update(s, a, company_id, build(CompanyUpdate, v))
            return f"/contractors/{company_id}"
        return await submit(request, company_id, "company", COMPANY_FIELDS, run)

    @app.post("/contractors/{company_id}/delete", include_in_schema=False)
    async def delete_company(request: Request, company_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            service.company_service.delete(s, a, company_id)
            return "/contractors"
        return await submit(request, company_id, "delete", {}, run)

    @app.post("/contractors/{company_id}/qualifications", include_in_schema=False)
    async def add_qualification(request: Request, company_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            service.add_qualification(s, a, company_id, build(QualificationCreate, v))
            return f"/contractors/{company_id}#qualifications"
        return await submit(request, company_id, "qualification", QUALIFICATION_FIELDS, run)

    @app.post("/contractors/{company_id}/qualifications/{qual_id}/delete", include_in_schema=False)
    async def delete_qualification(request: Request, company_id: WebId, qual_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            service.delete_qualification(s, a, company_id, qual_id)
            return f"/contractors/{company_id}#qualifications"
        return await submit(request, company_id, "qualification-delete", {}, run)

    @app.post("/contractors/{company_id}/workers", include_in_schema=False)
    async def add_worker(request: Request, company_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            v = dict(v)
            if v.pop("mode", "") == "existing":  # the roster picker, not the new-person form
                if "person_id" not in v:
                    raise FormErrors({"person_id": _("This field is required")})
                v = {"person_id": v["person_id"]}
            else:
                v.pop("person_id", None)
            service.add_worker(s, a, company_id, build(WorkerAdd, v))
            return f"/contractors/{company_id}#workers"
        return await submit(request, company_id, "worker", WORKER_FIELDS, run)

    @app.post("/contractors/{company_id}/workers/{person_id}/remove", include_in_schema=False)
    async def remove_worker(request: Request, company_id: WebId, person_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            service.remove_worker(s, a, company_id, person_id)
            return f"/contractors/{company_id}#workers"
        return await submit(request, company_id, "worker-remove", {}, run)

    @app.post("/contractors/{company_id}/workers/{person_id}/certificates", include_in_schema=False)
    async def add_certificate(request: Request, company_id: WebId, person_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            service.add_certificate(s, a, company_id, person_id, build(CertificateCreate, v))
            return f"/contractors/{company_id}#worker-{person_id}"
        return await submit(request, company_id, "certificate", CERTIFICATE_FIELDS, run, target=person_id)

    @app.post("/contractors/{company_id}/workers/{person_id}/certificates/{cert_id}/delete", include_in_schema=False)
    async def delete_certificate(request: Request, company_id: WebId, person_id: WebId, cert_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            service.delete_certificate(s, a, company_id, person_id, cert_id)
            return f"/contractors/{company_id}#worker-{person_id}"
        return await submit(request, company_id, "certificate-delete", {}, run, target=person_id)

    @app.post("/contractors/{company_id}/inductions", include_in_schema=False)
    async def add_induction(request: Request, company_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            data = build(InductionCreate, v)
            service.worker(s, a, company_id, data.person_id)  # only this company's workers here
            service.induction_service.create(s, a, data)
            return f"/contractors/{company_id}#inductions"
        return await submit(request, company_id, "induction", INDUCTION_FIELDS, run)

    @app.post("/contractors/{company_id}/inductions/{induction_id}/delete", include_in_schema=False)
    async def delete_induction(request: Request, company_id: WebId, induction_id: WebId) -> Response:
        def run(s: Session, a: Actor, v: dict[str, Any]) -> str:
            i = service.induction_service.get(s, a, induction_id)
            service.worker(s, a, company_id, i.person_id)
            service.induction_service.delete(s, a, induction_id)
            return f"/contractors/{company_id}#inductions"
        return await submit(request, company_id, "induction-delete", {}, run)
