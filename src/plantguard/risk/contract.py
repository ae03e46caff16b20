"""What other domains may use of the risk register (the map, inspections, hazards).

Why a separate module: the four-colour map, the inspection checklists and the hazard loop are
built beside the register and meet it only here — the four levels with their colours and
order, the highest level per area, and the control measures of a point.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.i18n import N_
from plantguard.risk.models import ControlMeasure, HazardSource, RiskPoint


class RiskLevel(StrEnum):
    """The four risk levels (风险等级), highest first."""

    MAJOR = "major"  # 重大风险, red
    SIGNIFICANT = "significant"  # 较大风险, orange
    GENERAL = "general"  # 一般风险, yellow
    LOW = "low"  # 低风险, blue

    @property
    def rank(self) -> int:
        """4 for MAJOR … 1 for LOW: larger is worse."""
        return LEVEL_RANK[self]

    @property
    def colour(self) -> str:
        return LEVEL_COLOURS[self]

    @property
    def label(self) -> str:
        """Message id (translate where shown)."""
        return LEVEL_LABELS[self]


LEVEL_RANK: dict[RiskLevel, int] = {RiskLevel.MAJOR: 4, RiskLevel.SIGNIFICANT: 3, RiskLevel.GENERAL: 2,
                                    RiskLevel.LOW: 1}
# The colour names (红/橙/黄/蓝) and the hex values the map and badges use.
LEVEL_COLOUR_NAMES: dict[RiskLevel, str] = {RiskLevel.MAJOR: "red", RiskLevel.SIGNIFICANT: "orange",
                                            RiskLevel.GENERAL: "yellow", RiskLevel.LOW: "blue"}
LEVEL_COLOURS: dict[RiskLevel, str] = {RiskLevel.MAJOR: "#e02020", RiskLevel.SIGNIFICANT: "#f5841f",
                                       RiskLevel.GENERAL: "#f6d313", RiskLevel.LOW: "#2f7bd9"}
LEVEL_LABELS: dict[RiskLevel, str] = {RiskLevel.MAJOR: N_("Major risk"),
                                      RiskLevel.SIGNIFICANT: N_("Significant risk"),
                                      RiskLevel.GENERAL: N_("General risk"), RiskLevel.LOW: N_("Low risk")}
LEVELS_HIGH_FIRST: tuple[RiskLevel, ...] = (RiskLevel.MAJOR, RiskLevel.SIGNIFICANT, RiskLevel.GENERAL,
                                            RiskLevel.LOW)


def highest(levels: Iterable[str | RiskLevel | None]) -> RiskLevel | None:
    """The worst of some levels (unknown values and None ignored); None when there are none."""
    best: RiskLevel | None = None
    for raw in levels:
        if raw is None:
            continue
        try:
            level = RiskLevel(raw)
        except ValueError:
            continue
        if best is None or level.rank > best.rank:
            best = level
    return best


def area_levels(session: Session, enterprise_id: int) -> dict[int, RiskLevel]:
    """Highest current level of the active risk points in each area (areas without an
    assessed point are absent)."""
    rows = session.execute(
        select(RiskPoint.area_id, RiskPoint.current_level)
        .where(RiskPoint.enterprise_id == enterprise_id, RiskPoint.active.is_(True),
               RiskPoint.current_level.is_not(None))
    ).all()
    out: dict[int, RiskLevel] = {}
    for area_id, level in rows:
        worst = highest([out.get(area_id), level])
        if worst is not None:
            out[area_id] = worst
    return out


def measures_of_point(session: Session, enterprise_id: int, risk_point_id: int) -> list[ControlMeasure]:
    """The active control measures of a point's active hazard sources, in a stable order
    (hazard source, then measure id). An unknown point or one of another enterprise: []."""
    return list(session.scalars(
        select(ControlMeasure)
        .join(HazardSource, HazardSource.id == ControlMeasure.hazard_source_id)
        .where(ControlMeasure.enterprise_id == enterprise_id, HazardSource.enterprise_id == enterprise_id,
               HazardSource.risk_point_id == risk_point_id, HazardSource.active.is_(True),
               ControlMeasure.active.is_(True))
        .order_by(HazardSource.id, ControlMeasure.id)
    ))
