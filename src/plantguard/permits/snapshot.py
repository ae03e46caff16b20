"""The hash of a permit's content, fixed when it is approved (GB 30871-2022 4.18: no alterations).

Why a hash of a canonical JSON: the approved permit is printed and filed (B.3: kept ≥ 1 year);
the PDF prints this hash, so a paper copy or a later read of the database can be checked against
what the approvers signed. Only content counts (type, grade, fields, place, window, people,
measures' applicability, JSA, links) — not the status, sign-offs or gas analyses that follow.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.permits.models import Permit, PermitLink, PermitMeasure, PermitWorker


def _t(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat(timespec="seconds")


def content(session: Session, permit: Permit) -> dict[str, Any]:
    """What the approvers approved, in a stable order."""
    ent = permit.enterprise_id
    workers = session.execute(select(PermitWorker.person_id, PermitWorker.role, PermitWorker.certificate_no).where(
        PermitWorker.permit_id == permit.id, PermitWorker.enterprise_id == ent)).all()
    measures = session.execute(select(PermitMeasure.code, PermitMeasure.applicable).where(
        PermitMeasure.permit_id == permit.id, PermitMeasure.enterprise_id == ent)).all()
    links = session.scalars(select(PermitLink.linked_id).where(PermitLink.permit_id == permit.id,
                                                               PermitLink.enterprise_id == ent)).all()
    return {
        "number": permit.number, "type": permit.type_code, "grade": permit.grade,
        "requested_grade": permit.requested_grade, "content": permit.content, "location": permit.location,
        "area_id": permit.area_id, "equipment_id": permit.equipment_id, "plan": [permit.plan_x, permit.plan_y],
        "applicant_unit": permit.applicant_unit, "work_unit": permit.work_unit,
        "contractor_company_id": permit.contractor_company_id, "fields": permit.fields or {},
        "window": [_t(permit.planned_start), _t(permit.planned_end)],
        "work_leader_id": permit.work_leader_id, "guardian_id": permit.guardian_id,
        "workers": sorted([list(w) for w in workers], key=lambda w: (w[0], w[1])),
        "measures": sorted([list(m) for m in measures]),
        "risk_identification": permit.risk_identification, "jsa": permit.jsa or [],
        "other_measures": permit.other_measures, "other_measures_by": permit.other_measures_by,
        "gas_code": permit.gas_code, "continuous_monitoring": permit.continuous_monitoring,
        "links": sorted(links),
    }


def content_sha256(session: Session, permit: Permit) -> str:
    session.flush()
    data = json.dumps(content(session, permit), ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
