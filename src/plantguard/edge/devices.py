"""The edge's static device source: devices from ``edge.yaml`` checked against their
protocol's manifest and turned into the :class:`DeviceSpec` the ingest connectors run with.

This is the edge counterpart of ``ingest/config.py:build_spec``, which resolves point codes
through the database; here a code resolves to its stable local id (``config.point_id``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from plantguard.edge.config import pydantic_errors
from plantguard.ingest import manifest as manifests
from plantguard.ingest.connector import BoundPoint, DeviceSpec

if TYPE_CHECKING:
    from plantguard.edge.config import EdgeConfig


def fixed_code(spec: BaseModel) -> str | None:
    """The one point code a point-map entry feeds, or None when it names points at run time
    (the same rule as ``ingest/config.py:fixed_code``, which cannot be imported without SQLAlchemy)."""
    if hasattr(spec, "fixed_point"):
        fixed = spec.fixed_point
        return fixed if isinstance(fixed, str) else None
    code = getattr(spec, "point", None)
    return code if isinstance(code, str) and "{" not in code else None


def mapped_codes(cfg: EdgeConfig) -> list[str]:
    """Point codes the device maps feed (entries that validate; errors are check_devices')."""
    out: list[str] = []
    for d in cfg.devices:
        try:
            m = manifests.get(d.protocol)
        except manifests.UnknownProtocol:
            continue
        for entry in d.points:
            try:
                code = fixed_code(m.point_model.model_validate(entry))
            except ValidationError:
                continue
            if code is not None:
                out.append(code)
    return out


def check_devices(cfg: EdgeConfig) -> list[tuple[str, str]]:
    from plantguard.edge.config import point_id

    errors: list[tuple[str, str]] = []
    codes: dict[str, str] = {}  # point code -> where it is mapped
    devices: dict[str, int] = {}
    for i, d in enumerate(cfg.devices):
        at = f"devices.{i}"
        if d.code in devices:
            errors.append((f"{at}.code", f"{d.code} appears twice (also devices.{devices[d.code]})"))
        devices.setdefault(d.code, i)
        try:
            m = manifests.get(d.protocol)
        except manifests.UnknownProtocol:
            known = ", ".join(sorted(p for p, m in manifests.manifests().items() if m.mode != "api"))
            errors.append((f"{at}.protocol", f"unknown protocol {d.protocol!r}; known: {known}"))
            continue
        if m.mode == "api":
            errors.append((f"{at}.protocol", f"{d.protocol!r} devices push to the server's API; an edge box "
                                             "cannot receive them"))
            continue
        try:
            m.config_model.model_validate(d.connection)
        except ValidationError as exc:
            errors += pydantic_errors(exc, f"{at}.connection")
        for j, entry in enumerate(d.points):
            try:
                spec = m.point_model.model_validate(entry)
            except ValidationError as exc:
                errors += pydantic_errors(exc, f"{at}.points.{j}")
                continue
            code = fixed_code(spec)
            if code is None:
                continue
            if code in codes:
                errors.append((f"{at}.points.{j}.point", f"point {code} is already mapped ({codes[code]})"))
            codes.setdefault(code, f"{at}.points.{j}")
        if d.rules:
            from plantguard.ingest.rules import RuleSet, RulesInvalid

            try:
                RuleSet.from_raw(d.rules)
            except RulesInvalid as exc:
                errors += [(f"{at}.rules.{e.field}", e.message % e.params if e.params else e.message)
                           for e in exc.errors]
    ids: dict[int, str] = {}
    for code in [*codes, *(p.code for p in cfg.points)]:
        other = ids.setdefault(point_id(code), code)
        if other != code:  # pragma: no cover - a 56-bit hash collision
            errors.append(("points", f"point codes {other} and {code} collide; rename one"))
    return errors


def build_specs(cfg: EdgeConfig) -> list[DeviceSpec[Any, Any]]:
    """The enabled devices as their connectors see them (``cfg`` has passed ``check_devices``)."""
    known = cfg.point_codes()
    specs: list[DeviceSpec[Any, Any]] = []
    for i, d in enumerate(cfg.devices):
        if not d.enabled:
            continue
        m = manifests.get(d.protocol)
        bound: list[BoundPoint[Any]] = []
        for entry in d.points:
            spec = m.point_model.model_validate(entry)
            code = fixed_code(spec)
            if code is None:
                bound.append(BoundPoint(0, "", spec))  # names its points at run time (known_points)
            else:
                pid, lo, hi = known[code]
                bound.append(BoundPoint(pid, code, spec, lo, hi))
        specs.append(DeviceSpec(
            device_id=i + 1, enterprise_id=cfg.enterprise_id, code=d.code, protocol=d.protocol,
            connection=m.config_model.model_validate(d.connection), points=tuple(bound),
            poll_interval_s=d.poll_interval_s, rules=tuple(d.rules), known_points=known, version="edge",
        ))
    return specs
