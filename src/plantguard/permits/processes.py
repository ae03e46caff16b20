"""An enterprise's permit settings: its own approval processes and its PermitConfig.

Why here and not in the workflow engine: these are ordinary tenant-scoped writes (checked,
audited, one row per enterprise and process); ``workflow.py`` only runs processes. An upload is
accepted only when ``workflow.parse`` accepts it — it parses in SpiffWorkflow, its process id is
the one being replaced, every user task sits in an approver role's lane, and it reaches its end
when everyone approves — so a bad file is a 422 naming what is wrong, never a stuck permit.
Permits already in approval keep the process they started with.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.permits import types, workflow
from plantguard.permits.models import PermitConfig, PermitProcess

PROCESS = N_("Approval process")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_DATES = 400


def known(process_id: str) -> None:
    if process_id not in workflow.default_ids():
        raise NotFound(PROCESS, process_id)


def roles_in(xml: str, process_id: str) -> list[str]:
    """The roles of the process's user tasks, in document order (for lists)."""
    spec, _subs = workflow.parsed(workflow.Definition(process_id, workflow.sha256_of(xml), xml, ""))
    out: list[str] = []
    for s in spec.task_specs.values():
        if type(s).__name__ == "UserTask":
            role = workflow.role_of(s.lane)
            if role and role not in out:
                out.append(role)
    return out


