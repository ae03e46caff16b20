"""Turning errors into answers in the caller's language.

Every validation error names its field (``field`` is the dotted path inside the body or
the query parameter's name) and carries a translated message. Unknown errors answer 500
with the request id and are logged; they are bugs, and the schemathesis run hunts them.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from plantguard.core.context import current_request_id
from plantguard.core.errors import PlantGuardError, TooManyAttempts, ValidationFailed
from plantguard.core.i18n import N_, translate_field
from plantguard.core.i18n import gettext as _

log = logging.getLogger("plantguard.api")

# pydantic error types → catalogue messages (English ids; parameters from the error's ctx).
PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required"),
    "extra_forbidden": N_("Unknown field"),
    "string_too_short": N_("Must be at least %(min_length)s characters"),
    "string_too_long": N_("Must be at most %(max_length)s characters"),
    "string_pattern_mismatch": N_(
        "Only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit"
    ),
    "string_type": N_("Must be text"),
    "string_nul": N_("Must not contain NUL characters"),
    "string_unicode": N_("Must be valid Unicode text"),
    "int_type": N_("Must be a whole number"),
    "int_parsing": N_("Must be a whole number"),
    "int_from_float": N_("Must be a whole number"),
    "float_type": N_("Must be a number"),
    "float_parsing": N_("Must be a number"),
    "finite_number": N_("Must be a finite number"),
    "bool_type": N_("Must be true or false"),
    "bool_parsing": N_("Must be true or false"),
    "greater_than_equal": N_("Must be at least %(ge)s"),
    "less_than_equal": N_("Must be at most %(le)s"),
    "greater_than": N_("Must be greater than %(gt)s"),
    "less_than": N_("Must be less than %(lt)s"),
    "literal_error": N_("Must be one of: %(expected)s"),
    "enum": N_("Must be one of: %(expected)s"),
    "date_type": N_("Must be a date (YYYY-MM-DD)"),
    "date_parsing": N_("Must be a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": N_("Must be a date (YYYY-MM-DD)"),
    "date_from_datetime_inexact": N_("Must be a date (YYYY-MM-DD)"),
    "datetime_parsing": N_("Must be a date and time"),
    "datetime_type": N_("Must be a date and time"),
    "list_type": N_("Must be a list"),
    "too_long": N_("At most %(max_length)s items"),
    "too_short": N_("At least %(min_length)s items"),
    "dict_type": N_("Must be an object"),
    "model_type": N_("Must be an object"),
    "model_attributes_type": N_("Must be an object"),
    "value_error": N_("Invalid value"),
    "json_invalid": N_("The request body is not valid JSON"),
    "json_type": N_("The request body is not valid JSON"),
    "union_tag_invalid": N_("Invalid value"),
}

# A length constraint added to an already validated string type (a query parameter's
# ``max_length`` on ``Text``) reports the generic ``too_long``; for text that is a number of
# characters, not of items.
TEXT_LENGTH_TYPES = {"too_long": "string_too_long", "too_short": "string_too_short"}

# The framework raises 400 when it cannot read a body at all (bytes that are not UTF-8, JSON
# nested too deep, a multipart body without its boundary): that is bad input like any other,
# answered 422 with the body as the field, in the caller's language.
FASTAPI_BODY_ERROR = "There was an error parsing the body"
BODY_UNREADABLE_JSON = N_("The request body is not valid JSON")
BODY_UNREADABLE_FORM = N_("The request body is not a readable form")


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    # Union branches put the type name into the location (e.g. ``email.function-after[...]``).
    parts = [p for p in parts if not (("[" in p and "]" in p) or p in ("literal['']", "constrained-str"))]
    # A key made only of blanks or control characters (an unknown field in a hostile body) is
    # shown quoted, so the error still names something a person can see.
    parts = [p if p.strip() and p.isprintable() else repr(p) for p in parts]
    return ".".join(parts) or "body"


def _pydantic_message(err: dict[str, Any]) -> str:
    kind = str(err.get("type", ""))
    if kind in TEXT_LENGTH_TYPES and isinstance(err.get("input"), str):
        kind = TEXT_LENGTH_TYPES[kind]
    template = PYDANTIC_MESSAGES.get(kind)
    if kind == "value_error" and "email" in str(err.get("msg", "")).lower():
        return _("Must be a valid e-mail address")
    if template is None:
        return _("Invalid value")
    ctx = {k: (v if isinstance(v, int | float) else str(v)) for k, v in (err.get("ctx") or {}).items()}
    try:
        return _(template) % ctx if ctx else _(template).replace("%%", "%")
    except (KeyError, TypeError, ValueError):
        return _(template.split("%(")[0].rstrip(": "))


def field_errors_from_pydantic(errors: list[dict[str, Any]] | Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for err in errors:
        field = _field_of(tuple(err.get("loc", ())))
        message = _pydantic_message(err)
        if (field, message) in seen:
            continue
        seen.add((field, message))
        out.append({"field": field, "label": translate_field(field), "message": message,
                    "type": str(err.get("type", ""))})
    return out


def _translate_param(value: Any) -> Any:
    """A message-id param is translated; a tuple of them (e.g. the missing items of a refusal)
    is translated item by item and joined."""
    if isinstance(value, str):
        return _(value)
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return _(", ").join(_(v) for v in value)
    return value


def _translate_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _translate_param(v) for k, v in params.items()}


def error_body(exc: PlantGuardError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": _(exc.message) % _translate_params(exc.params) if exc.params
                            else _(exc.message), "code": exc.code, "request_id": current_request_id()}
    if isinstance(exc, ValidationFailed):
        body["errors"] = [
            {"field": e.field, "label": translate_field(e.field),
             "message": _(e.message) % _translate_params(e.params) if e.params else _(e.message)}
            for e in exc.errors
        ]
    return body


def _is_unreadable_body(exc: StarletteHTTPException) -> bool:
    cause = exc.__cause__ or exc.__context__
    return exc.status_code == 400 and (exc.detail == FASTAPI_BODY_ERROR or isinstance(cause, MultiPartException))


def _unreadable_body(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").lower()
    form = content_type.startswith(("multipart/", "application/x-www-form-urlencoded"))
    message = _(BODY_UNREADABLE_FORM if form else BODY_UNREADABLE_JSON)
    return JSONResponse(
        {"detail": _("Invalid input"), "code": "validation_error",
         "errors": [{"field": "body", "label": translate_field("body"), "message": message, "type": "body_unreadable"}],
         "request_id": current_request_id()},
        status_code=422,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(PlantGuardError)
    async def _domain(request: Request, exc: PlantGuardError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        if exc.status_code == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(error_body(exc), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(
            {"detail": _("Invalid input"), "code": "validation_error",
             "errors": field_errors_from_pydantic(exc.errors()), "request_id": current_request_id()},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_unreadable_body(exc):
            return _unreadable_body(request)
        messages = {404: "Not found", 405: "Method not allowed", 401: "Sign-in required"}
        detail = _(messages[exc.status_code]) if exc.status_code in messages else str(exc.detail)
        return JSONResponse({"detail": detail, "code": f"http_{exc.status_code}",
                             "request_id": current_request_id()},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse({"detail": _("Internal error; the request id identifies it in the log"),
                             "code": "internal_error", "request_id": current_request_id()}, status_code=500)
