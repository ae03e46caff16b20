"""Hazard categories (隐患类别) as a Chinese manufacturing plant's safety department files them.

The list follows the headings common to enterprise hazard ledgers and inspection checklists
(机械设备, 电气, 消防, 危化品, 特种设备, 现场管理, 个体防护, 特殊作业, 职业卫生, 安全管理).
Codes are stable English identifiers stored in the database and used by the classifier;
labels are catalogue message ids translated where they are shown. Changing a code would
orphan stored hazards and the classifier's training data, so codes are only ever added.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from plantguard.core.i18n import N_


class HazardCategory(StrEnum):
    MACHINERY = "machinery"  # 机械设备: guards, interlocks, presses, rotating parts
    ELECTRICAL = "electrical"  # 电气: wiring, cabinets, earthing, leakage protection
    FIRE = "fire"  # 消防与防爆: extinguishers, hydrants, exits, alarms, fire lanes, dust explosion
    CHEMICALS = "chemicals"  # 危化品: storage, labelling, gas detection, explosion protection
    SPECIAL_EQUIPMENT = "special_equipment"  # 特种设备: cranes, forklifts, boilers, pressure vessels
    SITE = "site"  # 作业环境/现场管理: housekeeping, passages, lighting, stacking, signs
    PPE = "ppe"  # 个体防护: helmets, gloves, goggles, respirators, harnesses
    SPECIAL_WORK = "special_work"  # 特殊作业: hot work, work at height, confined spaces, lifting
    OCCUPATIONAL_HEALTH = "occupational_health"  # 职业卫生: dust, noise, toxic exposure, ventilation
    MANAGEMENT = "management"  # 安全管理/制度: rules, training, certificates, records, contractors


CATEGORY_LABELS: Final[dict[str, str]] = {
    HazardCategory.MACHINERY: N_("Machinery"),
    HazardCategory.ELECTRICAL: N_("Electrical"),
    HazardCategory.FIRE: N_("Fire and explosion protection"),
    HazardCategory.CHEMICALS: N_("Hazardous chemicals"),
    HazardCategory.SPECIAL_EQUIPMENT: N_("Special equipment"),
    HazardCategory.SITE: N_("Work environment and housekeeping"),
    HazardCategory.PPE: N_("Personal protection"),
    HazardCategory.SPECIAL_WORK: N_("Special work (hot work, height, confined space)"),
    HazardCategory.OCCUPATIONAL_HEALTH: N_("Occupational health"),
    HazardCategory.MANAGEMENT: N_("Safety management"),
}

CATEGORIES: Final[tuple[str, ...]] = tuple(c.value for c in HazardCategory)


def category_label(code: str | None) -> str:
    """The message id for a category code (the code itself if unknown, so old data still shows)."""
    if code is None:
        return ""
    return CATEGORY_LABELS.get(code, code)

