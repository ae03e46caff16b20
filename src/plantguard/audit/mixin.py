"""The change-logging mixin: a model that inherits it is audited on every flush."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from typing import Any, ClassVar

from sqlalchemy import inspect


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


class Audited:
    """Marks a model for the ledger.

    ``__audit_exclude__`` names volatile columns that are not changes worth recording
    (login counters); ``__audit_redact__`` names secrets recorded only as a short digest,
    so that "the password was changed" shows without the hash leaving the table.
    """

    __audit_exclude__: ClassVar[frozenset[str]] = frozenset()
    __audit_redact__: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def audit_entity(cls) -> str:
        return str(getattr(cls, "__tablename__", cls.__name__.lower()))

    def audit_snapshot(self) -> dict[str, Any]:
        mapper = inspect(type(self))
        out: dict[str, Any] = {}
        for col in mapper.column_attrs:
            if col.key in self.__audit_exclude__ or col.key in ("created_at", "updated_at"):
                continue
            out[col.key] = self._audit_value(col.key, getattr(self, col.key))
        return out

    def _audit_value(self, key: str, value: Any) -> Any:
        if key in self.__audit_redact__ and value is not None:
            return "sha256:" + hashlib.sha256(str(value).encode()).hexdigest()[:12]
        return jsonable(value)

    def audit_enterprise_id(self) -> int | None:
        value = getattr(self, "enterprise_id", None)
        return int(value) if value is not None else None
