"""/api/v1/contractors (companies, qualifications, workers, workers' certificates, admission,
expiring documents) and /api/v1/safety-inductions.

No ``from __future__ import annotations``: FastAPI reads the endpoint signatures at runtime.
Routes are thin: the service checks the role again and scopes every query to the tenant; every
write declares ``contractors.manage`` so that a caller without it is refused before the body
is read. ``/contractors/expiring`` is declared before ``/contractors/{item_id}``.
"""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from plantguard.api.crud import ItemId, Limit, Offset, RefId, model_response
from plantguard.api.deps import GuardedRoute, acting, current_actor, db_session, requires
from plantguard.contractors import admission, expiring, service
from plantguard.contractors.models import ContractorCompany
from plantguard.contractors.schemas import (
    AdmissionOut,
    CertificateCreate,
    CertificatePublic,
    CertificateUpdate,
    CompanyCreate,
    CompanyPublic,
    CompanyStatus,
    CompanyUpdate,
    ExpiringOut,
    InductionCreate,
    InductionPublic,
    InductionUpdate,
    QualificationCreate,
    QualificationPublic,
    QualificationUpdate,
    WorkerAdd,
    WorkerPublic,
)
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import PageOut, Text
from plantguard.tenancy.models import Person

router = APIRouter(tags=["contractors"], route_class=GuardedRoute)
PersonId = ItemId
Search = Annotated[Text | None, Query(max_length=100)]
Days = Annotated[int, Query(ge=0, le=expiring.MAX_DAYS, description="Expiring within this many days")]
On = Annotated[date | None, Query(description="The day of the work (default: today, plant time)")]


def companies_out(session: Session, actor: Actor, items: list[ContractorCompany]) -> list[CompanyPublic]:
    sums = expiring.summaries(session, actor, items)
    return [CompanyPublic.model_validate(c).model_copy(update={
        "worker_count": sums[c.id].worker_count, "admitted_worker_count": sums[c.id].admitted_worker_count,
        "next_expiry": sums[c.id].next_expiry}) for c in items]


def workers_out(session: Session, actor: Actor, people: list[Person], on: date | None = None) -> list[WorkerPublic]:
    refused = admission.refusals_for(session, actor.enterprise_id, people, on or service.plant_today())
    return [WorkerPublic.model_validate(p).model_copy(update={
        "admitted": not refused[p.id], "reasons": [admission.message(e) for e in refused[p.id]],
        "certificates": [CertificatePublic.model_validate(c) for c in sorted(p.certificates, key=lambda c: c.id)]})
        for p in people]


# -- expiring --------------------------------------------------------------------------------


@router.get("/contractors/expiring", response_model=ExpiringOut,
            summary="Certificates, qualifications, inductions and agreements expired or expiring within N days")
