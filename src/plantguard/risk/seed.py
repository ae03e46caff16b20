"""Loading a register from a YAML-shaped structure (the demo seeder, imports of existing
registers). Goes through the services, so every rule of the register applies: values outside
their tables, unknown areas or accident types are refused with the same field errors.

Shape (references by code; everything but ``code``, ``name`` and ``area`` optional)::

    methods: {lec: A, ls: V1}            # shipped variants to select first
    points:
      - code: RP-STAMP-01
        name: 冲压机
        kind: equipment                  # area | equipment | job
        area: STAMP                      # area code
        equipment: PRESS-01              # equipment code
        job: 冲压作业
        responsible_level: team          # company | workshop | team | post
        team: T-STAMP                    # team code
        assessments: [{method: ls, values: {L: 2, S: 3}}]     # of the point as a whole
        sources:
          - name: 模具区域
            consequences: [machinery]
            measures: [{kind: engineering, description: 双手按钮与光幕}]
            assessments: [{method: lec, values: {L: 3, E: 6, C: 7}, note: "", at: 2026-01-05T08:00:00Z}]

A point whose code already exists is skipped (loading twice changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.risk import config, service
from plantguard.risk.models import RiskPoint
from plantguard.tenancy.models import Area, Team


@dataclass
class Loaded:
    points: int = 0
    skipped: int = 0
    sources: int = 0
    measures: int = 0
    assessments: int = 0


def _code_map(session: Session, model: Any, enterprise_id: int) -> dict[str, int]:
    return {c: int(i) for i, c in session.execute(select(model.id, model.code).where(
        model.enterprise_id == enterprise_id))}


def _at(raw: Any) -> datetime | None:
    if raw is None or isinstance(raw, datetime):
        return raw
    return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))


def load_register(session: Session, actor: Actor, data: dict[str, Any]) -> Loaded:
    """Create the points, sources, measures and assessments of ``data`` in the caller's
    enterprise; the caller commits (nothing is half-written if it raises and rolls back)."""
    actor.require(Perm.MANAGE_RISK)
    ent = actor.enterprise_id
    for method, variant in (data.get("methods") or {}).items():
        config.save(session, actor, str(method), variant=str(variant), spec=None, comment="seed")
    areas = _code_map(session, Area, ent)
    equipment = _code_map(session, Equipment, ent)
    teams = _code_map(session, Team, ent)
    existing = set(session.scalars(select(RiskPoint.code).where(RiskPoint.enterprise_id == ent)))
    out = Loaded()
    for i, p in enumerate(data.get("points") or []):
        if p["code"] in existing:
            out.skipped += 1
            continue
        refs = {"area_id": (areas, p.get("area")), "equipment_id": (equipment, p.get("equipment")),
                "responsible_team_id": (teams, p.get("team"))}
        values: dict[str, Any] = {k: p[k] for k in ("code", "name", "kind", "description", "job",
                                                    "responsible_level") if k in p}
        for field, (table, code) in refs.items():
            if code is None:
                continue
            if code not in table:
                raise ValidationFailed([FieldError(f"points.{i}.{field.removesuffix('_id')}",
                                                   N_("%(entity)s not found"), {"entity": str(code)})])
            values[field] = table[code]
        point = service.create_point(session, actor, values)
        existing.add(point.code)
        out.points += 1
        for a in p.get("assessments") or []:
            service.assess(session, actor, point.id, {"method": a["method"], "values": a["values"],
                                                      "note": a.get("note", "")}, now=_at(a.get("at")))
            out.assessments += 1
        for s in p.get("sources") or []:
            src = service.create_source(session, actor, point.id, {
                "name": s["name"], "description": s.get("description", ""),
                "consequences": list(s.get("consequences") or [])})
            out.sources += 1
            for m in s.get("measures") or []:
                service.create_measure(session, actor, src.id, {"kind": m["kind"], "description": m["description"]})
                out.measures += 1
            for a in s.get("assessments") or []:
                service.assess(session, actor, point.id, {"method": a["method"], "values": a["values"],
                                                          "hazard_source_id": src.id, "note": a.get("note", "")},
                               now=_at(a.get("at")))
                out.assessments += 1
    return out
