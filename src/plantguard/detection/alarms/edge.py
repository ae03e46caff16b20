"""``POST /api/v1/alarm-signals``: condition signals from an edge box that runs detection
itself, authenticated like ``POST /api/v1/ingest`` by a per-device token.

The token names one device of one enterprise; the enterprise of every signal is the token's,
whatever the body says, and references (equipment, point) must be that enterprise's. Sources
are put in the device's namespace (``edge:<device code>/<source>``), so an edge box can
neither refresh nor end a condition the server's own rules or watchdog own.

JSON: ``{"signals": [<ConditionSignal as to_dict() writes it, without enterprise_id>, ...]}``
or the bare list. The batch is applied in one transaction, all or nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from plantguard.api.deps import runtime
from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.errors import FieldError, NotAuthenticated, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.schemas import Id, Storable
from plantguard.detection.alarms.intake import AlarmIntake
from plantguard.detection.alarms.schemas import RuleId, UtcDateTime
from plantguard.detection.signals import ConditionSignal, Contribution, Severity
from plantguard.ingest.config import token_digest
from plantguard.ingest.models import Device

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_SIGNALS = 1000

Str = Annotated[str, StringConstraints(max_length=200), Storable]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), Storable]
Kind = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), Storable]
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]


class ContributionIn(BaseModel):
    point_id: Id | None = None
    name: Str = ""
    value: Finite | None = None
    score: Finite | None = None
    unit: Annotated[str, StringConstraints(max_length=20), Storable] = ""


class SignalIn(BaseModel):
    enterprise_id: int | None = None  # ignored: the token decides
    source: Source
    kind: Kind
    active: bool
    ts: UtcDateTime
    severity: Literal["critical", "major", "minor", "warning"] = "warning"
    score: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)] = 0.0
    equipment_id: Id | None = None
    point_id: Id | None = None
    rule_id: RuleId | None = None
    title: Str = ""
    contributions: Annotated[list[ContributionIn], Field(max_length=100)] = []
    explanation: dict[str, Any] = {}


class SignalsIn(BaseModel):
    signals: Annotated[list[SignalIn], Field(max_length=MAX_SIGNALS)]


class SignalsOut(BaseModel):
    accepted: int
    alarms: list[int | None]


_ADAPTER = TypeAdapter(SignalsIn)


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else request.headers.get("x-device-token", "").strip()
    if not token:
        raise NotAuthenticated()
    return token


def _parse(body: bytes) -> SignalsIn:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationFailed([FieldError("body", N_("The request body is not valid JSON"))]) from None
    if isinstance(doc, list):
        doc = {"signals": doc}
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


def _apply(request: Request, token: str, body: bytes) -> SignalsOut:
    rt = runtime(request)
    digest = token_digest(token)
    with rt.factory() as session:
        device = session.scalars(select(Device).where(Device.token_hash == digest, Device.enabled.is_(True))).first()
        if device is None or not device.token_hash:
            raise NotAuthenticated()
        parsed = _parse(body)  # only a known device learns what a good body looks like
        ent, prefix = device.enterprise_id, f"edge:{device.code}/"
        errors: list[FieldError] = []
        eq_ids = {s.equipment_id for s in parsed.signals if s.equipment_id is not None}
        pt_ids = {s.point_id for s in parsed.signals if s.point_id is not None}
        own_eq = set(session.scalars(select(Equipment.id).where(Equipment.enterprise_id == ent,
                                                                Equipment.id.in_(eq_ids)))) if eq_ids else set()
        own_pt = set(session.scalars(select(MeasurementPoint.id).where(
            MeasurementPoint.enterprise_id == ent, MeasurementPoint.id.in_(pt_ids)))) if pt_ids else set()
        signals: list[ConditionSignal] = []
        for i, s in enumerate(parsed.signals):
            if s.equipment_id is not None and s.equipment_id not in own_eq:
                errors.append(FieldError(f"signals.{i}.equipment_id", N_("No %(entity)s with this id"),
                                         {"entity": N_("Equipment")}))
            if s.point_id is not None and s.point_id not in own_pt:
                errors.append(FieldError(f"signals.{i}.point_id", N_("No %(entity)s with this id"),
                                         {"entity": N_("Measurement point")}))
            source = s.source if s.source.startswith(prefix) else prefix + s.source
            signals.append(ConditionSignal(
                enterprise_id=ent, source=source[:200], kind=s.kind, active=s.active, ts=s.ts.astimezone(UTC),
                severity=Severity(s.severity), score=s.score, equipment_id=s.equipment_id, point_id=s.point_id,
                rule_id=s.rule_id, title=s.title,
                contributions=tuple(Contribution(c.point_id, c.name, c.value, c.score, c.unit)
                                    for c in s.contributions),
                explanation={**s.explanation, "edge_device": device.code}))
        if errors:
            raise ValidationFailed(errors)
        intake = AlarmIntake(rt.factory, clock=lambda: datetime.now(UTC))
        for attempt in range(3):
            try:
                alarms = intake.apply_in(session, signals)
                ids = [a.id if a is not None else None for a in alarms]
                session.commit()
                return SignalsOut(accepted=len(signals), alarms=ids)
            except IntegrityError:  # the same source raised concurrently elsewhere: once more
                session.rollback()
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


async def receive_signals(request: Request) -> SignalsOut:
    token = _token(request)
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        raise ValidationFailed([FieldError("body", N_("The request is larger than %(limit)s"),
                                           {"limit": MAX_BODY_BYTES})])
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ValidationFailed([FieldError("body", N_("The request is larger than %(limit)s"),
                                               {"limit": MAX_BODY_BYTES})])
    return await run_in_threadpool(_apply, request, token, bytes(body))