def list_expiring(days: Days = 30, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Any:
    today = service.plant_today()
    items = expiring.expiring(session, actor, days, today)
    return model_response(ExpiringOut.model_validate({"today": today, "days": days, "items": items}))


# -- companies -------------------------------------------------------------------------------


@router.get("/contractors", response_model=PageOut[CompanyPublic], summary="Contractor companies (相关方)")
def list_companies(limit: Limit = 50, offset: Offset = 0, status: CompanyStatus | None = None, q: Search = None,
                   actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = service.company_service.list(session, actor, limit=limit, offset=offset, status=status, q=q)
    return model_response(PageOut[CompanyPublic](items=companies_out(session, actor, list(page.items)),
                                                 total=page.total))


@router.post("/contractors", response_model=CompanyPublic, status_code=201, summary="Register a contractor company")
@requires(Perm.MANAGE_CONTRACTORS)
def create_company(body: CompanyCreate, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    c = service.company_service.create(acting(session, actor), actor, body)
    session.commit()
    return model_response(companies_out(session, actor, [c])[0], 201)


@router.get("/contractors/{item_id}", response_model=CompanyPublic, summary="One contractor company")
def read_company(item_id: ItemId, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    return model_response(companies_out(session, actor, [service.company_service.get(session, actor, item_id)])[0])


@router.patch("/contractors/{item_id}", response_model=CompanyPublic,
              summary="Update a company (status pending / admitted / suspended / blacklisted, agreement ...)")
@requires(Perm.MANAGE_CONTRACTORS)
def update_company(item_id: ItemId, body: CompanyUpdate, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    c = service.company_service.update(acting(session, actor), actor, item_id, body)
    session.commit()
    return model_response(companies_out(session, actor, [c])[0])


@router.delete("/contractors/{item_id}", status_code=204, response_class=Response,
               summary="Delete a company without workers on record")
@requires(Perm.MANAGE_CONTRACTORS)
def delete_company(item_id: ItemId, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Response:
    service.company_service.delete(acting(session, actor), actor, item_id)
    session.commit()
    return Response(status_code=204)


# -- qualifications --------------------------------------------------------------------------


@router.get("/contractors/{item_id}/qualifications", response_model=list[QualificationPublic],
            summary="A company's qualifications")
def list_qualifications(item_id: ItemId, actor: Actor = Depends(current_actor),
                        session: Session = Depends(db_session)) -> Any:
    return [QualificationPublic.model_validate(q) for q in service.qualifications(session, actor, item_id)]


@router.post("/contractors/{item_id}/qualifications", response_model=QualificationPublic, status_code=201,
             summary="Add a qualification (资质证书, 安全生产许可证 ...)")
@requires(Perm.MANAGE_CONTRACTORS)
def add_qualification(item_id: ItemId, body: QualificationCreate, actor: Actor = Depends(current_actor),
                      session: Session = Depends(db_session)) -> Any:
    q = service.add_qualification(acting(session, actor), actor, item_id, body)
    session.commit()
    return model_response(QualificationPublic.model_validate(q), 201)


@router.patch("/contractors/{item_id}/qualifications/{qual_id}", response_model=QualificationPublic,
              summary="Update a qualification")
@requires(Perm.MANAGE_CONTRACTORS)
def update_qualification(item_id: ItemId, qual_id: ItemId, body: QualificationUpdate,
                         actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    q = service.update_qualification(acting(session, actor), actor, item_id, qual_id, body)
    session.commit()
    return model_response(QualificationPublic.model_validate(q))


@router.delete("/contractors/{item_id}/qualifications/{qual_id}", status_code=204, response_class=Response,
               summary="Delete a qualification")
@requires(Perm.MANAGE_CONTRACTORS)
def delete_qualification(item_id: ItemId, qual_id: ItemId, actor: Actor = Depends(current_actor),
                         session: Session = Depends(db_session)) -> Response:
    service.delete_qualification(acting(session, actor), actor, item_id, qual_id)
    session.commit()
    return Response(status_code=204)


# -- workers ---------------------------------------------------------------------------------


@router.get("/contractors/{item_id}/workers", response_model=list[WorkerPublic],
            summary="A company's workers with their admission today and its reasons")
def list_workers(item_id: ItemId, on: On = None, actor: Actor = Depends(current_actor),
                 session: Session = Depends(db_session)) -> Any:
    return workers_out(session, actor, service.workers(session, actor, item_id), on)


@router.post("/contractors/{item_id}/workers", response_model=WorkerPublic, status_code=201,
             summary="Add a worker: attach a person (person_id) or create one (employee_no, name)")
@requires(Perm.MANAGE_CONTRACTORS)
def add_worker(item_id: ItemId, body: WorkerAdd, actor: Actor = Depends(current_actor),
               session: Session = Depends(db_session)) -> Any:
    p = service.add_worker(acting(session, actor), actor, item_id, body)
    session.commit()
    return model_response(workers_out(session, actor, [p])[0], 201)


@router.delete("/contractors/{item_id}/workers/{person_id}", status_code=204, response_class=Response,
               summary="The person no longer works for the company (and is made inactive)")
@requires(Perm.MANAGE_CONTRACTORS)
def remove_worker(item_id: ItemId, person_id: PersonId, actor: Actor = Depends(current_actor),
                  session: Session = Depends(db_session)) -> Response:
    service.remove_worker(acting(session, actor), actor, item_id, person_id)
    session.commit()
    return Response(status_code=204)


@router.get("/contractors/{item_id}/workers/{person_id}/admission", response_model=AdmissionOut,
            summary="May this worker be named on a permit on the day? If not, why")
def worker_admission(item_id: ItemId, person_id: PersonId, on: On = None, actor: Actor = Depends(current_actor),
                     session: Session = Depends(db_session)) -> Any:
    service.worker(session, actor, item_id, person_id)
    status = admission.admission_status(session, actor, person_id, on or service.plant_today())
    return model_response(AdmissionOut.model_validate(status))


@router.get("/contractors/{item_id}/workers/{person_id}/certificates", response_model=list[CertificatePublic],
            summary="A worker's certificates")
def list_certificates(item_id: ItemId, person_id: PersonId, actor: Actor = Depends(current_actor),
                      session: Session = Depends(db_session)) -> Any:
    return [CertificatePublic.model_validate(c) for c in service.certificates(session, actor, item_id, person_id)]


@router.post("/contractors/{item_id}/workers/{person_id}/certificates", response_model=CertificatePublic,
             status_code=201, summary="Add a certificate to a worker (kind_code: what the permit rules match)")
@requires(Perm.MANAGE_CONTRACTORS)
def add_certificate(item_id: ItemId, person_id: PersonId, body: CertificateCreate,
                    actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    c = service.add_certificate(acting(session, actor), actor, item_id, person_id, body)
    session.commit()
    return model_response(CertificatePublic.model_validate(c), 201)


@router.patch("/contractors/{item_id}/workers/{person_id}/certificates/{cert_id}",
              response_model=CertificatePublic, summary="Update a worker's certificate")
@requires(Perm.MANAGE_CONTRACTORS)
def update_certificate(item_id: ItemId, person_id: PersonId, cert_id: ItemId, body: CertificateUpdate,
                       actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    c = service.update_certificate(acting(session, actor), actor, item_id, person_id, cert_id, body)
    session.commit()
    return model_response(CertificatePublic.model_validate(c))


@router.delete("/contractors/{item_id}/workers/{person_id}/certificates/{cert_id}", status_code=204,
               response_class=Response, summary="Delete a worker's certificate")
@requires(Perm.MANAGE_CONTRACTORS)
def delete_certificate(item_id: ItemId, person_id: PersonId, cert_id: ItemId, actor: Actor = Depends(current_actor),
                       session: Session = Depends(db_session)) -> Response:
    service.delete_certificate(acting(session, actor), actor, item_id, person_id, cert_id)
    session.commit()
    return Response(status_code=204)


# -- safety inductions -----------------------------------------------------------------------


@router.get("/safety-inductions", response_model=PageOut[InductionPublic],
            summary="Safety inductions (入场安全教育), newest first")
def list_inductions(limit: Limit = 50, offset: Offset = 0, person_id: RefId = None, company_id: RefId = None,
                    actor: Actor = Depends(current_actor), session: Session = Depends(db_session)) -> Any:
    page = service.induction_service.list_for(session, actor, person_id=person_id, company_id=company_id,
                                              limit=limit, offset=offset)
    return model_response(PageOut[InductionPublic](
        items=[InductionPublic.model_validate(i) for i in page.items], total=page.total))


@router.post("/safety-inductions", response_model=InductionPublic, status_code=201,
             summary="Record a safety induction (valid_until defaults to held_on plus the configured months)")
@requires(Perm.MANAGE_CONTRACTORS)
def create_induction(body: InductionCreate, actor: Actor = Depends(current_actor),
                     session: Session = Depends(db_session)) -> Any:
    i = service.induction_service.create(acting(session, actor), actor, body)
    session.commit()
    return model_response(InductionPublic.model_validate(i), 201)


@router.get("/safety-inductions/{item_id}", response_model=InductionPublic, summary="One safety induction")
def read_induction(item_id: ItemId, actor: Actor = Depends(current_actor),
                   session: Session = Depends(db_session)) -> Any:
    return model_response(InductionPublic.model_validate(service.induction_service.get(session, actor, item_id)))


@router.patch("/safety-inductions/{item_id}", response_model=InductionPublic, summary="Update a safety induction")
@requires(Perm.MANAGE_CONTRACTORS)
def update_induction(item_id: ItemId, body: InductionUpdate, actor: Actor = Depends(current_actor),
                     session: Session = Depends(db_session)) -> Any:
    i = service.induction_service.update(acting(session, actor), actor, item_id, body)
    session.commit()
    return model_response(InductionPublic.model_validate(i))


@router.delete("/safety-inductions/{item_id}", status_code=204, response_class=Response,
               summary="Delete a safety induction")
@requires(Perm.MANAGE_CONTRACTORS)
def delete_induction(item_id: ItemId, actor: Actor = Depends(current_actor),
                     session: Session = Depends(db_session)) -> Response:
    service.induction_service.delete(acting(session, actor), actor, item_id)
    session.commit()
    return Response(status_code=204)
