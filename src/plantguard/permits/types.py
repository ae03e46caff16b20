"""The eight permit types as typed objects, read once from ``permits/data/types.yaml``.

Why data and not code: every grade, validity limit, approver chain, checklist and
type-specific field is a fact of GB 30871-2022 that cites its clause; a plant auditor reads
the YAML, and "adding a permit type" (docs/adding-a-permit-type.md) is mostly adding data.
Per-enterprise deviations the standard allows (⚠) come from ``PermitConfig.overrides``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Grade:
    code: str
    name: str
    name_en: str
    clause: str
    approvers: tuple[str, ...]
    validity_max_h: float | None
    description: str = ""
    # Bounds that select the grade from a field (height in m, mass in t): [low, high) / None.
    bounds: tuple[float | None, float | None] | None = None


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    label_en: str
    type: str  # text | number | bool | choice | multi
    required: bool = False
    choices: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Measure:
    code: str
    text: str


@dataclass(frozen=True)
class GasRules:
    clause: str
    before_start_min: int
    break_reanalysis_min: dict[str, int]
    continuous_grades: tuple[str, ...]
    combustible: bool
    oxygen: tuple[float, float] | None
    toxic: bool
    required: bool = True
    required_if_field: str | None = None
    oxygen_enriched_max: float | None = None
    oxygen_service_max: float | None = None
    daily_reanalysis: bool = False


@dataclass(frozen=True)
class PermitType:
    code: str
    name: str
    name_en: str
    clause: str
    number_prefix: str
    grades: tuple[Grade, ...]
    fields: tuple[FieldSpec, ...]
    measures: tuple[Measure, ...]
    guardian_required: bool
    gas: GasRules | None
    worker_certificates: tuple[str, ...]
    guardian_certificates: tuple[str, ...]
    validity_default_max_h: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def grade(self, code: str) -> Grade | None:
        return next((g for g in self.grades if g.code == code), None)

    @property
    def graded(self) -> bool:
        return len(self.grades) > 1

    def field_spec(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


def _bounds(g: dict[str, Any]) -> tuple[float | None, float | None] | None:
    for key in ("height_m", "mass_t"):
        if key in g:
            lo, hi = g[key]
            return (None if lo is None else float(lo), None if hi is None else float(hi))
    return None


def _gas(spec: dict[str, Any] | None) -> GasRules | None:
    if not spec:
        return None
    oxygen = spec.get("oxygen")
    cont = spec.get("continuous_monitoring") or {}
    return GasRules(
        clause=str(spec.get("clause", "")), before_start_min=int(spec.get("before_start_min", 30)),
        break_reanalysis_min={str(k): int(v) for k, v in (spec.get("break_reanalysis_min") or {}).items()},
        continuous_grades=tuple(cont.get("grades") or ()), combustible=bool(spec.get("combustible")),
        oxygen=(float(oxygen[0]), float(oxygen[1])) if oxygen else None, toxic=bool(spec.get("toxic")),
        required=bool(spec.get("required", spec.get("required_if_field") is None)),
        required_if_field=spec.get("required_if_field"),
        oxygen_enriched_max=spec.get("oxygen_enriched_max"), oxygen_service_max=spec.get("oxygen_service_max"),
        daily_reanalysis=bool(spec.get("daily_reanalysis")),
    )


def _type(t: dict[str, Any]) -> PermitType:
    certs = t.get("certificates") or {}
    return PermitType(
        code=t["code"], name=t["name"], name_en=t["name_en"], clause=t["clause"], number_prefix=t["number_prefix"],
        grades=tuple(Grade(code=str(g["code"]), name=g["name"], name_en=g["name_en"], clause=g["clause"],
                           approvers=tuple(g["approvers"]), validity_max_h=g.get("validity_max_h"),
                           description=g.get("description", ""), bounds=_bounds(g)) for g in t["grades"]),
        fields=tuple(FieldSpec(name=f["name"], label=f["label"], label_en=f["label_en"], type=f["type"],
                               required=bool(f.get("required")), choices=dict(f.get("choices") or {}))
                     for f in t.get("fields") or []),
        measures=tuple(Measure(code=m["code"], text=m["text"]) for m in t.get("measures") or []),
        guardian_required=bool(t.get("guardian_required")), gas=_gas(t.get("gas_analysis")),
        worker_certificates=tuple(certs.get("workers") or ()), guardian_certificates=tuple(certs.get("guardian") or ()),
        validity_default_max_h=t.get("validity_default_max_h"), raw=t,
    )


@cache
def catalogue() -> dict[str, Any]:
    """The whole file (approver roles, common rules) as parsed YAML."""
    text = resources.files("plantguard.permits").joinpath("data/types.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@cache
def all_types() -> dict[str, PermitType]:
    return {t["code"]: _type(t) for t in catalogue()["types"]}


def get_type(code: str) -> PermitType | None:
    return all_types().get(code)


def approver_roles() -> dict[str, dict[str, str]]:
    roles: dict[str, dict[str, str]] = catalogue()["approver_roles"]
    return roles


@cache
def gases() -> dict[str, Any]:
    text = resources.files("plantguard.permits").joinpath("data/gases.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data
