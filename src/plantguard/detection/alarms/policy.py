"""Which timing applies to an alarm: the most specific policy that sets each value.

Precedence per setting, most specific first: the alarm's rule, its equipment, its kind, the
enterprise default, then the built-in values below. A NULL setting inherits, 0 switches the
behaviour off. Settings resolve one by one, so an override for one rule may change only its
escalation and keep the enterprise's auto-clear.

Why these built-in values: without any configuration a plant still gets the behaviour users
ask for on day one (reliable, repeating no-data alarms; no notification storm from a flapping
source), while nothing clears or escalates on its own before someone decides it should.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.detection.alarms.models import POLICY_FIELDS, AlarmPolicy
from plantguard.detection.alarms.schemas import PoliciesIn, PoliciesOut

BUILT_IN: dict[str, int] = {
    "auto_clear_after_s": 0,
    "escalate_after_s": 0,
    "downgrade_after_s": 0,
    "unack_escalate_after_s": 0,
    "throttle_s": 300,
    "no_data_after_s": 900,
    "repeat_no_data_s": 3600,
}


@dataclass(frozen=True)
class Effective:
    auto_clear_after_s: int
    escalate_after_s: int
    downgrade_after_s: int
    unack_escalate_after_s: int
    throttle_s: int
    no_data_after_s: int
    repeat_no_data_s: int


def scope_key(*, rule_id: int | None = None, equipment_id: int | None = None, kind: str | None = None) -> str:
    """The one scope a policy row describes ("default" when nothing is named)."""
    if rule_id is not None:
        return f"rule:{rule_id}"
    if equipment_id is not None:
        return f"equipment:{equipment_id}"
    if kind:
        return f"kind:{kind}"
    return "default"


class Policies:
    """An enterprise's policy rows, loaded once per batch or tick and resolved in memory."""

    def __init__(self, rows: Iterable[AlarmPolicy]) -> None:
        self.by_key: dict[str, AlarmPolicy] = {r.scope_key: r for r in rows}

    @classmethod
    def load(cls, session: Session, enterprise_id: int) -> Policies:
        return cls(session.scalars(select(AlarmPolicy).where(AlarmPolicy.enterprise_id == enterprise_id)))

    def resolve(self, *, rule_id: int | None = None, equipment_id: int | None = None,
                kind: str | None = None) -> Effective:
        chain: list[AlarmPolicy] = []
        for key in (f"rule:{rule_id}" if rule_id is not None else None,
                    f"equipment:{equipment_id}" if equipment_id is not None else None,
                    f"kind:{kind}" if kind else None, "default"):
            if key is not None and key in self.by_key:
                chain.append(self.by_key[key])
        values: dict[str, int] = {}
        for name in POLICY_FIELDS:
            value = next((getattr(p, name) for p in chain if getattr(p, name) is not None), None)
            values[name] = int(value) if value is not None else BUILT_IN[name]
        return Effective(**values)


# -- the service: reading and replacing an enterprise's policies --------------------------------------


def policies_out(session: Session, actor: Actor) -> PoliciesOut:
    actor.require(Perm.READ)
    rows = session.scalars(select(AlarmPolicy).where(AlarmPolicy.enterprise_id == actor.enterprise_id)
                           .order_by(AlarmPolicy.scope_key)).all()
    default: dict[str, int | None] = {f: None for f in POLICY_FIELDS}
    overrides: list[dict[str, Any]] = []
    for r in rows:
        values = {f: getattr(r, f) for f in POLICY_FIELDS}
        if r.scope_key == "default":
            default = values
        else:
            overrides.append({"rule_id": r.rule_id, "equipment_id": r.equipment_id, "kind": r.kind, **values})
    return PoliciesOut(default=default, overrides=overrides, built_in=dict(BUILT_IN))


def replace_policies(session: Session, actor: Actor, body: PoliciesIn) -> PoliciesOut:
    """The enterprise's whole policy set, as sent: rows not named any more are deleted, the
    others updated in place (so the change ledger shows what changed, not a delete and a create)."""
    actor.require(Perm.MANAGE_ALARM_POLICY)
    ent = actor.enterprise_id
    errors: list[FieldError] = []
    wanted: dict[str, tuple[dict[str, Any], dict[str, int | None]]] = {
        "default": ({"rule_id": None, "equipment_id": None, "kind": None}, body.default.model_dump())}
    for i, o in enumerate(body.overrides):
        named = [n for n in ("rule_id", "equipment_id", "kind") if getattr(o, n) is not None]
        if len(named) != 1:
            errors.append(FieldError(f"overrides.{i}", N_("Name exactly one of rule_id, equipment_id or kind")))
            continue
        if o.equipment_id is not None and session.scalar(select(Equipment.id).where(
                Equipment.id == o.equipment_id, Equipment.enterprise_id == ent)) is None:
            errors.append(FieldError(f"overrides.{i}.equipment_id", N_("No %(entity)s with this id"),
                                     {"entity": N_("Equipment")}))
            continue
        key = scope_key(rule_id=o.rule_id, equipment_id=o.equipment_id, kind=o.kind)
        if key in wanted:
            errors.append(FieldError(f"overrides.{i}", N_("Named twice")))
            continue
        values = o.model_dump(include=set(POLICY_FIELDS))
        wanted[key] = ({"rule_id": o.rule_id, "equipment_id": o.equipment_id, "kind": o.kind}, values)
    if errors:
        raise ValidationFailed(errors)
    existing = {r.scope_key: r for r in session.scalars(select(AlarmPolicy).where(AlarmPolicy.enterprise_id == ent))}
    for key, old in existing.items():
        if key not in wanted:
            session.delete(old)
    session.flush()
    for key, (scope, values) in wanted.items():
        row = existing.get(key)
        if row is None:
            session.add(AlarmPolicy(enterprise_id=ent, scope_key=key, **scope, **values))
        else:
            for name, value in values.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
    session.flush()
    return policies_out(session, actor)
