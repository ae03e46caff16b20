"""Contractor test helpers: actors with real accounts, and a company with everything needed
for admission (agreement, a current qualification, a worker with a passed induction)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.audit.ledger import bind_actor
from plantguard.contractors import service
from plantguard.contractors.schemas import CompanyCreate, InductionCreate, QualificationCreate, WorkerAdd
from plantguard.core.context import locale_var
from plantguard.core.permissions import Actor, Role
from plantguard.tenancy.models import User
from tests.api.conftest import sqlite_env  # noqa: F401  (shared fixture)
from tests.conftest import Db
from tests.factories import Tenant

ON = date(2026, 6, 15)


def actor(db: Db, t: Tenant, role: Role = Role.SAFETY_MANAGER) -> Actor:
    with db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == t.users[role.value]))
    assert uid is not None
    return Actor(int(uid), t.enterprise_id, role, t.users[role.value])


@contextmanager
def locale(code: str) -> Iterator[None]:
    token = locale_var.set(code)
    try:
        yield
    finally:
        locale_var.reset(token)


@dataclass
class Admitted:
    company_id: int
    person_id: int
    qualification_id: int
    induction_id: int


def admitted_company(s: Session, a: Actor, name: str = "苏州恒通机电安装有限公司（测试）", *,
                     employee_no: str = "CT0001", on: date = ON) -> Admitted:
    """An admitted company whose one worker may be named on a permit on ``on``."""
    bind_actor(s, a)
    c = service.company_service.create(s, a, CompanyCreate(
        name=name, status="admitted", agreement_until=on + timedelta(days=100)))
    q = service.add_qualification(s, a, c.id, QualificationCreate(
        kind="安全生产许可证", number="(苏)JZ安许证字[2024]000123", expires_on=on + timedelta(days=300)))
    p = service.add_worker(s, a, c.id, WorkerAdd(employee_no=employee_no, name="赵海涛", job_title="电工"))
    i = service.induction_service.create(s, a, InductionCreate(
        person_id=p.id, held_on=on - timedelta(days=30), topic="入场三级安全教育", hours=24, score=90))
    s.flush()
    return Admitted(c.id, p.id, q.id, i.id)
