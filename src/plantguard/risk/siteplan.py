"""Site plans and area outlines: the service behind the four-colour map's editor.

A plan's type comes from its content (magic bytes for PNG/JPEG/WebP, an ``<svg>`` root for
SVG), never from the name or the declared type. The size limit is
``PLANTGUARD_SITE_PLAN_MAX_MB`` (default 10). SVGs are stored only after
:mod:`plantguard.risk.siteplan_svg` rebuilt them from its allow-list. Images are opened with
Pillow only to read their pixel size, with a pixel limit.

Coordinates: area outlines are in the site's frame (``site.plan_width`` × ``plan_height``,
metres, as the demo plant and the tenancy API define them); the plan's file is drawn
stretched onto that frame, so set the site's size to the plan's real extent.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.risk import siteplan_svg
from plantguard.risk.siteplan_models import SitePlan
from plantguard.tenancy.models import Area, Site
from plantguard.workorders.uploads import sniff

DEFAULT_MAX_MB = 10.0
MAX_PIXELS = 100_000_000  # 10000 × 10000: a plan, not a decompression bomb
MAX_POINTS = 500
SITE_PLAN = N_("Site plan")
AREA = N_("Area")
SITE = N_("Site")


def max_mb() -> float:
    raw = os.environ.get("PLANTGUARD_SITE_PLAN_MAX_MB", "")
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return max(mb, 0.001)


def max_bytes() -> int:
    return int(max_mb() * 1024 * 1024)


@dataclass(frozen=True)
class CheckedPlan:
    data: bytes
    content_type: str
    min_x: float
    min_y: float
    width: float
    height: float
    removed: tuple[str, ...]


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ValidationFailed([FieldError("file", N_("The image is too large (at most %(n)s pixels)"),
                                                   {"n": f"{MAX_PIXELS:,}"})])
            img.verify()
            return int(w), int(h)
    except ValidationFailed:
        raise
    except Exception:  # truncated or corrupt: the client's file, not our failure
        raise ValidationFailed([FieldError("file", N_("The image file is damaged or incomplete"))]) from None


def check(data: bytes) -> CheckedPlan:
    """The upload as it will be stored, or ``ValidationFailed`` on the field ``file``."""
    if not data:
        raise ValidationFailed([FieldError("file", N_("The file is empty"))])
    if len(data) > max_bytes():
        raise ValidationFailed([FieldError("file", N_("The file is too large (at most %(mb)s MB)"),
                                           {"mb": f"{max_mb():g}"})])
    kind = sniff(data)
    if kind is not None:
        w, h = _image_size(data)
        return CheckedPlan(data, kind, 0.0, 0.0, float(w), float(h), ())
    if not siteplan_svg.looks_like_xml(data):
        raise ValidationFailed([FieldError("file", siteplan_svg.NOT_SVG)])
    clean = siteplan_svg.sanitise(data)
    return CheckedPlan(clean.data, "image/svg+xml", clean.min_x, clean.min_y, clean.width, clean.height,
                       tuple(clean.removed))


def _site(session: Session, actor: Actor, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None or site.enterprise_id != actor.enterprise_id:
        raise ValidationFailed([FieldError("site_id", N_("No such site"))])
    return site


def upload(session: Session, actor: Actor, site_id: int, filename: str, data: bytes) -> tuple[SitePlan, CheckedPlan]:
    """Store (or replace) the plan of a site. The caller commits."""
    actor.require(Perm.MANAGE_RISK)
    _site(session, actor, site_id)
    checked = check(data)
    plan = session.scalar(select(SitePlan).where(SitePlan.enterprise_id == actor.enterprise_id,
                                                 SitePlan.site_id == site_id))
    if plan is None:
        plan = SitePlan(enterprise_id=actor.enterprise_id, site_id=site_id)
        session.add(plan)
    plan.filename = filename[:200]
    plan.content_type = checked.content_type
    plan.content = checked.data
    plan.size = len(checked.data)
    plan.sha256 = hashlib.sha256(checked.data).hexdigest()
    plan.min_x, plan.min_y = checked.min_x, checked.min_y
    plan.width, plan.height = checked.width, checked.height
    plan.uploaded_by = actor.user_id
    plan.uploaded_at = utcnow()
    session.flush()
    return plan, checked


def get(session: Session, actor: Actor, plan_id: int) -> SitePlan:
    actor.require(Perm.READ)
    plan = session.get(SitePlan, plan_id)
    if plan is None or plan.enterprise_id != actor.enterprise_id:
        raise NotFound(SITE_PLAN, plan_id)
    return plan


def of_site(session: Session, actor: Actor, site_id: int) -> SitePlan | None:
    actor.require(Perm.READ)
    return session.scalar(select(SitePlan).where(SitePlan.enterprise_id == actor.enterprise_id,
                                                 SitePlan.site_id == site_id))


def list_plans(session: Session, actor: Actor) -> list[SitePlan]:
    actor.require(Perm.READ)
    return list(session.scalars(select(SitePlan).where(SitePlan.enterprise_id == actor.enterprise_id)
                                .order_by(SitePlan.site_id)))


def _coords(polygon: Any) -> list[tuple[float, float]]:
    if not isinstance(polygon, list):
        raise ValidationFailed([FieldError("polygon", N_("A list of [x, y] points is required"))])
    if len(polygon) < 3:
        raise ValidationFailed([FieldError("polygon", N_("An outline needs at least 3 points"))])
    if len(polygon) > MAX_POINTS:
        raise ValidationFailed([FieldError("polygon", N_("At most %(n)s points"), {"n": MAX_POINTS})])
    errors: list[FieldError] = []
    out: list[tuple[float, float]] = []
    for i, p in enumerate(polygon):
        ok = (isinstance(p, list | tuple) and len(p) == 2
              and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p))
        if not ok:
            errors.append(FieldError(f"polygon.{i}", N_("A point is two numbers [x, y]")))
        else:
            out.append((float(p[0]), float(p[1])))
    if errors:
        raise ValidationFailed(errors)
    return out


def validate_polygon(polygon: Any, width: float, height: float) -> list[list[float]]:
    """The outline rounded to 0.01 plan units, or field-named errors. The frame is the site's
    ``plan_width`` × ``plan_height`` (metres): the uploaded plan is drawn onto that frame, so
    outlines survive replacing the plan's file."""
    pts = _coords(polygon)
    errors = [FieldError(f"polygon.{i}", N_("The point lies outside the site plan (%(w)s × %(h)s)"),
                         {"w": f"{width:g}", "h": f"{height:g}"})
              for i, (x, y) in enumerate(pts) if not (0 <= x <= width and 0 <= y <= height)]
    if errors:
        raise ValidationFailed(errors)
    doubled = sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
                  for i in range(len(pts)))
    if abs(doubled) < 1e-9:
        raise ValidationFailed([FieldError("polygon", N_("The outline encloses no area"))])
    return [[round(x, 2), round(y, 2)] for x, y in pts]


def set_polygon(session: Session, actor: Actor, area_id: int, polygon: Any) -> Area:
    """Save an area's outline in its site's plan frame. The caller commits."""
    actor.require(Perm.MANAGE_RISK)
    area = session.get(Area, area_id)
    if area is None or area.enterprise_id != actor.enterprise_id:
        raise NotFound(AREA, area_id)
    site = session.get(Site, area.site_id)
    assert site is not None  # FK
    area.polygon = validate_polygon(polygon, float(site.plan_width), float(site.plan_height))
    session.flush()
    return area
