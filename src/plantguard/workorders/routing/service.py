"""Routing rule sets as records: validate, save a new version, list versions, try.

Validation is everything a rule set must pass before it may route: it parses (``spec``), it
can work (``analysis``: no contradiction, no dead branch, no shadowed rule) and it points at
things that exist in the caller's enterprise (team codes, accounts). A refused rule set is
never stored, so the version in force stays in force. Every refusal is a ``FieldError`` whose
message names the rule and whose field is the path inside the document.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plantguard.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy.models import Team, User
from plantguard.workorders.contract import RoutingDecision
from plantguard.workorders.routing.analysis import analyse
from plantguard.workorders.routing.engine import CompiledRuleSet, Step, check_facts
from plantguard.workorders.routing.models import RoutingRuleSet
from plantguard.workorders.routing.spec import Outcome, RuleSet, load_text, parse

ENTITY = N_("Routing rule set")
# A stored version never changes; the key also carries what identifies the row beyond its id,
# so a database that was reset or restored (ids reused) never meets another's compiled rules.
_CACHE: OrderedDict[tuple[Any, ...], CompiledRuleSet] = OrderedDict()
_CACHE_SIZE = 256


def check_document(session: Session, enterprise_id: int, doc: Any) -> tuple[RuleSet | None, list[FieldError]]:
    """Everything but YAML parsing: format, static analysis, references into the tenant."""
    rs, errors = parse(doc)
    if rs is None:
        return None, errors
    errors = analyse(rs)
    teams = set(session.scalars(select(Team.code).where(Team.enterprise_id == enterprise_id)))
    users = set(session.scalars(select(User.username).where(User.enterprise_id == enterprise_id,
                                                             User.active.is_(True))))
    outcomes: list[tuple[str, str, Outcome]] = [(r.name, f"rules.{r.index}.then", r.then) for r in rs.rules]
    outcomes.append(("default", "default", rs.default))
    for name, path, out in outcomes:
        if out.team not in teams:
            errors.append(FieldError(f"{path}.team", N_("Rule “%(rule)s”: unknown team “%(team)s”"),
                                     {"rule": name, "team": out.team}))
        if out.assignee is not None and out.assignee not in users:
            errors.append(FieldError(f"{path}.assignee", N_("Rule “%(rule)s”: no active account “%(name)s” in "
                                                            "this enterprise"), {"rule": name, "name": out.assignee}))
    return (rs if not errors else None), errors


def check_source(session: Session, enterprise_id: int, source: str) -> tuple[RuleSet | None, list[FieldError]]:
    doc, errors = load_text(source)
    if errors:
        return None, errors
    return check_document(session, enterprise_id, doc)


def compiled(row: RoutingRuleSet) -> CompiledRuleSet:
    """The compiled rule set of a stored version (cached: a version never changes)."""
    key = (row.id, row.enterprise_id, row.version, row.created_at)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    rs, errors = parse(row.spec)
    if rs is None:  # cannot happen for a row saved through this service
        raise ValidationFailed(errors)
    out = CompiledRuleSet(rs, row.version)
    _CACHE[key] = out
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out


def current_row(session: Session, enterprise_id: int) -> RoutingRuleSet | None:
    return session.scalars(select(RoutingRuleSet).where(RoutingRuleSet.enterprise_id == enterprise_id)
                           .order_by(RoutingRuleSet.version.desc()).limit(1)).first()


@dataclass
class TryResult:
    decision: RoutingDecision
    steps: list[Step]
    facts: dict[str, Any]
    version: int | None


class RoutingService:
    def validate(self, session: Session, actor: Actor, source: str) -> RuleSet:
        actor.require(Perm.MANAGE_ROUTING)
        rs, errors = check_source(session, actor.enterprise_id, source)
        if rs is None:
            raise ValidationFailed(errors)
        return rs

    def save(self, session: Session, actor: Actor, source: str, comment: str = "") -> RoutingRuleSet:
        """A new version, or ``ValidationFailed`` (nothing stored). The caller commits."""
        rs = self.validate(session, actor, source)
        last = session.scalar(select(func.max(RoutingRuleSet.version)).where(
            RoutingRuleSet.enterprise_id == actor.enterprise_id)) or 0
        row = RoutingRuleSet(enterprise_id=actor.enterprise_id, version=last + 1, source=source,
                             spec=dict(rs.doc), comment=comment, author_id=actor.user_id or None,
                             author=actor.username)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            raise Conflict(N_("Someone saved another version at the same time; reload and try again")) from None
        return row

    def versions(self, session: Session, actor: Actor, limit: int = 100) -> list[RoutingRuleSet]:
        actor.require(Perm.READ)
        return list(session.scalars(select(RoutingRuleSet).where(
            RoutingRuleSet.enterprise_id == actor.enterprise_id).order_by(RoutingRuleSet.version.desc())
            .limit(limit)))

    def current(self, session: Session, actor: Actor) -> RoutingRuleSet:
        actor.require(Perm.READ)
        row = current_row(session, actor.enterprise_id)
        if row is None:
            raise NotFound(ENTITY)
        return row

    def version(self, session: Session, actor: Actor, version: int) -> RoutingRuleSet:
        actor.require(Perm.READ)
        row = session.scalar(select(RoutingRuleSet).where(RoutingRuleSet.enterprise_id == actor.enterprise_id,
                                                          RoutingRuleSet.version == version))
        if row is None:
            raise NotFound(ENTITY, version)
        return row

    def try_route(self, session: Session, actor: Actor, facts: Mapping[str, Any] | None = None,
                  alarm_id: int | None = None, source: str | None = None) -> TryResult:
        """What the rules in force (or the draft ``source``) would decide, and why."""
        actor.require(Perm.MANAGE_ROUTING)
        given, errors = check_facts(facts or {})
        if alarm_id is not None:
            given = {**self._alarm_facts(session, actor, alarm_id), **given}
        if errors:
            raise ValidationFailed(errors)
        if source is not None:
            rs = self.validate(session, actor, source)
            crs, version = CompiledRuleSet(rs), None
        else:
            row = current_row(session, actor.enterprise_id)
            if row is None:
                raise NotFound(ENTITY)
            crs, version = compiled(row), row.version
        decision, steps = crs.trace(given)
        return TryResult(decision, steps, given, version)

    def _alarm_facts(self, session: Session, actor: Actor, alarm_id: int) -> dict[str, Any]:
        from plantguard.detection.alarms.models import Alarm
        from plantguard.workorders.from_alarms import facts_for

        alarm = session.scalar(select(Alarm).where(Alarm.id == alarm_id, Alarm.enterprise_id == actor.enterprise_id))
        if alarm is None:
            raise NotFound(N_("Alarm"), alarm_id)
        # The facts as they were when the alarm was raised (its shift, its time of day).
        facts, _errors = check_facts(facts_for(session, alarm, alarm.first_active_at or datetime.now(UTC)))
        return facts


routing_service = RoutingService()
