"""Reading ledger entries as people do: linked records by name instead of by id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.audit.models import AuditEntry
from plantguard.core.permissions import Actor
from plantguard.tenancy.models import Area, Person, Site, Team

REF_FIELDS: dict[str, tuple[Any, str]] = {
    "area_id": (Area, "name"), "site_id": (Site, "name"), "team_id": (Team, "name"),
    "leader_id": (Person, "name"), "person_id": (Person, "name"), "equipment_id": (Equipment, "name"),
}


def reference_names(session: Session, actor: Actor, entries: Iterable[AuditEntry]) -> dict[tuple[str, Any], str]:
    """``{(field, id): "code name"}`` for every id-valued field in the entries, tenant-scoped.

    Records deleted since keep showing their id.
    """
    wanted: dict[str, set[int]] = {}
    for e in entries:
        for snap in (e.before or {}, e.after or {}):
            for key, value in snap.items():
                if key in REF_FIELDS and isinstance(value, int):
                    wanted.setdefault(key, set()).add(value)
    out: dict[tuple[str, Any], str] = {}
    for key, ids in wanted.items():
        model, attr = REF_FIELDS[key]
        code_col = getattr(model, "code", None) if model is not Person else model.employee_no
        cols = [model.id, getattr(model, attr)] + ([code_col] if code_col is not None else [])
        rows = session.execute(select(*cols).where(model.enterprise_id == actor.enterprise_id, model.id.in_(ids)))
        for row in rows:
            label = f"{row[2]} {row[1]}" if len(row) > 2 else str(row[1])
            out[(key, row[0])] = label
    return out
