"""Detection rules as records: tenant-scoped CRUD, validation at save time, backtests.

Validation builds the same plan the engine runs (``spec.plan_rule``), against the points of the
caller's enterprise, so a rule that saves is a rule the stage can run; each refusal names its
field (``condition.any.1.detector``) and is translated where it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.crud import Ref, TenantCrud
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.detection.rules import history
from plantguard.detection.rules.engine import Engine
from plantguard.detection.rules.models import DetectionRule
from plantguard.detection.rules.schemas import AlarmSpan, BacktestOut, LeafSummary, SeriesOut, ValidateOut
from plantguard.detection.rules.spec import PointRef, RuleDef, RuleInvalid, RulePlan, Scope, plan_rule
from plantguard.detection.signals import ConditionSignal, Severity

MAX_BACKTEST_HOURS = 168
BACKTEST_PER_POINT = 100_000
CHART_POINTS = 2_000


# -- points and scopes ------------------------------------------------------------------------


def point_refs(session: Session, enterprise_ids: Iterable[int]) -> dict[int, list[PointRef]]:
    """Every measurement point of these enterprises, as rules see them, by enterprise."""
    ids = sorted(set(enterprise_ids))
    out: dict[int, list[PointRef]] = {e: [] for e in ids}
    if not ids:
        return out
    rows = session.execute(
        select(MeasurementPoint.enterprise_id, MeasurementPoint.id, MeasurementPoint.code,
               MeasurementPoint.equipment_id, MeasurementPoint.range_low, MeasurementPoint.range_high,
               MeasurementPoint.unit, MeasurementPoint.enabled)
        .where(MeasurementPoint.enterprise_id.in_(ids)).order_by(MeasurementPoint.code)).all()
    for ent, pid, code, eq, lo, hi, unit, enabled in rows:
        out[ent].append(PointRef(pid, code, eq, lo, hi, unit or "", bool(enabled)))
    return out


def scope_of(points: list[PointRef], point_id: int | None, equipment_id: int | None,
             equipment_code: str = "") -> Scope | None:
    """The points a rule scoped to ``point_id`` or ``equipment_id`` may use (None: scope gone)."""
    known = frozenset(p.code for p in points)
    if point_id is not None:
        own = [p for p in points if p.id == point_id]
        if not own:
            return None
        return Scope("point", own[0].code, {own[0].code: own[0]}, known)
    mine = {p.code: p for p in points if p.equipment_id == equipment_id}
    return Scope("equipment", equipment_code or str(equipment_id), mine, known)


def rule_def(obj: DetectionRule | Mapping[str, Any], rule_id: int = 0, enterprise_id: int = 0) -> RuleDef:
    get = obj.get if isinstance(obj, Mapping) else (lambda k, d=None: getattr(obj, k, d))
    return RuleDef(
        id=int(get("id") or rule_id), enterprise_id=int(get("enterprise_id") or enterprise_id),
        name=str(get("name") or ""), severity=Severity(get("severity") or Severity.WARNING),
        condition=get("condition") or {}, overrides=get("overrides") or {},
        point_id=get("point_id"), equipment_id=get("equipment_id"), enabled=bool(get("enabled", True)))


def plan_for(session: Session, actor: Actor, merged: Mapping[str, Any]) -> RulePlan:
    """The plan of a rule as it would be saved; ``ValidationFailed`` naming each bad field."""
    point_id, equipment_id = merged.get("point_id"), merged.get("equipment_id")
    if (point_id is None) == (equipment_id is None):
        raise ValidationFailed([FieldError("point_id", N_(
            "Choose either one measurement point or one equipment as the rule's scope"))])
    eq_code = ""
    if equipment_id is not None:
        eq_code = session.scalar(select(Equipment.code).where(
            Equipment.id == equipment_id, Equipment.enterprise_id == actor.enterprise_id)) or ""
        if not eq_code:
            raise ValidationFailed([FieldError("equipment_id", "No such %(entity)s", {"entity": N_("equipment")})])
    scope = scope_of(point_refs(session, [actor.enterprise_id])[actor.enterprise_id], point_id, equipment_id,
                     eq_code)
    if scope is None:
        raise ValidationFailed([FieldError("point_id", "No such %(entity)s", {"entity": N_("measurement point")})])
    try:
        return plan_rule(rule_def(merged, enterprise_id=actor.enterprise_id), scope)
    except RuleInvalid as exc:
        raise ValidationFailed(exc.errors) from None


def summary(plan: RulePlan) -> ValidateOut:
    return ValidateOut(valid=True, leaves=[
        LeafSummary(path=leaf.path, detector=leaf.detector, points=[p.code for p in leaf.points],
                    vector=leaf.vector, threshold=leaf.threshold, duration_s=leaf.channels[0].duration_s)
        for leaf in plan.leaves])


class DetectionRuleService(TenantCrud[DetectionRule]):
    model = DetectionRule
    entity_label = N_("Detection rule")
    write_perm = Perm.WRITE_DETECTION
    refs = (Ref("point_id", MeasurementPoint, N_("measurement point")), Ref("equipment_id", Equipment, N_("equipment")))
    unique_fields = ("name",)
    search_fields = ("name", "description")
    default_order = ("name",)

    def validate(self, session: Session, actor: Actor, merged: dict[str, Any], obj: DetectionRule | None) -> None:
        plan_for(session, actor, merged)

    def apply(self, session: Session, obj: DetectionRule, values: dict[str, Any]) -> None:
        if isinstance(values.get("severity"), Severity):
            values = {**values, "severity": values["severity"].value}
        super().apply(session, obj, values)

    def check(self, session: Session, actor: Actor, values: dict[str, Any]) -> ValidateOut:
        """Validate a rule without saving it (the console's editor, ``POST .../validate``)."""
        actor.require(Perm.READ)
        self.check_refs(session, actor, values)
        return summary(plan_for(session, actor, values))

    def backtest(self, session: Session, actor: Actor, ident: int, hours: float,
                 now: datetime | None = None) -> BacktestOut:
        """Run the rule, with the live engine, over the stored history of its points."""
        rule = self.get(session, actor, ident)
        if not 0 < hours <= MAX_BACKTEST_HOURS:
            raise ValidationFailed([FieldError("hours", N_("Must be between %(min)s and %(max)s"),
                                               {"min": 1, "max": MAX_BACKTEST_HOURS})])
        plan = plan_for(session, actor, {c.key: getattr(rule, c.key) for c in rule.__table__.columns})
        end = now or datetime.now(UTC)
        start = end - timedelta(hours=hours)
        rows, truncated = history.read(session, plan.points, _us(start), _us(end), per_point=BACKTEST_PER_POINT)
        return run_backtest(plan, rows, start, end, truncated)


def _us(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def run_backtest(plan: RulePlan, rows: list[tuple[int, float, float]], start: datetime, end: datetime,
                 truncated: bool = False) -> BacktestOut:
    engine = Engine(refresh_s=math.inf)  # transitions only: a backtest asks "when", not "how often"
    engine.set_rule(plan)
    signals: list[ConditionSignal] = []
    for i in range(0, len(rows), 10_000):
        signals += engine.feed(plan.rule.enterprise_id, rows[i:i + 10_000])
    spans: list[AlarmSpan] = []
    for s in signals:
        if s.active:
            spans.append(AlarmSpan(start=s.ts, end=None, max_score=s.score, explanation=dict(s.explanation)))
        elif spans and spans[-1].end is None:
            spans[-1].end = s.ts
    by_point: dict[int, list[tuple[float, float]]] = {}
    for pid, t, v in rows:
        by_point.setdefault(pid, []).append((t, v))
    series = []
    for pid, p in plan.points.items():
        pts = by_point.get(pid, [])
        step = max(1, math.ceil(len(pts) / CHART_POINTS))
        pts = pts[::step]
        series.append(SeriesOut(code=p.code, unit=p.unit, ts=[round(t * 1000) for t, _ in pts],
                                value=[v for _, v in pts]))
    return BacktestOut(rule_id=plan.rule.id, start=start, end=end, readings=len(rows), truncated=truncated,
                       alarms=spans, signals=[s.to_dict() for s in signals], series=series)


detection_rule_service = DetectionRuleService()
