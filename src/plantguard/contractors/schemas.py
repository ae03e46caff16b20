"""Request and answer shapes of the contractors API (the console's forms go through them too).

Lengths are the columns' lengths (``contractors/models.py``, ``tenancy/models.py``), so a value
that validates here always fits where it is stored.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from plantguard.core.schemas import (
    Code,
    Id,
    Input,
    LongText,
    Name,
    Name100,
    Output,
    ShortText,
    ShortText40,
    ShortText100,
    Storable,
)
from plantguard.tenancy.schemas import KindCode

# KindCode: a certificate kind code (TZ-WELD, CS-TRAIN ...) or "" for none; the permit rules
# match certificates to work types by this code (permits/data/types.yaml), not by the free text.
CompanyStatus = Literal["pending", "admitted", "suspended", "blacklisted"]

# 统一社会信用代码 (GB 32100-2015): 18 characters from this alphabet, the last a check character.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_ok(code: str) -> bool:
    """True for a well-formed unified social credit code whose check character matches."""
    if len(code) != 18 or any(c not in CREDIT_CODE_ALPHABET for c in code):
        return False
    total = sum(CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(code[:17], CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31] == code[17]


def _upper(value: str) -> str:
    return value.upper()


CreditCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=18), Storable,
                       AfterValidator(_upper)]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]
Hours = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
Score = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


# -- companies -------------------------------------------------------------------------------


class CompanyCreate(Input):
    name: Name
    credit_code: CreditCode = ""
    contact_name: ShortText100 = ""
    contact_phone: ShortText40 = ""
    scope: LongText = ""
    status: CompanyStatus = "pending"
    agreement_until: date | None = None
    notes: LongText = ""


class CompanyUpdate(Input):
    name: Name | None = None
    credit_code: CreditCode | None = None
    contact_name: ShortText100 | None = None
    contact_phone: ShortText40 | None = None
    scope: LongText | None = None
    status: CompanyStatus | None = None
    agreement_until: date | None = None
    notes: LongText | None = None


class CompanyPublic(Output):
    id: int
    name: str
    credit_code: str
    contact_name: str
    contact_phone: str
    scope: str
    status: str
    agreement_until: date | None
    notes: str
    worker_count: int = 0
    admitted_worker_count: int = 0
    # The earliest expiry among the agreement, qualifications and workers' inductions.
    next_expiry: date | None = None


# -- qualifications --------------------------------------------------------------------------


class QualificationCreate(Input):
    kind: Name100
    number: ShortText100 = ""
    issued_by: ShortText = ""
    issued_on: date | None = None
    expires_on: date | None = None


class QualificationUpdate(Input):
    kind: Name100 | None = None
    number: ShortText100 | None = None
    issued_by: ShortText | None = None
    issued_on: date | None = None
    expires_on: date | None = None


class QualificationPublic(Output):
    id: int
    company_id: int
    kind: str
    number: str
    issued_by: str
    issued_on: date | None
    expires_on: date | None


# -- workers ---------------------------------------------------------------------------------


class WorkerAdd(Input):
    """Either ``person_id`` (attach a person already on the roster) or the new person's
    ``employee_no`` and ``name`` (and optionally phone, job title)."""

    person_id: Id | None = None
    employee_no: Code | None = None
    name: Name100 | None = None
    phone: ShortText40 = ""
    job_title: ShortText100 = ""
    active: bool = True


class CertificateCreate(Input):
    kind: Name100
    kind_code: KindCode = ""
    number: ShortText100 = ""
    issued_by: ShortText = ""
    issued_on: date | None = None
    expires_on: date | None = None


class CertificateUpdate(Input):
    kind: Name100 | None = None
    kind_code: KindCode | None = None
    number: ShortText100 | None = None
    issued_by: ShortText | None = None
    issued_on: date | None = None
    expires_on: date | None = None


class CertificatePublic(Output):
    id: int
    person_id: int
    kind: str
    kind_code: str
    number: str
    issued_by: str
    issued_on: date | None
    expires_on: date | None


class Refusal(Output):
    field: str
    message: str


class WorkerPublic(Output):
    id: int
    employee_no: str
    name: str
    phone: str
    job_title: str
    active: bool
    contractor_company_id: int | None
    admitted: bool = False
    # Why the worker may not be named on a permit today, in the caller's language.
    reasons: list[str] = Field(default_factory=list)
    certificates: list[CertificatePublic] = Field(default_factory=list)


class AdmissionOut(Output):
    person_id: int
    on: date
    contractor: bool
    company_id: int | None
    company_name: str
    admitted: bool
    reasons: list[str]


# -- safety inductions -----------------------------------------------------------------------


class InductionCreate(Input):
    person_id: Id
    held_on: date
    topic: Topic
    trainer: ShortText100 = ""
    hours: Hours = 0.0
    score: Score | None = None
    passed: bool = True
    # Blank: held_on plus the configured validity (12 months unless PLANTGUARD_INDUCTION_VALID_MONTHS).
    valid_until: date | None = None


class InductionUpdate(Input):
    held_on: date | None = None
    topic: Topic | None = None
    trainer: ShortText100 | None = None
    hours: Hours | None = None
    score: Score | None = None
    passed: bool | None = None
    valid_until: date | None = None


class InductionPublic(Output):
    id: int
    person_id: int
    held_on: date
    topic: str
    trainer: str
    hours: float
    score: float | None
    passed: bool
    valid_until: date


# -- expiring documents ----------------------------------------------------------------------


class ExpiringItem(Output):
    # certificate | qualification | induction | agreement
    kind: Literal["certificate", "qualification", "induction", "agreement"]
    record_id: int
    document: str
    number: str
    expires_on: date
    days_left: int
    expired: bool
    # True when the document belongs to a contractor company or one of its workers.
    contractor: bool
    person_id: int | None
    person_name: str
    company_id: int | None
    company_name: str


class ExpiringOut(Output):
    today: date
    days: int
    items: list[ExpiringItem]
