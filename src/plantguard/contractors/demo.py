"""The demo plant's contractors (``contractors:`` in ``demo/plant.yaml``), seeded by
``demo/seed.py``: companies with their qualifications and safety agreement, their workers
(people of the ``people:`` list, by employee number) and the workers' safety inductions.

Dates are day offsets from the seed date, like certificates, so the demo always shows one
company admitted with everything current, an induction about to lapse, and a second company
whose expired 安全生产许可证 keeps its worker off permits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from plantguard.contractors.models import (
    COMPANY_STATUS_LABELS,
    ContractorCompany,
    ContractorQualification,
    SafetyInduction,
)
from plantguard.contractors.service import default_valid_until
from plantguard.tenancy.models import Person


def _day(today: date, spec: Mapping[str, Any], ahead: str, ago: str) -> date | None:
    if spec.get(ahead) is not None:
        return today + timedelta(days=int(spec[ahead]))
    if spec.get(ago) is not None:
        return today - timedelta(days=int(spec[ago]))
    return None


def problems(data: Mapping[str, Any]) -> list[str]:
    """What is wrong with the ``contractors:`` section (empty: nothing)."""
    people = {p["employee_no"] for p in data["people"]}
    out: list[str] = []
    seen_workers: set[str] = set()
    for spec in data.get("contractors") or []:
        name = spec.get("name", "?")
        if spec.get("status", "pending") not in COMPANY_STATUS_LABELS:
            out.append(f"contractor {name}: bad status {spec.get('status')!r}")
        for w in spec.get("workers") or []:
            if w["employee_no"] not in people:
                out.append(f"contractor {name}: unknown worker {w['employee_no']!r}")
            if w["employee_no"] in seen_workers:
                out.append(f"contractor {name}: {w['employee_no']} already works for another company")
            seen_workers.add(w["employee_no"])
    return out


def seed(session: Session, enterprise_id: int, specs: list[Mapping[str, Any]], people: Mapping[str, Person],
         today: date) -> list[ContractorCompany]:
    companies: list[ContractorCompany] = []
    for spec in specs:
        company = ContractorCompany(
            enterprise_id=enterprise_id, name=str(spec["name"]), credit_code=str(spec.get("credit_code", "")),
            contact_name=str(spec.get("contact_name", "")), contact_phone=str(spec.get("contact_phone", "")),
            scope=str(spec.get("scope", "")), status=str(spec.get("status", "pending")),
            agreement_until=_day(today, spec, "agreement_in_days", "agreement_days_ago"),
            notes=str(spec.get("notes", "")))
        session.add(company)
        session.flush()
        companies.append(company)
        for q in spec.get("qualifications") or []:
            session.add(ContractorQualification(
                enterprise_id=enterprise_id, company_id=company.id, kind=str(q["kind"]),
                number=str(q.get("number", "")), issued_by=str(q.get("issued_by", "")),
                issued_on=_day(today, q, "issued_in_days", "issued_days_ago"),
                expires_on=_day(today, q, "expires_in_days", "expired_days_ago")))
        for w in spec.get("workers") or []:
            person = people[w["employee_no"]]
            person.contractor_company_id = company.id
            for i in w.get("inductions") or []:
                held = _day(today, i, "held_in_days", "held_days_ago") or today
                valid = _day(today, i, "valid_in_days", "valid_days_ago") or default_valid_until(held)
                session.add(SafetyInduction(
                    enterprise_id=enterprise_id, person_id=person.id, held_on=held, topic=str(i["topic"]),
                    trainer=str(i.get("trainer", "")), hours=float(i.get("hours", 0)),
                    score=float(i["score"]) if i.get("score") is not None else None,
                    passed=bool(i.get("passed", True)), valid_until=valid))
    session.flush()
    return companies
