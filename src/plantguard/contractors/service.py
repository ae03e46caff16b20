"""Contractor companies, their qualifications, workers, workers' certificates and safety
inductions: every function takes the caller, checks the role (``contractors.manage`` to write,
any role to read) and scopes every query to the caller's enterprise, so another tenant's
company, person or record is simply "not found".

A contractor's worker is a ``person`` row with ``contractor_company_id`` set, so certificates and
inductions are the same records as an employee's and the permit rules treat both alike;
``admission.py`` adds what only a contractor needs.
"""

from __future__ import annotations

import calendar
import os
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from plantguard.contractors.models import ContractorCompany, ContractorQualification, SafetyInduction
from plantguard.contractors.schemas import (
    CertificateCreate,
    CertificateUpdate,
    InductionCreate,
    QualificationCreate,
    QualificationUpdate,
    WorkerAdd,
    credit_code_ok,
)
from plantguard.core.crud import Page, Ref, TenantCrud
from plantguard.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Certificate, Person
from plantguard.timeseries.alignment.times import plant_tz

COMPANY = N_("Contractor company")
QUALIFICATION = N_("Qualification")
PERSON = N_("Person")
CERTIFICATE = N_("Certificate")
INDUCTION = N_("Safety induction")
DATES_IN_ORDER = N_("Must not be before the issue date")

# ⚠ No national rule fixes how long a safety induction (入场安全教育) counts; a year is common
# practice. The enterprise sets its own with PLANTGUARD_INDUCTION_VALID_MONTHS, and any
# induction may carry its own valid_until.
INDUCTION_VALID_MONTHS_ENV = "PLANTGUARD_INDUCTION_VALID_MONTHS"
DEFAULT_INDUCTION_VALID_MONTHS = 12


def plant_today() -> date:
    """Today on the plant's calendar (what "expired" means to people on site)."""
    return datetime.now(plant_tz()).date()


def induction_valid_months() -> int:
    raw = os.environ.get(INDUCTION_VALID_MONTHS_ENV, "").strip()
    try:
        months = int(raw) if raw else DEFAULT_INDUCTION_VALID_MONTHS
    except ValueError:
        months = DEFAULT_INDUCTION_VALID_MONTHS
    return max(1, min(months, 120))


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has no such day), capped at
    ``date.max``."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if year > date.max.year:
        return date.max
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def default_valid_until(held_on: date) -> date:
    return add_months(held_on, induction_valid_months())


def _dates_in_order(issued: date | None, expires: date | None, field: str = "expires_on") -> list[FieldError]:
    if issued is not None and expires is not None and expires < issued:
        return [FieldError(field, DATES_IN_ORDER)]
    return []


def _patch(obj: Any, values: dict[str, Any], required: tuple[str, ...]) -> None:
    """A partial update of a dated document: required text may not be blanked with null, and
    the expiry may not fall before the issue date. Checked before anything is set."""
    errors = [FieldError(k, N_("This field cannot be empty")) for k in required if k in values and values[k] is None]
    merged = {"issued_on": obj.issued_on, "expires_on": obj.expires_on, **values}
    errors += _dates_in_order(merged["issued_on"], merged["expires_on"])
    if errors:
        raise ValidationFailed(errors)
    for key, value in values.items():
        setattr(obj, key, value)


# -- companies -------------------------------------------------------------------------------


class CompanyService(TenantCrud[ContractorCompany]):
    model = ContractorCompany
    entity_label = COMPANY
    write_perm = Perm.MANAGE_CONTRACTORS
    unique_fields = ("name",)
    search_fields = ("name", "credit_code", "contact_name", "scope")
    default_order = ("name",)

    def validate(self, session: Session, actor: Actor, merged: dict[str, Any], obj: ContractorCompany | None) -> None:
        code = merged.get("credit_code") or ""
        if code and not credit_code_ok(code):
            # A typo is caught at the desk, not when a regulator's system refuses the code.
            raise ValidationFailed([FieldError("credit_code", N_("Not a valid unified social credit code"))])

    def check_unique(self, session: Session, actor: Actor, values: dict[str, Any],
                     obj: ContractorCompany | None) -> None:
        """One company per name in an enterprise (the message does not echo the name back)."""
        if "name" not in values:
            return
        q = self.scoped(actor).where(ContractorCompany.name == values["name"])
        if obj is not None:
            q = q.where(ContractorCompany.id != obj.id)
        if session.scalars(q).first() is not None:
            raise ValidationFailed([FieldError("name", N_("A company of this name is already registered"))])

    def check_delete(self, session: Session, actor: Actor, obj: ContractorCompany) -> None:
        """A company with workers on record is not deleted: its workers would silently become
        "not a contractor's worker" and pass the admission check. Blacklist or suspend it."""
        n = session.scalar(select(func.count()).select_from(Person).where(
            Person.enterprise_id == actor.enterprise_id, Person.contractor_company_id == obj.id)) or 0
        if n:
            raise Conflict(N_("%(company)s still has %(n)s workers on record: suspend or blacklist it instead"),
                           company=obj.name, n=int(n))


