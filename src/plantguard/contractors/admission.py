"""The admission check (准入) before a contractor's worker may be named on a permit.

A permit names people; the permit rules check their certificates for the work type, the same
for employees and contractors' workers. What only a contractor's worker needs is checked here:
the company is admitted (not pending, suspended or blacklisted), its safety management agreement
(安全生产管理协议) is current, none of its qualifications (资质证书, 安全生产许可证 ...) has expired
(a later one of the same kind replaces a lapsed one),
the person is active, and the person passed a safety induction (入场安全教育) valid on the day.

Every reason is reported, not only the first, so the page (and the permit applicant) sees all
that must be fixed; each message names the company, the person or the document. An employee
(``contractor_company_id`` is NULL) is never refused here.

A document is valid through its expiry date: expiring on the day of the work still counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.contractors.models import (
    COMPANY_STATUS_LABELS,
    ContractorCompany,
    ContractorQualification,
    SafetyInduction,
)
from plantguard.core.errors import FieldError, NotFound
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Person

PERSON = N_("Person")
NOT_ADMITTED = N_("%(company)s is not admitted as a contractor (status: %(status)s)")
NO_AGREEMENT = N_("%(company)s has no safety management agreement on record")
AGREEMENT_EXPIRED = N_("The safety management agreement of %(company)s expired on %(date)s")
QUALIFICATION_EXPIRED = N_("%(document)s of %(company)s expired on %(date)s")
NOT_ACTIVE = N_("%(person)s is not active")
NO_INDUCTION = N_("%(person)s has no passed safety induction valid on %(date)s")
INDUCTION_EXPIRED = N_("The safety induction of %(person)s expired on %(date)s")
COMPANY_MISSING = N_("The contractor company of %(person)s is not on record")


def latest(rows: list[Any], key: Callable[[Any], Any], expiry: Callable[[Any], date | None]) -> list[Any]:
    """Per ``key``, the row that expires last; a key with a row that never expires has none
    (nothing of that kind can lapse)."""
    best: dict[Any, tuple[date, Any]] = {}
    never: set[Any] = set()
    for row in rows:
        k, until = key(row), expiry(row)
        if until is None:
            never.add(k)
        elif k not in best or until > best[k][0]:
            best[k] = (until, row)
    return [row for k, (_until, row) in best.items() if k not in never]


def reasons(person: Person, company: ContractorCompany | None, qualifications: Iterable[ContractorQualification],
            inductions: Iterable[SafetyInduction], on: date, field: str = "person_id") -> list[FieldError]:
    """Why ``person`` may not work on ``on`` (empty: may). Pure: the caller loads the rows."""
    if person.contractor_company_id is None:
        return []
    who = f"{person.name} ({person.employee_no})"
    if company is None:
        return [FieldError(field, COMPANY_MISSING, {"person": who})]
    out: list[FieldError] = []
    if company.status != "admitted":
        out.append(FieldError(field, NOT_ADMITTED, {
            "company": company.name, "status": COMPANY_STATUS_LABELS.get(company.status, company.status)}))
    if company.agreement_until is None:
        out.append(FieldError(field, NO_AGREEMENT, {"company": company.name}))
    elif company.agreement_until < on:
        out.append(FieldError(field, AGREEMENT_EXPIRED, {
            "company": company.name, "date": company.agreement_until.isoformat()}))
    # A renewed qualification (a later one of the same kind) replaces the lapsed one.
    for q in sorted(latest(list(qualifications), lambda q: q.kind, lambda q: q.expires_on), key=lambda q: q.kind):
        if q.expires_on < on:
            document = f"{q.kind} {q.number}".strip()
            out.append(FieldError(field, QUALIFICATION_EXPIRED, {
                "document": document, "company": company.name, "date": q.expires_on.isoformat()}))
    if not person.active:
        out.append(FieldError(field, NOT_ACTIVE, {"person": who}))
    passed = [i for i in inductions if i.passed and i.held_on <= on]
    if not any(i.valid_until >= on for i in passed):
        lapsed = [i.valid_until for i in passed if i.valid_until < on]
        if lapsed:
            out.append(FieldError(field, INDUCTION_EXPIRED, {"person": who, "date": max(lapsed).isoformat()}))
        else:
            out.append(FieldError(field, NO_INDUCTION, {"person": who, "date": on.isoformat()}))
    return out


def refusals_for(session: Session, enterprise_id: int, people: Sequence[Person], on: date,
                 field: str = "person_id") -> dict[int, list[FieldError]]:
    """The refusals of several people at once (one query per table), keyed by person id."""
    workers = [p for p in people if p.contractor_company_id is not None]
    out: dict[int, list[FieldError]] = {p.id: [] for p in people}
    if not workers:
        return out
    company_ids = {p.contractor_company_id for p in workers}
    companies = {c.id: c for c in session.scalars(select(ContractorCompany).where(
        ContractorCompany.enterprise_id == enterprise_id, ContractorCompany.id.in_(company_ids)))}
    quals: dict[int, list[ContractorQualification]] = defaultdict(list)
    for q in session.scalars(select(ContractorQualification).where(
            ContractorQualification.enterprise_id == enterprise_id,
            ContractorQualification.company_id.in_(company_ids))):
        quals[q.company_id].append(q)
    inductions: dict[int, list[SafetyInduction]] = defaultdict(list)
    for i in session.scalars(select(SafetyInduction).where(
            SafetyInduction.enterprise_id == enterprise_id, SafetyInduction.person_id.in_([p.id for p in workers]))):
        inductions[i.person_id].append(i)
    for p in workers:
        cid = p.contractor_company_id
        assert cid is not None
        out[p.id] = reasons(p, companies.get(cid), quals[cid], inductions[p.id], on, field)
    return out


def admission_refusals(session: Session, enterprise_id: int, person_id: int, on: date, *,
                       field: str = "person_id") -> list[FieldError]:
    """Why the person may not be named on a permit for work on ``on``; empty when they may
    (an admitted contractor's worker, or not a contractor's worker at all).

    Every error is reported on ``field`` (default ``"person_id"``): the permit service passes
    its own path (``workers.2.person_id``) so the refusal lands on the right form field. A
    person who is not in this enterprise is refused as not found, on the same field: the check
    never passes someone it cannot see. Not an ``Actor`` call: the permit service has already
    checked the caller, and this must also run for the system (expiry, re-checks at start).
    """
    person = session.scalars(select(Person).where(Person.id == person_id,
                                                  Person.enterprise_id == enterprise_id)).first()
    if person is None:
        return [FieldError(field, N_("%(entity)s not found"), {"entity": PERSON})]
    return refusals_for(session, enterprise_id, [person], on, field)[person.id]


def message(err: FieldError) -> str:
    """A refusal in the current request's language (parameters that are message ids too)."""
    params: dict[str, Any] = {k: _(v) if isinstance(v, str) else v for k, v in err.params.items()}
    return _(err.message) % params if params else _(err.message)


def admission_status(session: Session, actor: Actor, person_id: int, on: date) -> dict[str, Any]:
    """The admission of one person for pages and the API: whether they may be named on a
    permit on ``on`` and, if not, why (translated)."""
    actor.require(Perm.READ)
    person = session.scalars(select(Person).where(Person.id == person_id,
                                                  Person.enterprise_id == actor.enterprise_id)).first()
    if person is None:
        raise NotFound(PERSON, person_id)
    company = None
    if person.contractor_company_id is not None:
        company = session.scalars(select(ContractorCompany).where(
            ContractorCompany.id == person.contractor_company_id,
            ContractorCompany.enterprise_id == actor.enterprise_id)).first()
    refused = refusals_for(session, actor.enterprise_id, [person], on)[person.id]
    return {"person_id": person.id, "on": on, "contractor": person.contractor_company_id is not None,
            "company_id": company.id if company else None, "company_name": company.name if company else "",
            "admitted": not refused, "reasons": [message(e) for e in refused], "refusals": refused}
