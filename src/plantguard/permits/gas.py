"""Gas analysis limits (气体分析): is one sample within what GB 30871-2022 allows?

Why on the absolute concentration: 5.3.2 sets the combustible limit in % vol (≤ 0.5 % where the
gas's LEL ≥ 4 %, ≤ 0.2 % where it is < 4 %), while portable detectors read %LEL; a reading is
converted with the gas's LEL from ``permits/data/gases.yaml`` (vol % = %LEL × LEL / 100).
Oxygen in a confined space must be 19.5–21 % vol (≤ 23.5 % in an oxygen-enriched setting, 6.4 a);
hot work on oxygen-service equipment ≤ 23.5 % (5.2.7); toxics against the occupational exposure
limits in gases.yaml (6.4 b, ⚠ sample values to be checked against GBZ 2.1).
"""

from __future__ import annotations

from typing import Any

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.permits.contract import GasKind
from plantguard.permits.rules import cite
from plantguard.permits.types import PermitType, gases

UNITS: dict[str, tuple[str, ...]] = {
    GasKind.COMBUSTIBLE: ("%vol", "%LEL"),
    GasKind.OXYGEN: ("%vol",),
    GasKind.TOXIC: ("mg/m3",),
}


def _unit_error(kind: str) -> ValidationFailed:
    return ValidationFailed([FieldError("unit", N_("Must be one of: %(expected)s"),
                                        {"expected": ", ".join(UNITS[kind])})])


def combustible_limit(lel_vol: float) -> float:
    lim = gases()["limits"]
    return float(lim["max_vol_if_lel_at_or_above"] if lel_vol >= float(lim["lel_threshold_vol"])
                 else lim["max_vol_if_lel_below"])


def _toxic_limit(spec: dict[str, Any]) -> tuple[float, str]:
    """A spot sample against MAC where there is one, else the short-term limit, else the TWA (⚠)."""
    for key, label in (("mac_mg_m3", "MAC"), ("pc_stel_mg_m3", "PC-STEL"), ("pc_twa_mg_m3", "PC-TWA")):
        if spec.get(key) is not None:
            return float(spec[key]), label
    raise ValueError(spec)


def evaluate(ptype: PermitType, permit: Any, kind: str, gas_code: str | None, value: float,
             unit: str) -> tuple[bool, float | None, str]:
    """(passed, vol %, limit text citing the clause). ``permit`` needs ``fields`` and ``gas_code``."""
    if kind not in UNITS:
        raise ValidationFailed([FieldError("kind", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(UNITS)})])
    if unit not in UNITS[kind]:
        raise _unit_error(kind)
    if value != value or value < 0:
        raise ValidationFailed([FieldError("value", N_("Must be at least %(ge)s"), {"ge": 0})])
    fields = getattr(permit, "fields", None) or {}
    if kind == GasKind.COMBUSTIBLE:
        code = gas_code or getattr(permit, "gas_code", None)
        spec = gases()["gases"].get(code or "")
        if spec is None:
            raise ValidationFailed([FieldError("gas_code", N_("Unknown gas %(gas)s"), {"gas": code or ""})])
        lel = float(spec["lel_vol"])
        if unit == "%LEL" and value > 100:
            raise ValidationFailed([FieldError("value", N_("Must be at most %(le)s"), {"le": 100})])
        vol = value * lel / 100 if unit == "%LEL" else value
        limit = combustible_limit(lel)
        return vol <= limit + 1e-12, vol, f"≤{limit:g}%vol (LEL {lel:g}%) {cite('5.3.2')}"
    if kind == GasKind.OXYGEN:
        if value > 100:
            raise ValidationFailed([FieldError("value", N_("Must be at most %(le)s"), {"le": 100})])
        rules = ptype.gas
        if rules is not None and rules.oxygen is not None:
            lo, hi = rules.oxygen
            if fields.get("oxygen_enriched") and rules.oxygen_enriched_max:
                hi = float(rules.oxygen_enriched_max)
            return lo <= value <= hi, value, f"{lo:g}–{hi:g}%vol {cite('6.4 a')}"
        if rules is not None and rules.oxygen_service_max and fields.get("oxygen_service"):
            hi = float(rules.oxygen_service_max)
            return value <= hi, value, f"≤{hi:g}%vol {cite('5.2.7')}"
        return True, value, ""  # no oxygen limit for this work: recorded for the file only
    spec = gases().get("toxics", {}).get(gas_code or "")
    if spec is None:
        raise ValidationFailed([FieldError("gas_code", N_("Unknown gas %(gas)s"), {"gas": gas_code or ""})])
    limit, label = _toxic_limit(spec)
    return value <= limit, None, f"{label} ≤{limit:g} mg/m³ {cite('6.4 b')}"


def required_kinds(ptype: PermitType, fields: dict[str, Any]) -> list[str]:
    """Which analyses must pass before work starts: combustible for every type that needs gas
    analysis, oxygen where the type sets an oxygen range (confined space) or the equipment is in
    oxygen service (hot work, 5.2.7); temporary power only
    in a fire/explosion-risk area (10.1)."""
    rules = ptype.gas
    if rules is None:
        return []
    if not rules.required and not (rules.required_if_field and fields.get(rules.required_if_field)):
        return []
    kinds: list[str] = []
    if rules.combustible:
        kinds.append(GasKind.COMBUSTIBLE)
    if rules.oxygen is not None or (rules.oxygen_service_max and fields.get("oxygen_service")):
        kinds.append(GasKind.OXYGEN)  # 6.4 a; hot work on oxygen-service equipment 5.2.7
    return kinds
