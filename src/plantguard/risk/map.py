"""The four-colour map (四色图) of a site: its plan, its areas' outlines coloured by the highest
current risk level of each area (risk.contract.area_levels), and each area's risk points.

Why grey for an area without assessed points: "no colour" must not read as "blue" (low
risk); an unassessed area is a gap in the register, and the map shows it as one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.errors import NotFound
from plantguard.core.permissions import Actor, Perm
from plantguard.risk.contract import LEVEL_COLOURS, LEVEL_LABELS, LEVELS_HIGH_FIRST, RiskLevel, area_levels
from plantguard.risk.models import RiskPoint
from plantguard.risk.siteplan import SITE, of_site
from plantguard.risk.siteplan_models import SitePlan
from plantguard.tenancy.models import Area, Site

UNASSESSED_COLOUR = "#9aa0a6"


@dataclass
class MapPoint:
    id: int
    code: str
    name: str
    kind: str
    level: str | None
    colour: str


@dataclass
class MapArea:
    id: int
    code: str
    name: str
    polygon: list[list[float]]
    level: str | None
    colour: str
    points: list[MapPoint] = field(default_factory=list)


@dataclass
class SiteMap:
    site: Site
    plan: SitePlan | None
    areas: list[MapArea]
    # The frame drawn: (0, 0, plan_width, plan_height) of the site, in metres.
    box: tuple[float, float, float, float]


def colour_of(level: str | None) -> str:
    try:
        return LEVEL_COLOURS[RiskLevel(level)] if level else UNASSESSED_COLOUR
    except ValueError:
        return UNASSESSED_COLOUR


def legend() -> list[tuple[str | None, str, str]]:
    """(level, colour, label message id), highest first, then the grey of unassessed areas."""
    from plantguard.core.i18n import N_

    return [(lv.value, LEVEL_COLOURS[lv], LEVEL_LABELS[lv]) for lv in LEVELS_HIGH_FIRST] + [
        (None, UNASSESSED_COLOUR, N_("Not assessed"))]


def sites(session: Session, actor: Actor) -> list[Site]:
    actor.require(Perm.READ)
    return list(session.scalars(select(Site).where(Site.enterprise_id == actor.enterprise_id).order_by(Site.code)))


def _valid_polygon(raw: object) -> list[list[float]]:
    if not isinstance(raw, list) or len(raw) < 3:
        return []
    out: list[list[float]] = []
    for p in raw:
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(v, int | float) for v in p)):
            return []
        out.append([float(p[0]), float(p[1])])
    return out


def site_map(session: Session, actor: Actor, site_id: int | None = None) -> SiteMap | None:
    """The map of a site (the first site when none is given); None when the enterprise has no site."""
    actor.require(Perm.READ)
    ent = actor.enterprise_id
    if site_id is None:
        site = session.scalar(select(Site).where(Site.enterprise_id == ent).order_by(Site.code).limit(1))
        if site is None:
            return None
    else:
        site = session.get(Site, site_id)
        if site is None or site.enterprise_id != ent:
            raise NotFound(SITE, site_id)
    plan = of_site(session, actor, site.id)
    levels = area_levels(session, ent)
    areas = list(session.scalars(select(Area).where(Area.enterprise_id == ent, Area.site_id == site.id)
                                 .order_by(Area.code)))
    by_area: dict[int, list[MapPoint]] = {a.id: [] for a in areas}
    if areas:
        rows = session.scalars(select(RiskPoint).where(
            RiskPoint.enterprise_id == ent, RiskPoint.active.is_(True),
            RiskPoint.area_id.in_(list(by_area))).order_by(RiskPoint.code))
        for p in rows:
            by_area[p.area_id].append(MapPoint(p.id, p.code, p.name, p.kind, p.current_level,
                                               colour_of(p.current_level)))
    rank = {lv.value: lv.rank for lv in LEVELS_HIGH_FIRST}
    for pts in by_area.values():
        pts.sort(key=lambda m: (-rank.get(m.level or "", 0), m.code))
    out = [MapArea(a.id, a.code, a.name, _valid_polygon(a.polygon),
                   levels[a.id].value if a.id in levels else None,
                   colour_of(levels[a.id].value if a.id in levels else None), by_area[a.id]) for a in areas]
    box = (0.0, 0.0, float(site.plan_width), float(site.plan_height))
    return SiteMap(site, plan, out, box)
