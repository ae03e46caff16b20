"""The demo plant's contractors: an admitted company whose workers may be named on permits (one
induction lapsing within 30 days) and a second company whose expired 安全生产许可证 keeps its
worker off permits, with the reason."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from plantguard.contractors import admission, expiring
from plantguard.contractors.models import ContractorCompany
from plantguard.core.permissions import Actor, Role
from plantguard.demo.seed import seed_demo
from plantguard.tenancy.models import Person, User
from tests.conftest import Db
from tests.contractors.conftest import locale

TODAY = date(2026, 3, 2)


def test_demo_contractors(db: Db) -> None:
    summary = seed_demo(db.factory, today=TODAY)
    eid = summary.enterprise_id
    with db.session() as s:
        rows = s.scalars(select(ContractorCompany).where(ContractorCompany.enterprise_id == eid))
        companies = {c.name: c for c in rows}
        assert set(companies) == {"苏州恒通机电安装有限公司（虚构）", "昆山立达钢结构工程有限公司（虚构）"}
        people = {p.employee_no: p for p in s.scalars(select(Person).where(
            Person.enterprise_id == eid, Person.employee_no.in_(["CT0001", "CT0002", "CT0003", "HD0201"])))}
        hengtong, lida = companies["苏州恒通机电安装有限公司（虚构）"], companies["昆山立达钢结构工程有限公司（虚构）"]
        assert people["CT0001"].contractor_company_id == hengtong.id == people["CT0002"].contractor_company_id
        assert people["CT0003"].contractor_company_id == lida.id and people["HD0201"].contractor_company_id is None
        for no in ("CT0001", "CT0002", "HD0201"):
            assert admission.admission_refusals(s, eid, people[no].id, TODAY) == [], no
        with locale("zh_CN"):
            reasons = [admission.message(e) for e in admission.admission_refusals(s, eid, people["CT0003"].id, TODAY)]
        assert reasons == [
            "昆山立达钢结构工程有限公司（虚构）的安全生产许可证 DEMO-苏JZ安许证字000002 已于 2026-02-18 过期"]
        # The demo contractor account is the admitted CT0001.
        user = s.scalars(select(User).where(User.username == "contractor")).one()
        assert user.person_id == people["CT0001"].id
        safety = s.scalars(select(User).where(User.username == "safety")).one()
        items = expiring.expiring(s, Actor(safety.id, eid, Role.SAFETY_MANAGER, "safety"), 30, TODAY)
        kinds = {(i["kind"], i["person_name"] or i["company_name"], i["expired"]) for i in items}
        assert ("induction", "钱斌", False) in kinds
        assert ("qualification", "昆山立达钢结构工程有限公司（虚构）", True) in kinds
        assert any(i["kind"] == "certificate" and not i["contractor"] for i in items)  # employees' too
        assert any(i["kind"] == "certificate" and i["contractor"] for i in items)  # CT0003's TZ-HEIGHT