company_service = CompanyService()


# -- qualifications --------------------------------------------------------------------------


def qualifications(session: Session, actor: Actor, company_id: int) -> list[ContractorQualification]:
    company_service.get(session, actor, company_id)
    return list(session.scalars(select(ContractorQualification).where(
        ContractorQualification.enterprise_id == actor.enterprise_id, ContractorQualification.company_id == company_id)
        .order_by(ContractorQualification.kind, ContractorQualification.id)))


def _qualification(session: Session, actor: Actor, company_id: int, qual_id: int) -> ContractorQualification:
    q = session.scalars(select(ContractorQualification).where(
        ContractorQualification.id == qual_id, ContractorQualification.company_id == company_id,
        ContractorQualification.enterprise_id == actor.enterprise_id)).first()
    if q is None:
        raise NotFound(QUALIFICATION, qual_id)
    return q


def add_qualification(session: Session, actor: Actor, company_id: int,
                      data: QualificationCreate) -> ContractorQualification:
    actor.require(Perm.MANAGE_CONTRACTORS)
    company_service.get(session, actor, company_id)
    errors = _dates_in_order(data.issued_on, data.expires_on)
    if errors:
        raise ValidationFailed(errors)
    q = ContractorQualification(enterprise_id=actor.enterprise_id, company_id=company_id, **data.model_dump())
    session.add(q)
    session.flush()
    return q


def update_qualification(session: Session, actor: Actor, company_id: int, qual_id: int,
                         data: QualificationUpdate) -> ContractorQualification:
    actor.require(Perm.MANAGE_CONTRACTORS)
    q = _qualification(session, actor, company_id, qual_id)
    values = data.model_dump(exclude_unset=True)
    _patch(q, values, ("kind", "number", "issued_by"))
    session.flush()
    return q


def delete_qualification(session: Session, actor: Actor, company_id: int, qual_id: int) -> None:
    actor.require(Perm.MANAGE_CONTRACTORS)
    session.delete(_qualification(session, actor, company_id, qual_id))
    session.flush()


# -- workers ---------------------------------------------------------------------------------


def workers(session: Session, actor: Actor, company_id: int) -> list[Person]:
    company_service.get(session, actor, company_id)
    return list(session.scalars(select(Person).where(
        Person.enterprise_id == actor.enterprise_id, Person.contractor_company_id == company_id)
        .order_by(Person.employee_no)))


def worker(session: Session, actor: Actor, company_id: int, person_id: int) -> Person:
    """A worker of this company (a person of another company, or an employee, is not found here)."""
    company_service.get(session, actor, company_id)
    person = session.scalars(select(Person).where(
        Person.id == person_id, Person.enterprise_id == actor.enterprise_id,
        Person.contractor_company_id == company_id)).first()
    if person is None:
        raise NotFound(PERSON, person_id)
    return person


def add_worker(session: Session, actor: Actor, company_id: int, data: WorkerAdd) -> Person:
    """Attach a person of the roster (``person_id``) or create one (``employee_no`` + ``name``).
    A person already working for another company is refused: one employer at a time, so the
    admission check knows whose documents count."""
    actor.require(Perm.MANAGE_CONTRACTORS)
    company = company_service.get(session, actor, company_id)
    if data.person_id is not None:
        if data.employee_no or data.name:
            raise ValidationFailed([FieldError("person_id", N_(
                "Give either an existing person or a new person's employee number and name, not both"))])
        person = session.scalars(select(Person).where(
            Person.id == data.person_id, Person.enterprise_id == actor.enterprise_id)).first()
        if person is None:
            raise ValidationFailed([FieldError("person_id", N_("No such %(entity)s"), {"entity": N_("person")})])
        if person.contractor_company_id not in (None, company.id):
            other = session.get(ContractorCompany, person.contractor_company_id)
            raise ValidationFailed([FieldError("person_id", N_("%(person)s already works for %(company)s"), {
                "person": person.name, "company": other.name if other else "?"})])
        person.contractor_company_id = company.id
        session.flush()
        return person
    errors = [FieldError(f, N_("This field is required")) for f in ("employee_no", "name") if not getattr(data, f)]
    if errors:
        raise ValidationFailed(errors)
    taken = session.scalar(select(Person.id).where(Person.enterprise_id == actor.enterprise_id,
                                                   Person.employee_no == data.employee_no))
    if taken is not None:
        raise ValidationFailed([FieldError("employee_no", N_("%(value)s is already in use"),
                                           {"value": data.employee_no})])
    person = Person(enterprise_id=actor.enterprise_id, employee_no=data.employee_no, name=data.name,
                    phone=data.phone, job_title=data.job_title, active=data.active,
                    contractor_company_id=company.id)
    session.add(person)
    company_service._flush(session)
    return person


