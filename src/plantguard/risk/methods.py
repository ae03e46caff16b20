"""Assessment methods as data: the shipped tables (``risk/data/*.yaml``), the checks a method
must pass before it is saved, and the arithmetic.

Why data and not code: the value tables are stable, but how scores map onto the four colours
differs between provinces and sources (regulations.md §3.2–3.3). A method *spec* is a
self-contained document — factor tables, (LEC) danger bands, level thresholds, the source —
copied into a ``risk_method_version`` row when an enterprise selects or edits a method, so an
assessment keeps pointing at exactly the tables it was computed with.

Spec shape::

    {"method": "lec"|"ls", "variant": "A", "source": "...",
     "factors": {"L": {"name": {"zh_CN": .., "en": ..}, "values": [{"value": 6, "label": {..}}, ..]}, ..},
     "bands": [{"key": "high", "min": 160, "label": {..}}, ..],     # LEC only, highest first
     "levels": [{"level": "major", "min": 160}, .., {"level": "low", "min": 0}]}   # highest first

Every ``min`` is inclusive: a score on a boundary belongs to the higher band or level.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.risk.contract import LEVELS_HIGH_FIRST, RiskLevel

METHOD_FACTORS: dict[str, tuple[str, ...]] = {"lec": ("L", "E", "C"), "ls": ("L", "S")}
CUSTOM = "custom"
OUT_OF_TABLE = N_("%(factor)s = %(value)s is not in the table of the method in force (allowed: %(allowed)s)")
MAX_VALUES = 12
LOCALES = ("zh_CN", "en")


@cache
def _shipped(method: str) -> dict[str, Any]:
    text = resources.files("plantguard.risk").joinpath(f"data/{method}.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


@cache
def accident_types() -> list[dict[str, str]]:
    """GB 6441 accident categories: ``[{"code", "zh_CN", "en"}]``."""
    text = resources.files("plantguard.risk").joinpath("data/accident_types.yaml").read_text(encoding="utf-8")
    rows: list[dict[str, str]] = yaml.safe_load(text)
    return rows


def accident_label(code: str, locale: str) -> str:
    for row in accident_types():
        if row["code"] == code:
            return row.get(locale) or row["en"]
    return code


def shipped_variants(method: str) -> dict[str, str]:
    """Variant name → its source note."""
    return {k: str(v.get("source", "")) for k, v in _shipped(method)["variants"].items()}


def default_variant(method: str) -> str:
    return str(_shipped(method)["default_variant"])


def shipped_spec(method: str, variant: str | None = None) -> dict[str, Any]:
    """The spec of a shipped variant (default when ``variant`` is None)."""
    if method not in METHOD_FACTORS:
        raise ValidationFailed([FieldError("method", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join(METHOD_FACTORS)})])
    doc = _shipped(method)
    name = variant or str(doc["default_variant"])
    if name not in doc["variants"]:
        raise ValidationFailed([FieldError("variant", N_("Must be one of: %(expected)s"),
                                           {"expected": ", ".join([*doc["variants"], CUSTOM])})])
    chosen = doc["variants"][name]
    spec: dict[str, Any] = {"method": method, "variant": name, "source": chosen.get("source", ""),
                            "factors": copy.deepcopy(doc["factors"]), "levels": copy.deepcopy(chosen["levels"])}
    if "bands" in doc:
        spec["bands"] = copy.deepcopy(doc["bands"])
    return spec


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _check_label(errors: list[FieldError], path: str, label: Any) -> None:
    if not isinstance(label, dict) or not all(isinstance(label.get(lc), str) and label[lc].strip()
                                              and len(label[lc]) <= 200 and "\x00" not in label[lc]
                                              for lc in LOCALES):
        errors.append(FieldError(path, N_("Give a text of at most 200 characters in each language (%(langs)s)"),
                                 {"langs": ", ".join(LOCALES)}))


def check_spec(spec: Any) -> list[FieldError]:
    """Everything a method must be before it may assess: known factors, positive distinct
    values, four levels in order, bands in order. Paths name the place in the spec."""
    errors: list[FieldError] = []
    if not isinstance(spec, dict):
        return [FieldError("spec", N_("Must be an object"))]
    method = spec.get("method")
    if method not in METHOD_FACTORS:
        return [FieldError("method", N_("Must be one of: %(expected)s"), {"expected": ", ".join(METHOD_FACTORS)})]
    factors = spec.get("factors")
    if not isinstance(factors, dict) or set(factors) != set(METHOD_FACTORS[method]):
        return [FieldError("factors", N_("Give exactly the factors %(names)s"),
                           {"names": ", ".join(METHOD_FACTORS[method])})]
    for name in METHOD_FACTORS[method]:
        table = factors[name]
        base = f"factors.{name}"
        if not isinstance(table, dict) or not isinstance(table.get("values"), list):
            errors.append(FieldError(f"{base}.values", N_("Must be a list")))
            continue
        _check_label(errors, f"{base}.name", table.get("name"))
        values = table["values"]
        if not 1 <= len(values) <= MAX_VALUES:
            errors.append(FieldError(f"{base}.values", N_("Give between 1 and %(max)s values"), {"max": MAX_VALUES}))
        seen: set[float] = set()
        for i, row in enumerate(values):
            v = _number(row.get("value")) if isinstance(row, dict) else None
            if v is None or v <= 0 or v > 1000:
                errors.append(FieldError(f"{base}.values.{i}.value", N_("Must be a number above 0 and at most 1000")))
                continue
            if v in seen:
                errors.append(FieldError(f"{base}.values.{i}.value", N_("The value %(value)s appears twice"),
                                         {"value": fmt(v)}))
            seen.add(v)
            _check_label(errors, f"{base}.values.{i}.label", row.get("label"))
    errors += _check_thresholds(spec.get("levels"), "levels", [lv.value for lv in LEVELS_HIGH_FIRST], "level")
    if method == "lec":
        raw_bands = spec.get("bands")
        bands: list[Any] = raw_bands if isinstance(raw_bands, list) else []
        keys = [b.get("key") for b in bands] if all(isinstance(b, dict) for b in bands) else []
        if not keys or not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
            errors.append(FieldError("bands", N_("Each band needs its own key")))
        else:
            errors += _check_thresholds(bands, "bands", keys, "key")
            for i, b in enumerate(bands):
                _check_label(errors, f"bands.{i}.label", b.get("label"))
    return errors


def _check_thresholds(rows: Any, path: str, names: list[str], key: str) -> list[FieldError]:
    if not isinstance(rows, list) or [r.get(key) if isinstance(r, dict) else None for r in rows] != names:
        return [FieldError(path, N_("Give the entries %(names)s, in this order"), {"names": ", ".join(names)})]
    errors: list[FieldError] = []
    last: float | None = None
    for i, row in enumerate(rows):
        v = _number(row.get("min"))
        if v is None or v < 0:
            errors.append(FieldError(f"{path}.{i}.min", N_("Must be a number of at least 0")))
            continue
        if last is not None and v >= last:
            errors.append(FieldError(f"{path}.{i}.min", N_("Must be below the threshold above it (%(above)s)"),
                                     {"above": fmt(last)}))
        last = v
    return errors


def normalise(spec: dict[str, Any]) -> dict[str, Any]:
    """A checked spec reduced to the keys the method uses (nothing else is stored)."""

    def label(raw: Any) -> dict[str, str]:
        return {lc: str(raw[lc]).strip() for lc in LOCALES}

    out: dict[str, Any] = {
        "method": spec["method"], "variant": str(spec.get("variant", CUSTOM))[:40],
        "source": str(spec.get("source") or "").replace("\x00", "")[:300],
        "factors": {name: {"name": label(t["name"]),
                           "values": [{"value": _number(r["value"]), "label": label(r["label"])}
                                      for r in t["values"]]}
                    for name, t in spec["factors"].items()},
        "levels": [{"level": r["level"], "min": _number(r["min"])} for r in spec["levels"]],
    }
    if spec["method"] == "lec":
        out["bands"] = [{"key": str(r["key"])[:40], "min": _number(r["min"]), "label": label(r["label"])}
                        for r in spec["bands"]]
    return out


def fmt(value: float) -> str:
    """6.0 → "6", 0.5 → "0.5"."""
    return f"{value:g}"


def allowed_values(spec: dict[str, Any], factor: str) -> list[float]:
    return [float(row["value"]) for row in spec["factors"][factor]["values"]]


@dataclass(frozen=True)
class Result:
    score: float
    level: RiskLevel
    band: str  # LEC danger band key, "" for the matrix
    inputs: dict[str, float]


def _in_table(value: float, allowed: list[float]) -> float | None:
    for a in allowed:
        if math.isclose(value, a, rel_tol=1e-9, abs_tol=1e-12):
            return a
    return None


def level_for(spec: dict[str, Any], score: float) -> tuple[RiskLevel, str]:
    """The level (and LEC band) of a score under a spec; boundaries belong to the higher one."""
    level = RiskLevel.LOW
    for row in spec["levels"]:
        if score >= float(row["min"]) - 1e-9:
            level = RiskLevel(row["level"])
            break
    band = ""
    for row in spec.get("bands", []):
        if score >= float(row["min"]) - 1e-9:
            band = str(row["key"])
            break
    return level, band


def compute(spec: dict[str, Any], values: Any, path: str = "values") -> Result:
    """Score and level of one assessment, or ``ValidationFailed`` naming each factor that is
    missing or not a value of its table (``values.L``…)."""
    factors = METHOD_FACTORS[spec["method"]]
    if not isinstance(values, dict):
        raise ValidationFailed([FieldError(path, N_("Must be an object"))])
    errors: list[FieldError] = []
    inputs: dict[str, float] = {}
    for name in factors:
        raw = values.get(name)
        allowed = allowed_values(spec, name)
        number = _number(raw)
        hit = _in_table(number, allowed) if number is not None else None
        if raw is None:
            errors.append(FieldError(f"{path}.{name}", N_("This field is required")))
        elif hit is None:
            errors.append(FieldError(
                f"{path}.{name}", OUT_OF_TABLE,
                {"factor": name, "value": fmt(number) if number is not None else str(raw)[:20],
                 "allowed": ", ".join(fmt(a) for a in allowed)}))
        else:
            inputs[name] = hit
    extra = sorted(set(values) - set(factors))
    for name in extra[:5]:
        errors.append(FieldError(f"{path}.{str(name)[:20]}", N_("Unknown field")))
    if errors:
        raise ValidationFailed(errors)
    score = 1.0
    for name in factors:
        score *= inputs[name]
    score = round(score, 6)
    level, band = level_for(spec, score)
    return Result(score=score, level=level, band=band, inputs=inputs)


def band_label(spec: dict[str, Any], key: str, locale: str) -> str:
    for row in spec.get("bands", []):
        if row.get("key") == key:
            label = row.get("label") or {}
            return str(label.get(locale) or label.get("en") or key)
    return key


def text(label: Any, locale: str) -> str:
    """A ``{"zh_CN": .., "en": ..}`` label of a spec in the caller's language."""
    if isinstance(label, dict):
        return str(label.get(locale) or label.get("en") or "")
    return str(label or "")
