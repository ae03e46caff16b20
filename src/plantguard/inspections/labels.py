"""Printable QR labels of risk points: an A4 PDF sheet (3 × 4 labels) and the data for the
console's print page.

Each label: the QR code of ``/i/{token}``, the point's code and name, its area, and the short
instruction to scan it. The QR modules are drawn as vector squares (crisp at any printer
resolution); Chinese text uses the CJK TrueType font embedded by ``risk/cards.py``'s
``register_font`` (the same font rules and the same clear refusal when none is installed).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.i18n import gettext
from plantguard.core.permissions import Actor, Perm
from plantguard.inspections import plans, tags
from plantguard.inspections.models import InspectionPlanPoint
from plantguard.risk.models import RiskPoint
from plantguard.tenancy.models import Area

MAX_LABELS = 600


@dataclass(frozen=True)
class Label:
    risk_point_id: int
    code: str
    name: str
    area: str
    url: str


def collect(session: Session, actor: Actor, base_url: str, *, plan_id: int | None = None,
            area_id: int | None = None) -> list[Label]:
    """Labels of a plan's points, an area's points, or every active point (tags made on the way)."""
    actor.require(Perm.MANAGE_INSPECTIONS)
    q = (select(RiskPoint, Area.name).join(Area, Area.id == RiskPoint.area_id)
         .where(RiskPoint.enterprise_id == actor.enterprise_id, RiskPoint.active.is_(True)))
    if plan_id is not None:
        plans.get(session, actor, plan_id)
        q = q.join(InspectionPlanPoint, InspectionPlanPoint.risk_point_id == RiskPoint.id).where(
            InspectionPlanPoint.plan_id == plan_id)
    if area_id is not None:
        q = q.where(RiskPoint.area_id == area_id)
    out: list[Label] = []
    for point, area in session.execute(q.order_by(RiskPoint.code).limit(MAX_LABELS)).all():
        tag = tags.ensure(session, actor.enterprise_id, point.id)
        out.append(Label(point.id, point.code, point.name, str(area), tags.url(base_url, tag.token)))
    return out


def pdf(labels: list[Label]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    from plantguard.risk.cards import register_font

    font = register_font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle("Inspection QR labels")
    width, height = A4
    cols, rows = 3, 4
    cw, ch = (width - 20 * mm) / cols, (height - 20 * mm) / rows
    hint = gettext("Scan to start the inspection")
    if not labels:
        c.setFont(font, 14)
        c.drawString(20 * mm, height - 30 * mm, gettext("No risk points to label"))
    for n, label in enumerate(labels):
        if n and n % (cols * rows) == 0:
            c.showPage()
        i = n % (cols * rows)
        x0 = 10 * mm + (i % cols) * cw
        y0 = height - 10 * mm - (i // cols + 1) * ch
        c.setStrokeGray(0.6)
        c.setDash(2, 2)
        c.rect(x0 + 2 * mm, y0 + 2 * mm, cw - 4 * mm, ch - 4 * mm)
        c.setDash()
        matrix = segno.make(label.url, error="m").matrix
        size = min(cw - 16 * mm, ch - 30 * mm)
        cell = size / len(matrix)
        qx, qy = x0 + (cw - size) / 2, y0 + ch - 8 * mm - size
        c.setFillGray(0)
        for r, row in enumerate(matrix):
            for col, dark in enumerate(row):
                if dark:
                    c.rect(qx + col * cell, qy + (len(matrix) - 1 - r) * cell, cell, cell, stroke=0, fill=1)
        c.setFont(font, 11)
        c.drawCentredString(x0 + cw / 2, qy - 6 * mm, f"{label.code} {label.name}"[:40])
        c.setFont(font, 8)
        c.drawCentredString(x0 + cw / 2, qy - 11 * mm, label.area[:40])
        c.drawCentredString(x0 + cw / 2, qy - 15 * mm, hint)
    c.showPage()
    c.save()
    return buf.getvalue()
