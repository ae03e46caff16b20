"""Generate the default permit approval processes (BPMN 2.0) from ``permits/data/types.yaml``.

Why generated: the approver chain of every type and grade is data (Table B.1 in types.yaml);
writing fifteen diagrams by hand invites a chain that disagrees with the data. The output is
committed (``src/plantguard/permits/bpmn/*.bpmn``) and is what the product runs; this script is
only re-run when types.yaml changes. Each file carries its diagram (BPMN DI), so an enterprise
can open it in a BPMN modeler (bpmn.io, Camunda Modeler), change it and upload it.

Shape of every process ``permit_<type>_<grade>``:

- one lane per approver role; **the lane's name is the role code** (types.yaml
  ``approver_roles``) — that is how a user task names who signs it;
- countersigns (excavation §11, road closure §12) start together after a parallel gateway and
  meet at a parallel join before the approver;
- after each user task an exclusive gateway: ``approved == True`` goes on, the default flow
  ends the process at a terminate end event ``rejected_<role>`` (a refusal stops the parallel
  branches too); the last approval reaches the end event ``approved``.

Usage: ``python scripts/permit_bpmn.py`` (writes) or ``--check`` (exit 1 if a file differs).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from plantguard.permits import types  # noqa: E402

OUT = ROOT / "src" / "plantguard" / "permits" / "bpmn"

LANE_H = 140
TASK_W, TASK_H = 110, 80
EV = 36
GW = 50
STEP = 170
LEFT = 30  # the pool's label band
APPROVED = "approved == True"


@dataclass
class Node:
    id: str
    kind: str  # startEvent | userTask | exclusiveGateway | parallelGateway | endEvent
    lane: str
    col: int
    name: str = ""
    terminate: bool = False
    default: str = ""
    dy: int = 0  # offset within the lane (rejected ends sit below)


@dataclass
class Flow:
    id: str
    source: str
    target: str
    condition: str = ""
    name: str = ""


@dataclass
class Process:
    id: str
    name: str
    lanes: list[str] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def flow(self, source: str, target: str, condition: str = "", name: str = "") -> Flow:
        f = Flow(f"flow_{len(self.flows) + 1}", source, target, condition, name)
        self.flows.append(f)
        return f


def task_id(role: str) -> str:
    kind = types.approver_roles()[role].get("kind", "approval")
    return f"countersign_{role}" if kind == "countersign" else f"approve_{role}"


def task_name(role: str) -> str:
    spec = types.approver_roles()[role]
    if spec.get("kind") == "countersign":
        return str(spec["name"])
    return f"{spec['name']}审批"


def _sign(p: Process, role: str, col: int, source: str) -> str:
    """User task + its decision gateway + the refusal end; returns the gateway id (the caller
    wires the approved flow on from it)."""
    t = Node(task_id(role), "userTask", role, col, task_name(role))
    g = Node(f"decision_{role}", "exclusiveGateway", role, col + 1, "批准？")
    end = Node(f"rejected_{role}", "endEvent", role, col + 1, "未批准", terminate=True, dy=45)
    p.nodes += [t, g, end]
    if source.startswith("decision_"):
        p.flow(source, t.id, APPROVED, "是")
    else:
        p.flow(source, t.id)
    p.flow(t.id, g.id)
    g.default = p.flow(g.id, end.id, name="否").id
    return g.id


def build(type_code: str, grade: types.Grade, countersigns: list[str]) -> Process:
    t = types.get_type(type_code)
    assert t is not None
    label = t.name if grade.code == "none" else f"{t.name}（{grade.name}）"
    p = Process(f"permit_{type_code}_{grade.code}", f"{label}审批")
    chain = list(grade.approvers)
    p.lanes = [*countersigns, *chain]
    p.nodes.append(Node("start", "startEvent", p.lanes[0], 0, "提交审批"))
    source, col = "start", 1
    if countersigns:
        split = Node("countersign_split", "parallelGateway", p.lanes[0], col, "会签")
        join = Node("countersign_join", "parallelGateway", chain[0], col + 3, "")
        p.nodes += [split, join]
        p.flow(source, split.id)
        for role in countersigns:
            p.flow(_sign(p, role, col + 1, split.id), join.id, APPROVED, "是")
        source, col = join.id, col + 4
    for role in chain:
        source = _sign(p, role, col, source)
        col += 2
    p.nodes.append(Node("approved", "endEvent", chain[-1], col, "已批准"))
    p.flow(source, "approved", APPROVED, "是")
    return p


def _center(p: Process, n: Node) -> tuple[float, float]:
    lane_y = p.lanes.index(n.lane) * LANE_H
    x = LEFT + 60 + n.col * STEP
    y = lane_y + LANE_H / 2 + n.dy
    return x, y


def _bounds(p: Process, n: Node) -> tuple[float, float, float, float]:
    x, y = _center(p, n)
    w, h = {"userTask": (TASK_W, TASK_H), "exclusiveGateway": (GW, GW), "parallelGateway": (GW, GW)}.get(
        n.kind, (EV, EV))
    if n.dy:  # a refusal end sits below its gateway
        return x - w / 2, y + 5, w, h
    return x - w / 2, y - h / 2, w, h


def render(p: Process) -> str:
    width = LEFT + 60 + (max(n.col for n in p.nodes) + 1) * STEP
    height = LANE_H * len(p.lanes)
    roles = types.approver_roles()
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
           'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
           'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
           f'id="definitions_{p.id}" targetNamespace="https://plantguard.example/bpmn/permits" '
           'exporter="plantguard scripts/permit_bpmn.py" exporterVersion="1">',
           '  <!-- Generated from permits/data/types.yaml by scripts/permit_bpmn.py: regenerate, do not '
           'edit. A lane\'s name is the approver role code (types.yaml approver_roles). -->',
           f'  <bpmn:collaboration id="collaboration_{p.id}">',
           f'    <bpmn:participant id="participant_{p.id}" name={quoteattr(p.name)} processRef="{p.id}" />',
           '  </bpmn:collaboration>',
           f'  <bpmn:process id="{p.id}" name={quoteattr(p.name)} isExecutable="true">',
           '    <bpmn:laneSet id="lanes">']
    for lane in p.lanes:
        out.append(f'      <bpmn:lane id="lane_{lane}" name="{lane}">')
        out.append(f'        <bpmn:documentation>{roles[lane]["name"]} / {roles[lane]["name_en"]}'
                   '</bpmn:documentation>')
        out += [f'        <bpmn:flowNodeRef>{n.id}</bpmn:flowNodeRef>' for n in p.nodes if n.lane == lane]
        out.append('      </bpmn:lane>')
    out.append('    </bpmn:laneSet>')
    for n in p.nodes:
        attrs = f'id="{n.id}" name={quoteattr(n.name)}'
        if n.default:
            attrs += f' default="{n.default}"'
        inc = [f'      <bpmn:incoming>{f.id}</bpmn:incoming>' for f in p.flows if f.target == n.id]
        outg = [f'      <bpmn:outgoing>{f.id}</bpmn:outgoing>' for f in p.flows if f.source == n.id]
        body = inc + outg
        if n.terminate:
            body.append(f'      <bpmn:terminateEventDefinition id="terminate_{n.id}" />')
        out.append(f'    <bpmn:{n.kind} {attrs}>')
        out += body
        out.append(f'    </bpmn:{n.kind}>')
    for f in p.flows:
        name = f' name={quoteattr(f.name)}' if f.name else ""
        if f.condition:
            out.append(f'    <bpmn:sequenceFlow id="{f.id}"{name} sourceRef="{f.source}" targetRef="{f.target}">')
            out.append(f'      <bpmn:conditionExpression>{f.condition}</bpmn:conditionExpression>')
            out.append('    </bpmn:sequenceFlow>')
        else:
            out.append(f'    <bpmn:sequenceFlow id="{f.id}"{name} sourceRef="{f.source}" targetRef="{f.target}" />')
    out.append('  </bpmn:process>')
    out.append(f'  <bpmndi:BPMNDiagram id="diagram_{p.id}">')
    out.append(f'    <bpmndi:BPMNPlane id="plane_{p.id}" bpmnElement="collaboration_{p.id}">')
    out.append(f'      <bpmndi:BPMNShape id="participant_{p.id}_di" bpmnElement="participant_{p.id}" '
               'isHorizontal="true">')
    out.append(f'        <dc:Bounds x="0" y="0" width="{width}" height="{height}" />')
    out.append('      </bpmndi:BPMNShape>')
    for i, lane in enumerate(p.lanes):
        out.append(f'      <bpmndi:BPMNShape id="lane_{lane}_di" bpmnElement="lane_{lane}" isHorizontal="true">')
        out.append(f'        <dc:Bounds x="{LEFT}" y="{i * LANE_H}" width="{width - LEFT}" height="{LANE_H}" />')
        out.append('      </bpmndi:BPMNShape>')
    for n in p.nodes:
        x, y, w, h = _bounds(p, n)
        marker = ' isMarkerVisible="true"' if n.kind == "exclusiveGateway" else ""
        out.append(f'      <bpmndi:BPMNShape id="{n.id}_di" bpmnElement="{n.id}"{marker}>')
        out.append(f'        <dc:Bounds x="{x:g}" y="{y:g}" width="{w}" height="{h}" />')
        out.append('      </bpmndi:BPMNShape>')
    for f in p.flows:
        sx, sy, sw, sh = _bounds(p, p.node(f.source))
        tx, ty, tw, th = _bounds(p, p.node(f.target))
        start = (sx + sw, sy + sh / 2)
        end = (tx, ty + th / 2)
        if p.node(f.target).dy:  # down to the refusal end
            start, end = (sx + sw / 2, sy + sh), (tx + tw / 2, ty)
        points = [start]
        if abs(start[1] - end[1]) > 1 and not p.node(f.target).dy:
            mid = (start[0] + end[0]) / 2
            points += [(mid, start[1]), (mid, end[1])]
        points.append(end)
        out.append(f'      <bpmndi:BPMNEdge id="{f.id}_di" bpmnElement="{f.id}">')
        out += [f'        <di:waypoint x="{px:g}" y="{py:g}" />' for px, py in points]
        out.append('      </bpmndi:BPMNEdge>')
    out += ['    </bpmndi:BPMNPlane>', '  </bpmndi:BPMNDiagram>', '</bpmn:definitions>', '']
    return "\n".join(out)


def processes() -> list[Process]:
    out = []
    for t in types.all_types().values():
        countersigns = list((t.raw.get("countersign") or {}).get("roles") or [])
        out += [build(t.code, g, countersigns) for g in t.grades]
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for p in processes():
        path = OUT / f"{p.id}.bpmn"
        text = render(p)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(path.relative_to(ROOT))
    if stale:
        print("out of date (run scripts/permit_bpmn.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
