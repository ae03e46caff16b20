"""Devices as configuration: validation against the connector's manifest, YAML import and
export, and turning a stored device into the spec its connector runs with.

A device is never code. Its ``connection`` and ``points`` are checked against the models the
protocol's manifest declares, so a wrong register type or a missing host is refused when it
is saved (with the field named, e.g. ``points.3.address``), not when the connector first runs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import MeasurementPoint
from plantguard.core.crud import TenantCrud
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import Code60, Name
from plantguard.ingest import manifest as manifests
from plantguard.ingest.connector import BoundPoint, DeviceSpec
from plantguard.ingest.models import Device

MAX_POINTS_PER_DEVICE = 20_000
MAX_RULES_PER_DEVICE = 50
MAX_YAML_BYTES = 5 * 1024 * 1024


class DeviceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = ""
    enabled: bool = True
    poll_interval_s: float = Field(1.0, ge=0.05, le=86_400)
    connection: dict[str, Any] = Field(default_factory=dict)
    points: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_POINTS_PER_DEVICE)
    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_RULES_PER_DEVICE)
    notes: str = Field("", max_length=4000)


class DeviceCreate(DeviceBase):
    code: Code60
    protocol: str = Field(min_length=1, max_length=40)


class DeviceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    enabled: bool | None = None
    poll_interval_s: float | None = Field(None, ge=0.05, le=86_400)
    connection: dict[str, Any] | None = None
    points: list[dict[str, Any]] | None = Field(None, max_length=MAX_POINTS_PER_DEVICE)
    rules: list[dict[str, Any]] | None = Field(None, max_length=MAX_RULES_PER_DEVICE)
    notes: str | None = Field(None, max_length=4000)


class DevicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    protocol: str
    enabled: bool
    poll_interval_s: float
    connection: dict[str, Any]
    points: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    notes: str
    has_token: bool = False


def pydantic_errors(exc: ValidationError, prefix: str) -> list[FieldError]:
    """Pydantic's errors as field errors with dotted paths under ``prefix``, in the
    catalogue's words where the error type is known (the API's own table)."""
    from plantguard.api.errors import PYDANTIC_MESSAGES, TEXT_LENGTH_TYPES

    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        kind = str(err.get("type", ""))
        if kind in TEXT_LENGTH_TYPES and isinstance(err.get("input"), str):
            kind = TEXT_LENGTH_TYPES[kind]
        template = PYDANTIC_MESSAGES.get(kind)
        ctx = {k: (v if isinstance(v, int | float) else str(v)) for k, v in (err.get("ctx") or {}).items()}
        try:
            usable = template is not None and bool(template % ctx if ctx else template) and kind != "value_error"
        except (KeyError, TypeError, ValueError):
            usable = False
        if usable and template is not None:
            out.append(FieldError(loc, template, ctx))
        else:
            detail = str(err.get("msg", "")).removeprefix("Value error, ")
            out.append(FieldError(loc, N_("Invalid value: %(detail)s"), {"detail": detail}))
    return out


def fixed_code(spec: BaseModel) -> str | None:
    """The one point code a point-map entry feeds, or None when it names points at run time."""
    if hasattr(spec, "fixed_point"):
        fixed = spec.fixed_point
        return fixed if isinstance(fixed, str) else None
    code = getattr(spec, "point", None)
    return code if isinstance(code, str) and "{" not in code else None


def check_rules(rules: list[dict[str, Any]]) -> list[FieldError]:
    """Parser rules compile (regular expressions and expressions), when the rules engine is present."""
    if not rules:
        return []
    from plantguard.ingest.rules import RuleSet, RulesInvalid

    try:
        RuleSet.from_raw(rules)
    except RulesInvalid as exc:
        return list(exc.errors)
    return []


def validate_device(session: Session, actor: Actor, merged: dict[str, Any]) -> None:
    """The whole device as it would be saved: protocol known, settings and point map valid
    for it, every mapped point an existing point of the caller's enterprise, no point mapped
    twice."""
    errors: list[FieldError] = []
    for key in ("connection", "points", "rules"):
        try:
            json.dumps(merged.get(key), allow_nan=False)
        except (ValueError, TypeError):
            errors.append(FieldError(key, N_("Must hold only text, finite numbers, true/false, lists and maps")))
        except RecursionError:
            errors.append(FieldError(key, N_("Nested more than %(max)s levels deep"), {"max": 40}))
    if errors:
        raise ValidationFailed(errors)
    protocol = merged.get("protocol") or ""
    try:
        m = manifests.get(protocol)
    except manifests.UnknownProtocol:
        known = ", ".join(sorted(manifests.manifests()))
        raise ValidationFailed([FieldError("protocol", N_("Unknown protocol; known: %(known)s"),
                                           {"known": known})]) from None
    try:
        m.config_model.model_validate(merged.get("connection") or {})
    except ValidationError as exc:
        errors += pydantic_errors(exc, "connection")
    codes: dict[str, int] = {}
    for i, entry in enumerate(merged.get("points") or []):
        try:
            spec = m.point_model.model_validate(entry)
        except ValidationError as exc:
            errors += pydantic_errors(exc, f"points.{i}")
            continue
        code = fixed_code(spec)
        if code is not None:
            if code in codes:
                errors.append(FieldError(f"points.{i}.point", N_("Point %(code)s is already mapped (entry %(other)s)"),
                                         {"code": code, "other": codes[code]}))
            codes.setdefault(code, i)
    if codes:
        found = set(session.scalars(select(MeasurementPoint.code).where(
            MeasurementPoint.enterprise_id == actor.enterprise_id, MeasurementPoint.code.in_(list(codes)))))
        for code, i in codes.items():
            if code not in found:
                errors.append(FieldError(f"points.{i}.point", N_("No measurement point with code %(code)s"),
                                         {"code": code}))
    errors += check_rules(list(merged.get("rules") or []))
    if errors:
        raise ValidationFailed(errors)


class DeviceService(TenantCrud[Device]):
    model = Device
    entity_label = N_("Device")
    write_perm = Perm.WRITE_DEVICES
    search_fields = ("code", "name", "protocol")

    def validate(self, session: Session, actor: Actor, merged: dict[str, Any], obj: Device | None) -> None:
        validate_device(session, actor, merged)

    def issue_token(self, session: Session, actor: Actor, ident: int) -> str:
        """A new HTTP-ingest token for the device; the old one stops working. Shown once."""
        actor.require(self.write_perm)
        obj = self.get(session, actor, ident)
        token = "pgd_" + secrets.token_urlsafe(32)
        obj.token_hash = token_digest(token)
        session.flush()
        return token


device_service = DeviceService()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def present(devices: list[Device]) -> list[DevicePublic]:
    return [DevicePublic.model_validate(d).model_copy(update={"has_token": bool(d.token_hash)}) for d in devices]


# -- YAML -------------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def parse_yaml(text: str) -> list[dict[str, Any]]:
    if len(text.encode()) > MAX_YAML_BYTES:
        raise ValidationFailed([FieldError("file", N_("The file is larger than %(limit)s MB"), {"limit": 5})])
    try:
        doc = yaml.safe_load(text)
    except RecursionError:
        raise ValidationFailed([FieldError("file", N_("Nested more than %(max)s levels deep"), {"max": 40})]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "?"
        raise ValidationFailed([FieldError("file", N_("Not valid YAML (line:column %(where)s)"),
                                           {"where": where})]) from None
    devices = doc.get("devices") if isinstance(doc, dict) else None
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise ValidationFailed([FieldError("devices", N_("Expected a list of devices under the key 'devices'"))])
    return devices


def import_devices(session: Session, actor: Actor, entries: list[dict[str, Any]]) -> ImportSummary:
    """Create or update devices by code, all or nothing: one invalid device refuses the file,
    with each error's field prefixed by the device's position (``devices.2.points.0.address``).
    The caller commits."""
    actor.require(Perm.WRITE_DEVICES)
    summary = ImportSummary()
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        try:
            code = DeviceCreate.model_validate(entry).code
            if code in seen:
                raise ValidationFailed([FieldError("code", N_("%(value)s appears twice in the file"),
                                                   {"value": code})])
            seen.add(code)
            existing = session.scalars(select(Device).where(Device.enterprise_id == actor.enterprise_id,
                                                            Device.code == code)).first()
            if existing is None:
                device_service.create(session, actor, DeviceCreate.model_validate(entry))
                summary.created.append(code)
            else:
                if entry.get("protocol") != existing.protocol:
                    raise ValidationFailed([FieldError("protocol", N_("A device's protocol cannot change; "
                                                                      "delete it and import it again"))])
                values = {k: v for k, v in entry.items() if k not in ("code", "protocol")}
                before = export_entry(existing)
                device_service.update(session, actor, existing.id, DeviceUpdate.model_validate(values))
                (summary.updated if export_entry(existing) != before else summary.unchanged).append(code)
        except ValidationError as exc:
            errors += pydantic_errors(exc, f"devices.{i}")
        except ValidationFailed as exc:
            errors += [FieldError(f"devices.{i}.{e.field}", e.message, e.params) for e in exc.errors]
    if errors:
        raise ValidationFailed(errors)
    return summary


def export_entry(d: Device) -> dict[str, Any]:
    out: dict[str, Any] = {"code": d.code, **({"name": d.name} if d.name else {}), "protocol": d.protocol,
                           "enabled": d.enabled, "poll_interval_s": d.poll_interval_s, "connection": d.connection,
                           "points": d.points}
    if d.rules:
        out["rules"] = d.rules
    if d.notes:
        out["notes"] = d.notes
    return out


def export_yaml(session: Session, actor: Actor) -> str:
    actor.require(Perm.READ)
    devices = session.scalars(select(Device).where(Device.enterprise_id == actor.enterprise_id)
                              .order_by(Device.code)).all()
    return yaml.safe_dump({"devices": [export_entry(d) for d in devices]}, allow_unicode=True, sort_keys=False)


# -- specs for the coordinator -----------------------------------------------------------------


def device_version(d: Device) -> str:
    """Changes whenever anything the connector depends on does."""
    blob = repr((d.protocol, d.enabled, d.poll_interval_s, d.connection, d.points, d.rules, d.updated_at))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_spec(session: Session, d: Device) -> DeviceSpec[Any, Any]:
    """The device as its connector sees it. Raises ``ValidationFailed`` when the stored
    configuration no longer validates (e.g. a mapped point was deleted since)."""
    m = manifests.get(d.protocol)
    try:
        connection = m.config_model.model_validate(d.connection or {})
    except ValidationError as exc:
        raise ValidationFailed(pydantic_errors(exc, "connection")) from None
    points_by_code = {
        code: (pid, lo, hi)
        for code, pid, lo, hi in session.execute(
            select(MeasurementPoint.code, MeasurementPoint.id, MeasurementPoint.range_low,
                   MeasurementPoint.range_high).where(MeasurementPoint.enterprise_id == d.enterprise_id,
                                                      MeasurementPoint.enabled.is_(True))
        )
    }
    bound: list[BoundPoint[Any]] = []
    errors: list[FieldError] = []
    for i, entry in enumerate(d.points or []):
        try:
            spec = m.point_model.model_validate(entry)
        except ValidationError as exc:
            errors += pydantic_errors(exc, f"points.{i}")
            continue
        code = fixed_code(spec)
        if code is None:
            # A rule that names its points at run time (a template, or a batch payload carrying
            # codes): bound as id 0; the connector resolves codes through ``known_points``.
            bound.append(BoundPoint(0, "", spec))
        elif code in points_by_code:
            pid, lo, hi = points_by_code[code]
            bound.append(BoundPoint(pid, code, spec, lo, hi))
        else:
            errors.append(FieldError(f"points.{i}.point", N_("No measurement point with code %(code)s"),
                                     {"code": code}))
    if errors and not bound:
        raise ValidationFailed(errors)
    return DeviceSpec(
        device_id=d.id, enterprise_id=d.enterprise_id, code=d.code, protocol=d.protocol, connection=connection,
        points=tuple(bound), poll_interval_s=d.poll_interval_s, rules=tuple(d.rules or ()),
        known_points=points_by_code, version=device_version(d),
    )
