"""``POST /api/v1/ingest``: readings pushed by devices, authenticated by a per-device token.

The device sends ``Authorization: Bearer pgd_…`` (or ``X-Device-Token``); the token names
one device of one enterprise, so a payload can only ever write that enterprise's points.

JSON::

    {"readings": [{"point": "ST-P01-HP", "ts": "2026-11-28T08:00:00Z", "value": 23.1, "quality": "good"}, ...]}

(or the bare list). CSV (``Content-Type: text/csv``), with a header row, ``,`` or ``;``::

    point,ts,value[,quality]

``ts`` is ISO-8601 (a naive time is UTC) or epoch seconds / milliseconds / microseconds
(told apart by magnitude); omitted, it is the time of receipt. The answer counts the accepted
readings and lists each refused one with its index (CSV: line number) and reason; refused
readings are also quarantined for the console.
"""

from __future__ import annotations

import csv
import io
import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from plantguard.api.deps import runtime
from plantguard.core.errors import FieldError, NotAuthenticated, PlantGuardError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.ingest.config import build_spec, token_digest
from plantguard.ingest.connector import DeviceSpec
from plantguard.ingest.models import Device
from plantguard.ingest.pipeline import MALFORMED, UNKNOWN_POINT, WRONG_TYPE
from plantguard.ingest.reading import Quality, Reading, from_us

MAX_BODY_BYTES = 20 * 1024 * 1024
SPEC_CACHE_S = 5.0
QUALITY_NAMES = {"good": Quality.GOOD, "uncertain": Quality.UNCERTAIN, "bad": Quality.BAD,
                 "0": Quality.GOOD, "1": Quality.UNCERTAIN, "2": Quality.BAD}

router = APIRouter(tags=["ingest"])


class IngestUnavailable(PlantGuardError):
    status_code = 503
    code = "ingest_unavailable"

    def __init__(self) -> None:
        super().__init__(N_("Sensing is not enabled on this server (PLANTGUARD_INGEST=0)"))


class PayloadTooLarge(PlantGuardError):
    status_code = 413
    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(N_("The request is larger than %(limit)s"), limit=limit)


def parse_ts(raw: Any, received: datetime) -> datetime:
    """ISO-8601 or epoch (s, ms or µs by magnitude); None or "" is the time of receipt."""
    if raw is None or raw == "":
        return received
    if isinstance(raw, bool):
        raise ValueError("not a timestamp")
    if isinstance(raw, (int, float)) or (isinstance(raw, str) and raw.replace(".", "", 1).lstrip("-").isdigit()):
        x = float(raw)
        if not math.isfinite(x):
            raise ValueError("not a timestamp")
        us = x * 1e6 if abs(x) < 1e11 else (x * 1e3 if abs(x) < 1e14 else x)
        return from_us(int(us))
    if isinstance(raw, str):
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise ValueError("not a timestamp")


def parse_value(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        return float(raw.strip())
    raise ValueError("not a number")


class _Device:
    def __init__(self, spec: DeviceSpec[Any, Any], allowed: set[str] | None, limit: int) -> None:
        self.spec, self.allowed, self.limit = spec, allowed, limit
        self.loaded = time.monotonic()


_specs: dict[str, _Device] = {}


def _load_device(request: Request, token: str) -> _Device:
    digest = token_digest(token)
    hit = _specs.get(digest)
    if hit is not None and time.monotonic() - hit.loaded < SPEC_CACHE_S:
        return hit
    rt = runtime(request)
    with rt.read_factory() as session:
        d = session.scalars(select(Device).where(Device.token_hash == digest, Device.enabled.is_(True))).first()
        if d is None or d.protocol != "http":
            _specs.pop(digest, None)
            raise NotAuthenticated()
        spec = build_spec(session, d)
        allowed = {p.code for p in spec.points} or None
        limit = int(getattr(spec.connection, "max_readings_per_request", 50_000))
    dev = _Device(spec, allowed, limit)
    if len(_specs) > 10_000:
        _specs.clear()
    _specs[digest] = dev
    return dev


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else request.headers.get("x-device-token", "").strip()
    if not token:
        raise NotAuthenticated()
    return token


def _rows_json(body: bytes) -> list[Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationFailed([FieldError("body", N_("Not valid JSON"))]) from None
    rows = doc.get("readings") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise ValidationFailed([FieldError("readings", N_("Expected a list of readings"))])
    return rows


def _rows_csv(body: bytes) -> list[Any]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError("body", N_("CSV must be UTF-8"))]) from None
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=sep)
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    missing = [f for f in ("point", "value") if f not in fields]
    if missing:
        raise ValidationFailed([FieldError("header", N_("The CSV header must name the columns %(columns)s"),
                                           {"columns": "point, ts, value[, quality]"})])
    reader.fieldnames = fields
    return list(reader)


