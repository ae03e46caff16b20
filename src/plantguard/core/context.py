"""Per-request context: request id and locale travel with the call, not as arguments."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("plantguard_request_id", default=None)
locale_var: ContextVar[str] = ContextVar("plantguard_locale", default="zh_CN")


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()
