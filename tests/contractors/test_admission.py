"""The admission check, on both backends: an admitted worker passes; each reason refuses on its
own with a message naming the company, person or document (en and zh-CN); employees are never
refused; another tenant's person is not found; boundaries (valid through the expiry day)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.contractors import admission, service
from plantguard.contractors.models import ContractorCompany, ContractorQualification, SafetyInduction
from plantguard.contractors.schemas import InductionCreate, QualificationCreate
from plantguard.core.errors import NotFound
from plantguard.tenancy.models import Person
from tests.conftest import Db
from tests.contractors.conftest import ON, actor, admitted_company, locale
from tests.factories import Tenant, make_tenant

World = tuple[Db, Tenant, Tenant]


@pytest.fixture
def world(db: Db) -> World:
    return db, make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")


def texts(s: Session, enterprise_id: int, person_id: int, on: date = ON, lang: str = "en") -> list[str]:
    with locale(lang):
        return [admission.message(e) for e in admission.admission_refusals(s, enterprise_id, person_id, on)]


def test_admitted_worker_and_employee_pass(world: World) -> None:
    db, t1, _t2 = world
    a = actor(db, t1)
    with db.session() as s:
        w = admitted_company(s, a)
        s.commit()
        assert admission.admission_refusals(s, t1.enterprise_id, w.person_id, ON) == []
        # An employee (no company) is never refused here: certificates are the permit rules' business.
        assert admission.admission_refusals(s, t1.enterprise_id, t1.person_id, ON) == []
        st = admission.admission_status(s, a, w.person_id, ON)
        assert st["admitted"] and st["contractor"] and st["company_id"] == w.company_id and st["reasons"] == []
        assert not admission.admission_status(s, a, t1.person_id, ON)["contractor"]


@pytest.mark.parametrize("status", ["pending", "suspended", "blacklisted"])
def test_company_not_admitted(world: World, status: str) -> None:
    db, t1, _t2 = world
    with db.session() as s:
        w = admitted_company(s, actor(db, t1))
        s.get(ContractorCompany, w.company_id).status = status  # type: ignore[union-attr]
        s.flush()
        errs = admission.admission_refusals(s, t1.enterprise_id, w.person_id, ON)
        assert [e.field for e in errs] == ["person_id"]
        en = texts(s, t1.enterprise_id, w.person_id)
        en_label = {"pending": "Pending admission", "suspended": "Suspended", "blacklisted": "Blacklisted"}[status]
        assert en == [f"苏州恒通机电安装有限公司（测试） is not admitted as a contractor (status: {en_label})"]
        zh = texts(s, t1.enterprise_id, w.person_id, lang="zh_CN")
        label = {"pending": "待准入", "suspended": "已暂停", "blacklisted": "黑名单"}[status]
        assert zh == [f"苏州恒通机电安装有限公司（测试）未获准入（状态：{label}）"]


def test_agreement_missing_or_expired(world: World) -> None:
    db, t1, _t2 = world
    with db.session() as s:
        w = admitted_company(s, actor(db, t1))
        company = s.get(ContractorCompany, w.company_id)
        assert company is not None
        company.agreement_until = ON  # valid through its last day
        s.flush()
        assert admission.admission_refusals(s, t1.enterprise_id, w.person_id, ON) == []
        company.agreement_until = ON - timedelta(days=1)
        s.flush()
        assert texts(s, t1.enterprise_id, w.person_id) == [
            "The safety management agreement of 苏州恒通机电安装有限公司（测试） expired on 2026-06-14"]
        assert texts(s, t1.enterprise_id, w.person_id, lang="zh_CN") == [
            "苏州恒通机电安装有限公司（测试）的安全生产管理协议已于 2026-06-14 到期"]
        company.agreement_until = None
        s.flush()
        assert texts(s, t1.enterprise_id, w.person_id) == [
            "苏州恒通机电安装有限公司（测试） has no safety management agreement on record"]


def test_expired_qualification_refuses_until_renewed(world: World) -> None:
    db, t1, _t2 = world
    a = actor(db, t1)
    with db.session() as s:
        w = admitted_company(s, a)
        q = s.get(ContractorQualification, w.qualification_id)
        assert q is not None
        q.expires_on = ON
        s.flush()
        assert admission.admission_refusals(s, t1.enterprise_id, w.person_id, ON) == []
        q.expires_on = ON - timedelta(days=12)
        s.flush()
        assert texts(s, t1.enterprise_id, w.person_id) == [
            "安全生产许可证 (苏)JZ安许证字[2024]000123 of 苏州恒通机电安装有限公司（测试） expired on 2026-06-03"]
        assert texts(s, t1.enterprise_id, w.person_id, lang="zh_CN") == [
            "苏州恒通机电安装有限公司（测试）的安全生产许可证 (苏)JZ安许证字[2024]000123 已于 2026-06-03 过期"]
        # The renewed licence (same kind, later expiry) replaces the lapsed one.
        service.add_qualification(s, a, w.company_id, QualificationCreate(
            kind="安全生产许可证", number="(苏)JZ安许证字[2026]000456", expires_on=ON + timedelta(days=1000)))
        assert admission.admission_refusals(s, t1.enterprise_id, w.person_id, ON) == []


def test_inactive_person(world: World) -> None:
    db, t1, _t2 = world
    with db.session() as s:
        w = admitted_company(s, actor(db, t1))
        s.get(Person, w.person_id).active = False  # type: ignore[union-attr]
        s.flush()
        assert texts(s, t1.enterprise_id, w.person_id) == ["赵海涛 (CT0001) is not active"]
        assert texts(s, t1.enterprise_id, w.person_id, lang="zh_CN") == ["赵海涛 (CT0001) 已停用"]


def test_induction_missing_failed_future_or_expired(world: World) -> None:
    db, t1, _t2 = world
    a = actor(db, t1)
    with db.session() as s:
        w = admitted_company(s, a)
        ind = s.get(SafetyInduction, w.induction_id)
        assert ind is not None
        ind.valid_until = ON  # still valid on its last day
        s.flush()
        assert admission.admission_refusals(s, t1.enterprise_id, w.person_id, ON) == []
        ind.valid_until = ON - timedelta(days=1)
        s.flush()
        assert texts(s, t1.enterprise_id, w.person_id) == [
            "The safety induction of 赵海涛 (CT0001) expired on 2026-06-14"]
        assert texts(s, t1.enterprise_id, w.person_id, lang="zh_CN") == [
            "赵海涛 (CT0001) 的入场安全教育已于 2026-06-14 过期"]
        ind.passed = False
        ind.valid_until = ON + timedelta(days=300)
        s.flush()
        no = ["赵海涛 (CT0001) has no passed safety induction valid on 2026-06-15"]
        assert texts(s, t1.enterprise_id, w.person_id) == no
        assert texts(s, t1.enterprise_id, w.person_id, lang="zh_CN") == [
            "赵海涛 (CT0001) 没有在 2026-06-15 有效的合格入场安全教育记录"]
        # Held after the day of the work: does not count for it.
        service.induction_service.create(s, a, InductionCreate(person_id=w.person_id, held_on=ON + timedelta(days=1),
                                                               topic="复训"))
        assert texts(s, t1.enterprise_id, w.person_id) == no
        s.delete(ind)
        s.flush()
        assert texts(s, t1.enterprise_id, w.person_id) == no


def test_every_reason_at_once_and_the_field(world: World) -> None:
    db, t1, _t2 = world
    with db.session() as s:
        w = admitted_company(s, actor(db, t1))
        company = s.get(ContractorCompany, w.company_id)
        assert company is not None
        company.status, company.agreement_until = "suspended", None
        s.get(ContractorQualification, w.qualification_id).expires_on = ON - timedelta(days=1)  # type: ignore[union-attr]
        s.get(Person, w.person_id).active = False  # type: ignore[union-attr]
        s.delete(s.get(SafetyInduction, w.induction_id))
        s.flush()
        errs = admission.admission_refusals(s, t1.enterprise_id, w.person_id, ON, field="workers.2.person_id")
        assert len(errs) == 5 and {e.field for e in errs} == {"workers.2.person_id"}


def test_tenancy(world: World) -> None:
    db, t1, t2 = world
    a2 = actor(db, t2)
    with db.session() as s:
        w = admitted_company(s, actor(db, t1))
        s.commit()
        # Asked in another enterprise, the person does not exist: refused, never passed.
        errs = admission.admission_refusals(s, t2.enterprise_id, w.person_id, ON)
        assert [e.message for e in errs] == ["%(entity)s not found"]
        with pytest.raises(NotFound):
            admission.admission_status(s, a2, w.person_id, ON)
        assert s.scalars(select(Person).where(Person.id == w.person_id)).one().contractor_company_id == w.company_id