def ingest_rows(request: Request, dev: _Device, rows: list[Any], csv_lines: bool) -> dict[str, Any]:
    rt = runtime(request)
    if rt.ingest is None:
        raise IngestUnavailable()
    if len(rows) > dev.limit:
        raise ValidationFailed([FieldError("readings", N_("At most %(limit)s readings per request"),
                                           {"limit": dev.limit})])
    pipeline = rt.ingest.pipeline
    spec = dev.spec
    received = datetime.now(UTC)
    readings: list[Reading] = []
    refused: list[dict[str, Any]] = []

    def refuse(i: int, reason: str, detail: str, row: Any, code: str = "") -> None:
        where = i + 2 if csv_lines else i  # CSV: the file's line number (header is line 1)
        refused.append({"line" if csv_lines else "index": where, "reason": reason, "detail": detail})
        raw = row if isinstance(row, str) else orjson.dumps(row, default=str).decode()
        pipeline.reject(spec, reason, detail, raw[:2000], code)

    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            refuse(i, MALFORMED, "a reading must be an object with point, ts and value", row)
            continue
        code = str(row.get("point") or "").strip()
        known = spec.known_points.get(code)
        if known is None or (dev.allowed is not None and code not in dev.allowed):
            refuse(i, UNKNOWN_POINT, f"no point {code!r} for this device", row, code[:60])
            continue
        try:
            ts = parse_ts(row.get("ts"), received)
        except (ValueError, OverflowError, TypeError):
            refuse(i, MALFORMED, f"ts {row.get('ts')!r} is not a timestamp", row, code)
            continue
        try:
            value = parse_value(row.get("value"))
        except (ValueError, TypeError):
            refuse(i, WRONG_TYPE, f"value {row.get('value')!r} is not a number", row, code)
            continue
        q = QUALITY_NAMES.get(str(row.get("quality", "good")).strip().lower())
        if q is None:
            refuse(i, MALFORMED, f"quality {row.get('quality')!r} is not good, uncertain or bad", row, code)
            continue
        readings.append(Reading(known[0], ts, value, q, spec.source))
    accepted = pipeline.submit(spec, readings) if readings else 0
    c = pipeline.board.get(spec.device_id, spec.enterprise_id)
    if c.state != "online":
        pipeline.board.set_state(spec.device_id, spec.enterprise_id, "online")
    checked_out = len(readings) - accepted  # refused by the pipeline's checks (range, clock)
    return {"accepted": accepted, "refused": len(refused) + checked_out, "errors": refused[:1000]}


@router.post("/ingest", summary="Push readings (device token; JSON or CSV)", response_model=None,
             openapi_extra={"security": [{"DeviceToken": []}]})
async def ingest(request: Request) -> JSONResponse:
    token = _token(request)
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY_BYTES:
        raise PayloadTooLarge(MAX_BODY_BYTES)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(MAX_BODY_BYTES)
    dev = await run_in_threadpool(_load_device, request, token)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_csv = ctype in ("text/csv", "application/csv", "text/plain")
    rows = _rows_csv(bytes(body)) if is_csv else _rows_json(bytes(body))
    result = await run_in_threadpool(ingest_rows, request, dev, rows, is_csv)
    return JSONResponse(result, status_code=200 if result["accepted"] or not rows else 422)