def list_processes(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Every process id with the default's and the enterprise's version (if any)."""
    actor.require(Perm.READ)
    rows = {r.process_id: r for r in session.scalars(select(PermitProcess).where(
        PermitProcess.enterprise_id == actor.enterprise_id, PermitProcess.active.is_(True)))}
    out = []
    for pid in workflow.default_ids():
        type_code, grade = workflow.type_and_grade(pid) or ("", "")
        xml = workflow.default_xml(pid) or ""
        row = rows.get(pid)
        t = types.get_type(type_code)
        g = t.grade(grade) if t else None
        out.append({
            "process_id": pid, "type_code": type_code, "grade": grade,
            "type_name": t.name if t else "", "type_name_en": t.name_en if t else "",
            "grade_name": g.name if g else "", "grade_name_en": g.name_en if g else "",
            "source": "enterprise" if row else "default",
            "name": row.name if row else "", "sha256": row.sha256 if row else workflow.sha256_of(xml),
            "default_sha256": workflow.sha256_of(xml),
            "roles": roles_in(row.bpmn_xml if row else xml, pid),
            "default_roles": roles_in(xml, pid),
            "updated_at": row.updated_at if row else None, "uploaded_by": row.uploaded_by if row else None,
        })
    return out


def get_xml(session: Session, actor: Actor, process_id: str, *, default: bool = False) -> str:
    actor.require(Perm.READ)
    known(process_id)
    if default:
        return workflow.default_xml(process_id) or ""
    return workflow.definition(session, actor.enterprise_id, process_id).xml


def put(session: Session, actor: Actor, process_id: str, xml: str | bytes, *, name: str = "") -> PermitProcess:
    """Replace the default process ``process_id`` for the caller's enterprise (new permits only)."""
    actor.require(Perm.MANAGE_PERMITS)
    known(process_id)
    workflow.parse(xml, process_id)
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    sha = workflow.sha256_of(text)
    row = session.scalars(select(PermitProcess).where(
        PermitProcess.enterprise_id == actor.enterprise_id, PermitProcess.process_id == process_id)).first()
    if row is None:
        row = PermitProcess(enterprise_id=actor.enterprise_id, process_id=process_id, bpmn_xml=text, sha256=sha)
        session.add(row)
    row.bpmn_xml, row.sha256, row.active = text, sha, True
    row.name = name.strip()[:200]
    row.uploaded_by = actor.user_id or None
    session.flush()
    return row


def reset(session: Session, actor: Actor, process_id: str) -> None:
    """Back to the shipped default (the last upload stays in the audit ledger)."""
    actor.require(Perm.MANAGE_PERMITS)
    known(process_id)
    row = workflow.override(session, actor.enterprise_id, process_id)
    if row is None:
        raise NotFound(PROCESS, process_id)
    row.active = False
    session.flush()


# -- PermitConfig -----------------------------------------------------------------------------


def config(session: Session, enterprise_id: int) -> PermitConfig:
    """The enterprise's settings (an unsaved default row when it has none yet)."""
    row = session.scalars(select(PermitConfig).where(PermitConfig.enterprise_id == enterprise_id)).first()
    return row or PermitConfig(enterprise_id=enterprise_id, night_start="20:00", night_end="06:00", holidays=[],
                               workdays=[], overrides={})


def get_config(session: Session, actor: Actor) -> PermitConfig:
    actor.require(Perm.READ)
    return config(session, actor.enterprise_id)


def _dates(values: Any, field: str, errors: list[FieldError]) -> list[str]:
    if not isinstance(values, list):
        errors.append(FieldError(field, N_("Must be a list")))
        return []
    if len(values) > MAX_DATES:
        errors.append(FieldError(field, N_("At most %(n)s items"), {"n": MAX_DATES}))
        return []
    out = []
    for i, v in enumerate(values):
        try:
            out.append(date.fromisoformat(str(v)).isoformat())
        except ValueError:
            errors.append(FieldError(f"{field}.{i}", N_("Must be a date (YYYY-MM-DD)")))
    return sorted(set(out))


def _overrides(values: Any, errors: list[FieldError]) -> dict[str, Any]:
    """{type_code: {validity_max_h: number, certificates: {workers: [...], guardian: [...]}}}."""
    if not isinstance(values, dict):
        errors.append(FieldError("overrides", N_("Must be an object")))
        return {}
    out: dict[str, Any] = {}
    for code, spec in values.items():
        field = f"overrides.{code}"
        if types.get_type(str(code)) is None:
            errors.append(FieldError(field, N_("Unknown permit type; known: %(expected)s"),
                                     {"expected": ", ".join(types.all_types())}))
            continue
        if not isinstance(spec, dict) or set(spec) - {"validity_max_h", "certificates"}:
            errors.append(FieldError(field, N_("Allowed keys: %(expected)s"),
                                     {"expected": "validity_max_h, certificates"}))
            continue
        clean: dict[str, Any] = {}
        if "validity_max_h" in spec:
            v = spec["validity_max_h"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 24 * 31:
                errors.append(FieldError(f"{field}.validity_max_h", N_("Must be between %(min)s and %(max)s"),
                                         {"min": 0, "max": 24 * 31}))
            else:
                clean["validity_max_h"] = float(v)
        if "certificates" in spec:
            certs = spec["certificates"]
            if not isinstance(certs, dict) or set(certs) - {"workers", "guardian"} or not all(
                    isinstance(v, list) and all(isinstance(c, str) and 0 < len(c) <= 40 for c in v)
                    for v in certs.values()):
                errors.append(FieldError(f"{field}.certificates", N_("Give lists of certificate kind codes under "
                                                                     "workers and guardian")))
            else:
                clean["certificates"] = {k: list(v) for k, v in certs.items()}
        out[str(code)] = clean
    return out


def put_config(session: Session, actor: Actor, values: dict[str, Any]) -> PermitConfig:
    """Replace the settings: night window (HH:MM, plant time), extra holidays and working days
    (ISO dates on top of the statutory calendar), per-type overrides."""
    actor.require(Perm.MANAGE_PERMITS)
    errors: list[FieldError] = []
    for field in ("night_start", "night_end"):
        if not _HHMM.match(str(values.get(field, ""))):
            errors.append(FieldError(field, N_("Use the form HH:MM, e.g. 22:00")))
    holidays = _dates(values.get("holidays", []), "holidays", errors)
    workdays = _dates(values.get("workdays", []), "workdays", errors)
    both = sorted(set(holidays) & set(workdays))
    if both:
        errors.append(FieldError("workdays", N_("A day cannot be both a holiday and a working day: %(days)s"),
                                 {"days": ", ".join(both)}))
    if values.get("night_start") is not None and values.get("night_start") == values.get("night_end"):
        errors.append(FieldError("night_end", N_("The night cannot start and end at the same time")))
    overrides = _overrides(values.get("overrides", {}), errors)
    if errors:
        raise ValidationFailed(errors)
    row = session.scalars(select(PermitConfig).where(PermitConfig.enterprise_id == actor.enterprise_id)).first()
    if row is None:
        row = PermitConfig(enterprise_id=actor.enterprise_id)
        session.add(row)
    row.night_start, row.night_end = str(values["night_start"]), str(values["night_end"])
    row.holidays, row.workdays, row.overrides = holidays, workdays, overrides
    session.flush()
    return row
