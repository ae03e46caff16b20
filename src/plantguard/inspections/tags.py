"""QR tags of risk points: a random token per point, printed as a QR code of ``/i/{token}``.

Why a random token and not the point's id: the code hangs in the plant where anyone can read
it; a guessable URL would let a check-in be made from the office by typing the next number.
The token proves (as far as a printed label can) that the phone was in front of the label.
Scanning needs a signed-in session all the same, and a token resolves only inside the
caller's enterprise.
"""

from __future__ import annotations

import io
import secrets

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.errors import NotFound
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.inspections.models import InspectionTag

TAG = N_("QR tag")


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 128 bits, 22 characters


def ensure(session: Session, enterprise_id: int, risk_point_id: int) -> InspectionTag:
    tag = session.scalars(select(InspectionTag).where(InspectionTag.enterprise_id == enterprise_id,
                                                      InspectionTag.risk_point_id == risk_point_id)).first()
    if tag is None:
        tag = InspectionTag(enterprise_id=enterprise_id, risk_point_id=risk_point_id, token=new_token())
        session.add(tag)
        session.flush()
    return tag


def token_of(session: Session, enterprise_id: int, risk_point_id: int) -> str | None:
    return session.scalar(select(InspectionTag.token).where(InspectionTag.enterprise_id == enterprise_id,
                                                            InspectionTag.risk_point_id == risk_point_id))


def point_of_token(session: Session, actor: Actor, token: str) -> int:
    actor.require(Perm.READ)
    pid = session.scalar(select(InspectionTag.risk_point_id).where(
        InspectionTag.enterprise_id == actor.enterprise_id, InspectionTag.token == token[:40]))
    if pid is None:
        raise NotFound(TAG)
    return int(pid)


def renew(session: Session, actor: Actor, risk_point_id: int) -> InspectionTag:
    """A new token (the old label stops working): for a label that was copied or lost."""
    actor.require(Perm.MANAGE_INSPECTIONS)
    tag = ensure(session, actor.enterprise_id, risk_point_id)
    tag.token = new_token()
    session.flush()
    return tag


def url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/i/{token}"


def qr_svg(data: str, scale: int = 4) -> str:
    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="svg", scale=scale, xmldecl=False, svgns=True, border=2)
    return buf.getvalue().decode()


def qr_png(data: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()