def remove_worker(session: Session, actor: Actor, company_id: int, person_id: int) -> Person:
    """The person no longer works for the company. They are also made inactive: leaving a
    contractor does not make someone an employee, who would pass the admission check. Hiring
    them is a deliberate step on the person's own page (active again)."""
    actor.require(Perm.MANAGE_CONTRACTORS)
    person = worker(session, actor, company_id, person_id)
    person.contractor_company_id = None
    person.active = False
    session.flush()
    return person


# -- workers' certificates -------------------------------------------------------------------


def certificates(session: Session, actor: Actor, company_id: int, person_id: int) -> list[Certificate]:
    person = worker(session, actor, company_id, person_id)
    return sorted(person.certificates, key=lambda c: c.id)


def _certificate(session: Session, actor: Actor, company_id: int, person_id: int, cert_id: int) -> Certificate:
    for c in worker(session, actor, company_id, person_id).certificates:
        if c.id == cert_id:
            return c
    raise NotFound(CERTIFICATE, cert_id)


def add_certificate(session: Session, actor: Actor, company_id: int, person_id: int,
                    data: CertificateCreate) -> Certificate:
    actor.require(Perm.MANAGE_CONTRACTORS)
    person = worker(session, actor, company_id, person_id)
    errors = _dates_in_order(data.issued_on, data.expires_on)
    if errors:
        raise ValidationFailed(errors)
    cert = Certificate(enterprise_id=actor.enterprise_id, **data.model_dump())
    person.certificates.append(cert)
    session.flush()
    return cert


def update_certificate(session: Session, actor: Actor, company_id: int, person_id: int, cert_id: int,
                       data: CertificateUpdate) -> Certificate:
    actor.require(Perm.MANAGE_CONTRACTORS)
    cert = _certificate(session, actor, company_id, person_id, cert_id)
    _patch(cert, data.model_dump(exclude_unset=True), ("kind", "kind_code", "number", "issued_by"))
    session.flush()
    return cert


def delete_certificate(session: Session, actor: Actor, company_id: int, person_id: int, cert_id: int) -> None:
    actor.require(Perm.MANAGE_CONTRACTORS)
    cert = _certificate(session, actor, company_id, person_id, cert_id)
    cert.person.certificates.remove(cert)
    session.flush()


# -- safety inductions -----------------------------------------------------------------------


class InductionService(TenantCrud[SafetyInduction]):
    """Inductions of anyone on the roster (employees attend them too); the admission check
    asks for one passed and valid on the day of the work for contractors' workers."""

    model = SafetyInduction
    entity_label = INDUCTION
    write_perm = Perm.MANAGE_CONTRACTORS
    refs = (Ref("person_id", Person, N_("person")),)
    unique_fields = ()
    search_fields = ("topic", "trainer")
    default_order = ("held_on",)

    def create(self, session: Session, actor: Actor, data: BaseModel) -> SafetyInduction:
        if isinstance(data, InductionCreate) and data.valid_until is None:
            data = data.model_copy(update={"valid_until": default_valid_until(data.held_on)})
        return super().create(session, actor, data)

    def validate(self, session: Session, actor: Actor, merged: dict[str, Any], obj: SafetyInduction | None) -> None:
        held, until = merged.get("held_on"), merged.get("valid_until")
        if held is not None and until is not None and until < held:
            raise ValidationFailed([FieldError("valid_until", N_("Must not be before the day it was held"))])

    def list_for(self, session: Session, actor: Actor, *, person_id: int | None = None,
                 company_id: int | None = None, limit: int = 50, offset: int = 0) -> Page[SafetyInduction]:
        """Newest first, for one person or for the workers of one company."""
        actor.require(self.read_perm)
        conds: list[ColumnElement[bool]] = [SafetyInduction.enterprise_id == actor.enterprise_id]
        if person_id is not None:
            conds.append(SafetyInduction.person_id == person_id)
        if company_id is not None:
            conds.append(SafetyInduction.person_id.in_(select(Person.id).where(
                Person.enterprise_id == actor.enterprise_id, Person.contractor_company_id == company_id)))
        total = int(session.scalar(select(func.count()).select_from(SafetyInduction).where(*conds)) or 0)
        items = session.scalars(select(SafetyInduction).where(*conds).order_by(
            SafetyInduction.held_on.desc(), SafetyInduction.id.desc()).limit(max(1, min(limit, 500)))
            .offset(max(0, offset))).all()
        return Page(items, total)


induction_service = InductionService()
