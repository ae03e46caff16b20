"""Documents that lapse: what a safety manager must renew before work stops.

Four kinds, for employees and contractors alike where they apply: people's certificates
(特种作业操作证 ...), contractor companies' qualifications, safety inductions, and contractor
companies' safety management agreements. Only the document that counts is listed: a certificate
renewed (a later one of the same kind) or an induction repeated replaces the older one, so an
expired record that has been renewed is not nagged about. Inactive people and blacklisted
companies are left out: nobody will renew their papers.

A document is valid through its expiry date; "within 30 days" includes the 30th day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.contractors.admission import latest, refusals_for
from plantguard.contractors.models import ContractorCompany, ContractorQualification, SafetyInduction
from plantguard.contractors.service import plant_today
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Certificate, Person

MAX_DAYS = 3650
AGREEMENT = N_("Safety management agreement")


@dataclass(frozen=True)
class Doc:
    kind: str  # certificate | qualification | induction | agreement
    record_id: int
    document: str
    number: str
    expires_on: date
    contractor: bool
    person_id: int | None
    person_name: str
    company_id: int | None
    company_name: str


def documents(session: Session, enterprise_id: int, *, company_id: int | None = None) -> list[Doc]:
    """Every document that counts now, with its expiry (all companies, or one company's)."""
    cq = select(ContractorCompany).where(ContractorCompany.enterprise_id == enterprise_id,
                                         ContractorCompany.status != "blacklisted")
    if company_id is not None:
        cq = cq.where(ContractorCompany.id == company_id)
    companies = {c.id: c for c in session.scalars(cq)}
    pq = select(Person).where(Person.enterprise_id == enterprise_id, Person.active.is_(True))
    if company_id is not None:
        pq = pq.where(Person.contractor_company_id == company_id)
    people = {p.id: p for p in session.scalars(pq)
              if p.contractor_company_id is None or p.contractor_company_id in companies}
    out: list[Doc] = []

    def person_doc(kind: str, rid: int, document: str, number: str, expires: date, p: Person) -> Doc:
        c = companies.get(p.contractor_company_id) if p.contractor_company_id is not None else None
        return Doc(kind, rid, document, number, expires, c is not None, p.id, p.name,
                   c.id if c else None, c.name if c else "")

    for c in companies.values():
        if c.agreement_until is not None:
            out.append(Doc("agreement", c.id, AGREEMENT, "", c.agreement_until, True, None, "", c.id, c.name))
    quals = list(session.scalars(select(ContractorQualification).where(
        ContractorQualification.enterprise_id == enterprise_id,
        ContractorQualification.company_id.in_(list(companies)))))
    for q in latest(quals, lambda q: (q.company_id, q.kind), lambda q: q.expires_on):
        c = companies[q.company_id]
        out.append(Doc("qualification", q.id, q.kind, q.number, q.expires_on, True, None, "", c.id, c.name))
    if people:
        certs = list(session.scalars(select(Certificate).where(
            Certificate.enterprise_id == enterprise_id, Certificate.person_id.in_(list(people)))))
        for cert in latest(certs, lambda x: (x.person_id, x.kind_code or x.kind), lambda x: x.expires_on):
            out.append(person_doc("certificate", cert.id, cert.kind, cert.number, cert.expires_on,
                                  people[cert.person_id]))
        inductions = list(session.scalars(select(SafetyInduction).where(
            SafetyInduction.enterprise_id == enterprise_id, SafetyInduction.passed.is_(True),
            SafetyInduction.person_id.in_(list(people)))))
        for i in latest(inductions, lambda x: x.person_id, lambda x: x.valid_until):
            out.append(person_doc("induction", i.id, i.topic, "", i.valid_until, people[i.person_id]))
    return out


def expiring(session: Session, actor: Actor, within_days: int = 30, today: date | None = None) -> list[dict[str, Any]]:
    """Documents that have expired or expire within ``within_days`` days, soonest first, each
    with ``days_left`` (negative once expired), ``expired`` and ``contractor`` (a contractor
    company's or its worker's, rather than an employee's)."""
    actor.require(Perm.READ)
    if not 0 <= within_days <= MAX_DAYS:
        raise ValidationFailed([FieldError("days", N_("Must be between %(low)s and %(high)s"),
                                           {"low": 0, "high": MAX_DAYS})])
    today = today or plant_today()
    horizon = today + timedelta(days=within_days)
    docs = [d for d in documents(session, actor.enterprise_id) if d.expires_on <= horizon]
    docs.sort(key=lambda d: (d.expires_on, d.kind, d.company_name, d.person_name, d.record_id))
    return [{**asdict(d), "days_left": (d.expires_on - today).days, "expired": d.expires_on < today} for d in docs]


@dataclass(frozen=True)
class CompanySummary:
    worker_count: int
    admitted_worker_count: int
    next_expiry: date | None


def summaries(session: Session, actor: Actor, companies: list[ContractorCompany],
              today: date | None = None) -> dict[int, CompanySummary]:
    """Active workers, how many of them are admitted today, and the earliest expiry among the
    company's documents and its workers' (agreement, qualifications, certificates, inductions)."""
    actor.require(Perm.READ)
    if not companies:
        return {}
    today = today or plant_today()
    ids = [c.id for c in companies]
    people = list(session.scalars(select(Person).where(
        Person.enterprise_id == actor.enterprise_id, Person.contractor_company_id.in_(ids),
        Person.active.is_(True))))
    refused = refusals_for(session, actor.enterprise_id, people, today)
    expiry: dict[int, date] = {}
    for d in documents(session, actor.enterprise_id):
        if d.company_id in ids:
            expiry[d.company_id] = min(expiry.get(d.company_id, d.expires_on), d.expires_on)
    out: dict[int, CompanySummary] = {}
    for c in companies:
        mine = [p for p in people if p.contractor_company_id == c.id]
        out[c.id] = CompanySummary(len(mine), sum(1 for p in mine if not refused[p.id]), expiry.get(c.id))
    return out
