"""The demo plant's routing rules, seeded where the demo detection rules are seeded.

Team codes are the demo plant's (``demo/plant.yaml``): gas on the painting line goes to the
painting team on shift with P1 (PT1 by day, PT2 at night; they hold the 气体检测 skill);
stamping equipment goes to the maintenance team MNT (设备维修班: hydraulics and mechanics,
which a pressure leak on a press needs); anything else at night to the round-the-clock
utilities team UTL; everything else to the safety department EHS.

Idempotent: nothing is saved when the enterprise already has a rule set (someone may have
edited it), and a demo whose teams are missing gets no rule set rather than an invalid one.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from plantguard.core.errors import ValidationFailed
from plantguard.core.permissions import Actor
from plantguard.workorders.routing.models import RoutingRuleSet
from plantguard.workorders.routing.service import current_row, routing_service

log = logging.getLogger("plantguard.routing")

DEMO_RULES = """\
# 演示工厂的派单规则：自上而下，第一条匹配的规则生效；都不匹配时用 default。
rules:
  - name: 涂装气体报警（夜班）
    description: 涂装车间、调漆间的可燃/有毒气体报警，夜班由涂装二班处置
    when:
      all:
        - {field: area_code, op: in, value: [PT, PM]}
        - {field: quantity, op: in, value: [gas_lel, gas_h2s, gas_co, gas_o2]}
        - any:
            - {field: shift, op: eq, value: night}
            - {field: time_of_day, op: between, value: ["22:00", "06:00"]}
    then: {team: PT2, priority: p1, skills: [气体检测]}
  - name: 涂装气体报警
    description: 白班、中班由涂装一班处置
    when:
      all:
        - {field: area_code, op: in, value: [PT, PM]}
        - {field: quantity, op: in, value: [gas_lel, gas_h2s, gas_co, gas_o2]}
    then: {team: PT1, priority: p1, skills: [气体检测]}
  - name: 冲压设备报警
    description: 冲压车间压力机、液压机、落料线的设备报警交设备维修班
    when:
      all:
        - {field: area_code, op: eq, value: ST}
        - {field: equipment_type, op: in, value: [stamping_press, hydraulic_press, blanking_line]}
        - not: {field: severity, op: eq, value: warning}
    then: {team: MNT, priority: p2, skills: [液压维修]}
  - name: 夜班值班
    description: 其余夜班报警交全天候值班的动力班
    when: {field: shift, op: eq, value: night}
    then: {team: UTL, priority: p2}
default: {team: EHS, priority: p3}
"""


def seed_demo_routing(session: Session, actor: Actor) -> RoutingRuleSet | None:
    """Save the demo rule set as version 1 unless the enterprise has one. The caller commits."""
    existing = current_row(session, actor.enterprise_id)
    if existing is not None:
        return None
    try:
        return routing_service.save(session, actor, DEMO_RULES, comment="demo")
    except ValidationFailed as exc:
        log.warning("demo routing rules not saved: %s", [(e.field, e.message, e.params) for e in exc.errors])
        return None
