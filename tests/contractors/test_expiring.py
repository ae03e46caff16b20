"""The expiring list, on both backends: the 29/30/31-day boundaries, expired and expiring today,
employees' and contractors' documents marked apart, renewed documents replaced by the new one,
inactive people, blacklisted companies and other tenants left out; the company summaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from plantguard.audit.ledger import bind_actor
from plantguard.contractors import expiring, service
from plantguard.contractors.models import ContractorCompany, ContractorQualification, SafetyInduction
from plantguard.contractors.schemas import CompanyCreate, WorkerAdd
from plantguard.core.errors import ValidationFailed
from plantguard.tenancy.models import Certificate, Person
from tests.conftest import Db
from tests.contractors.conftest import actor, admitted_company
from tests.factories import make_tenant

T = date(2026, 3, 1)


def cert(s: Session, person_id: int, enterprise_id: int, code: str, expires: date | None) -> None:
    s.add(Certificate(enterprise_id=enterprise_id, person_id=person_id, kind=f"证书 {code}", kind_code=code,
                      number=f"N-{code}", expires_on=expires))


def test_boundaries_kinds_and_what_is_left_out(db: Db) -> None:
    t1, t2 = make_tenant(db.factory, "E1"), make_tenant(db.factory, "E2")
    a, a2 = actor(db, t1), actor(db, t2)
    with db.session() as s:
        w = admitted_company(s, a, on=T)
        e1 = t1.enterprise_id
        # The employee's certificates: 29, 30, 31 days, expired 5 days ago, expiring today, never.
        for code, days in (("D29", 29), ("D30", 30), ("D31", 31), ("EXP", -5), ("D0", 0)):
            cert(s, t1.person_id, e1, code, T + timedelta(days=days))
        cert(s, t1.person_id, e1, "NEVER", None)
        # Renewed: the old one expired, a new one of the same kind runs long -> nothing listed.
        cert(s, t1.person_id, e1, "REN", T - timedelta(days=100))
        cert(s, t1.person_id, e1, "REN", T + timedelta(days=400))
        # The worker's certificate, the company's agreement (30 d), a lapsed and a far qualification.
        cert(s, w.person_id, e1, "TZ-WELD", T + timedelta(days=10))
        company = s.get(ContractorCompany, w.company_id)
        assert company is not None
        company.agreement_until = T + timedelta(days=30)
        s.get(ContractorQualification, w.qualification_id).expires_on = T + timedelta(days=31)  # type: ignore[union-attr]
        s.add(ContractorQualification(enterprise_id=e1, company_id=w.company_id, kind="资质证书",
                                      expires_on=T - timedelta(days=1)))
        ind = s.get(SafetyInduction, w.induction_id)
        assert ind is not None
        ind.valid_until = T + timedelta(days=29)
        # Left out: an inactive person, a blacklisted company and its worker, another tenant.
        gone = Person(enterprise_id=e1, employee_no="P-OLD", name="离职人员", active=False)
        s.add(gone)
        s.flush()
        cert(s, gone.id, e1, "OLD", T + timedelta(days=1))
        black = service.company_service.create(s, a, CompanyCreate(name="黑名单单位", status="blacklisted",
                                                                    agreement_until=T + timedelta(days=1)))
        bw = service.add_worker(s, a, black.id, WorkerAdd(employee_no="BW1", name="黑名单人员"))
        cert(s, bw.id, e1, "BLK", T + timedelta(days=1))
        s.commit()
        bind_actor(s, a2)
        cert(s, t2.person_id, t2.enterprise_id, "T2", T + timedelta(days=1))
        s.commit()

        items = expiring.expiring(s, a, 30, T)
        got = [(i["kind"], i["number"] or i["document"], i["days_left"], i["expired"], i["contractor"]) for i in items]
        assert got == [
            ("certificate", "N-EXP", -5, True, False),
            ("qualification", "资质证书", -1, True, True),
            ("certificate", "N-D0", 0, False, False),
            ("certificate", "N-TZ-WELD", 10, False, True),
            ("certificate", "N-D29", 29, False, False),
            ("induction", "入场三级安全教育", 29, False, True),
            ("agreement", "Safety management agreement", 30, False, True),
            ("certificate", "N-D30", 30, False, False),
        ]
        worker_cert = items[3]
        assert worker_cert["person_id"] == w.person_id and worker_cert["company_id"] == w.company_id
        assert worker_cert["company_name"] == "苏州恒通机电安装有限公司（测试）"
        employee_cert = items[0]
        assert employee_cert["person_id"] == t1.person_id and employee_cert["company_id"] is None
        # 0 days: only what has expired or expires today.
        assert [i["days_left"] for i in expiring.expiring(s, a, 0, T)] == [-5, -1, 0]
        # The other tenant sees only its own.
        assert [i["number"] for i in expiring.expiring(s, a2, 30, T)] == ["N-T2"]
        for bad in (-1, 3651):
            with pytest.raises(ValidationFailed) as exc:
                expiring.expiring(s, a, bad, T)
            assert exc.value.errors[0].field == "days"

        sums = expiring.summaries(s, a, [company, black], T)
        assert (sums[company.id].worker_count, sums[company.id].admitted_worker_count) == (1, 0)  # lapsed 资质证书
        assert sums[company.id].next_expiry == T - timedelta(days=1)
        assert sums[black.id].next_expiry is None and sums[black.id].admitted_worker_count == 0
