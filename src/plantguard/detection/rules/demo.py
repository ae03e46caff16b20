"""Detection rules for the demo plant, seeded where the simulator's devices are imported.

The rules are derived from the plant (the equipment each simulated fault hits by default, and
each point's own limits), not from hard-coded codes, so they follow plant.yaml. Seeding is
idempotent by rule name and never overwrites a rule someone has edited.

- micro-leak: a trend on the press's protection pressure towards its ``low_alarm`` (the
  configuration of tests/detection/test_leak_scenario.py, with the window in seconds of the
  simulator's 1 s polling: ten minutes of trajectory);
- gas: a fixed limit at the detector's ``high_warning`` held for 10 s;
- bearing: a robust z-score on the fan's vibration;
- an OR combination on the press: pressure trend or oil temperature above its warning;
- a multivariate rule on the fan's vibration and bearing temperature when a ``multivariate``
  detector is registered (skipped otherwise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.core.errors import ValidationFailed
from plantguard.core.permissions import Actor
from plantguard.detection import registry
from plantguard.detection.rules.models import DetectionRule
from plantguard.detection.rules.schemas import RuleCreate
from plantguard.detection.rules.service import detection_rule_service
from plantguard.simulator.faults import BEARING_WEAR, GAS_LEAK, MICRO_LEAK, default_target
from plantguard.simulator.plant import Plant, SimEquipment, SimPoint

log = logging.getLogger("plantguard.detection")


@dataclass
class DemoRulesSummary:
    created: list[str]
    existing: list[str]
    skipped: list[str]


def _first(eq: SimEquipment | None, pred: Any) -> SimPoint | None:
    return next((p for p in eq.points if pred(p)), None) if eq is not None else None


def leak_trend(hp: SimPoint) -> dict[str, Any]:
    """The leak-scenario configuration: warn when the extrapolated crossing of ``low_alarm`` is
    about half an hour away, after a minute of agreement."""
    return {"detector": "trend", "points": [hp.code],
            "params": {"limit": hp.low_alarm, "direction": "low", "window": 600, "min_samples": 60,
                       "horizon_s": 1800.0, "max_gap_s": 60.0},
            "threshold": 0.5, "duration_s": 60, "clear_duration_s": 120}


def demo_rules(plant: Plant) -> list[dict[str, Any]]:
    """The demo rules as ``RuleCreate`` fields, with ``equipment``/``point`` codes for the scope."""
    rules: list[dict[str, Any]] = []
    press = plant.equipment_of(default_target(plant, MICRO_LEAK))
    hp = _first(press, lambda p: p.quantity == "pressure" and p.low_alarm is not None)
    if press is not None and hp is not None:
        rules.append({"name": f"{hp.name}下降趋势（微泄漏预警）", "severity": "major", "point": hp.code,
                      "condition": leak_trend(hp),
                      "description": "Trend of the protection pressure towards its low alarm (预计 N 分钟后超限)."})
        oil = _first(press, lambda p: p.quantity == "temperature" and p.high_warning is not None)
        if oil is not None:
            rules.append({"name": f"{press.name}液压异常（压力趋势或油温）", "severity": "minor",
                          "equipment": press.code,
                          "condition": {"any": [leak_trend(hp), {
                              "detector": "threshold", "points": [oil.code], "duration_s": 60,
                              "params": {"conditions": [{"signal": "value", "direction": "high",
                                                         "limit": oil.high_warning, "deadband": 2.0}]}}]},
                          "description": "OR combination: pressure falling towards its low alarm, or hot oil."})
    gas_eq = plant.equipment_of(default_target(plant, GAS_LEAK))
    lel = _first(gas_eq, lambda p: p.quantity == "gas_lel" and p.high_warning is not None)
    if lel is not None:
        rules.append({"name": f"{lel.name}超限", "severity": "critical", "point": lel.code,
                      "condition": {"detector": "threshold", "duration_s": 10, "clear_duration_s": 30,
                                    "params": {"conditions": [{"signal": "value", "direction": "high",
                                                               "limit": lel.high_warning, "deadband": 1.0}]}},
                      "description": "Fixed limit at the warning level, held for 10 s."})
    fan = plant.equipment_of(default_target(plant, BEARING_WEAR))
    vib = _first(fan, lambda p: p.quantity == "vibration")
    if fan is not None and vib is not None:
        rules.append({"name": f"{vib.name}异常（稳健 z 分数）", "severity": "minor", "equipment": fan.code,
                      "condition": {"detector": "robust_z", "points": [vib.code], "duration_s": 30,
                                    "clear_duration_s": 60, "off_threshold": 0.4,
                                    "params": {"window": 600, "min_samples": 120, "threshold": 6.0,
                                               "floor": 0.05}},
                      "description": "Vibration far outside its recent spread (median/MAD), for 30 s."})
        if "multivariate" in registry.available():
            codes = [p.code for p in fan.points if p.quantity in ("vibration", "temperature")]
            rules.append({"name": f"{fan.name}多变量异常", "severity": "minor", "equipment": fan.code,
                          "condition": {"detector": "multivariate", "points": codes, "duration_s": 60},
                          "description": "All the fan's vibration and temperature points as one vector."})
    return rules


def seed_demo_rules(session: Session, actor: Actor, plant: Plant) -> DemoRulesSummary:
    """Create the demo rules that do not exist yet (by name). The caller commits."""
    out = DemoRulesSummary([], [], [])
    existing = set(session.scalars(select(DetectionRule.name).where(
        DetectionRule.enterprise_id == actor.enterprise_id)))
    for spec in demo_rules(plant):
        name = spec["name"]
        if name in existing:
            out.existing.append(name)
            continue
        scope: dict[str, Any] = {}
        if "point" in spec:
            scope["point_id"] = session.scalar(select(MeasurementPoint.id).where(
                MeasurementPoint.enterprise_id == actor.enterprise_id, MeasurementPoint.code == spec["point"]))
        else:
            scope["equipment_id"] = session.scalar(select(Equipment.id).where(
                Equipment.enterprise_id == actor.enterprise_id, Equipment.code == spec["equipment"]))
        if None in scope.values():
            out.skipped.append(name)
            continue
        fields = {k: v for k, v in spec.items() if k not in ("point", "equipment")}
        try:
            with session.begin_nested():
                detection_rule_service.create(session, actor, RuleCreate.model_validate({**fields, **scope}))
        except ValidationFailed as exc:  # e.g. a multivariate detector with other parameters
            log.warning("demo rule %s not created: %s", name, [(e.field, e.message, e.params) for e in exc.errors])
            out.skipped.append(name)
            continue
        out.created.append(name)
    return out
