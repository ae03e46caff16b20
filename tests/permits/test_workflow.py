"""The approval engine: the shipped BPMN files (one per type and grade, valid BPMN 2.0, lanes =
Table B.1 chains, up to date with their generator), what an upload may not be (not XML, an
entity bomb, a DOCTYPE, the wrong process id, an unknown lane, a script task, a condition that
is code, no user task, a dead end), conditions evaluated without eval, the parse cache, and the
workflow persisting in the database across a "restart" (every cache and parser object
dropped, a new session) and finishing there."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import select

from plantguard.core.errors import ValidationFailed
from plantguard.permits import approvals, service, types, workflow
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit, PermitWorkflow
from tests.permits.conftest import World
from tests.permits.factories import DAY, make_permit

ROOT = Path(__file__).resolve().parents[2]
NS = {"bpmn": workflow.BPMN_NS}


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), (20, 20, 20)).save(buf, "PNG")
    return buf.getvalue()


def chain_of(type_code: str, grade: str) -> list[str]:
    """Table B.1 as types.yaml gives it: countersigns (in parallel) first, then the approvers."""
    t = types.get_type(type_code)
    assert t is not None
    g = t.grade(grade)
    assert g is not None
    return [*((t.raw.get("countersign") or {}).get("roles") or []), *g.approvers]


def refusal(xml: str, process_id: str = "permit_hot_work_second") -> str:
    with pytest.raises(ValidationFailed) as exc:
        workflow.parse(xml, process_id)
    err = exc.value.errors[0]
    assert err.field == "bpmn_xml"
    return err.message % err.params


def default(process_id: str = "permit_hot_work_second") -> str:
    xml = workflow.default_xml(process_id)
    assert xml is not None
    return xml


def test_fifteen_shipped_processes_follow_table_b1() -> None:
    ids = workflow.default_ids()
    assert len(ids) == 15 and len(set(ids)) == 15
    files = sorted(p.stem for p in (ROOT / "src/plantguard/permits/bpmn").glob("*.bpmn"))
    assert files == sorted(ids)
    for pid in ids:
        type_code, grade = workflow.type_and_grade(pid) or ("", "")
        root = etree.fromstring(default(pid).encode())
        lanes = {r.text: lane.get("name") for lane in root.iterfind(".//bpmn:lane", NS)
                 for r in lane.iterfind("bpmn:flowNodeRef", NS)}
        tasks = [t.get("id") for t in root.iterfind(".//bpmn:userTask", NS)]
        assert [lanes[t] for t in tasks] == chain_of(type_code, grade), pid
        # After each task an exclusive gateway whose default flow ends at a terminate end event.
        for role in chain_of(type_code, grade):
            gw = root.find(f".//bpmn:exclusiveGateway[@id='decision_{role}']", NS)
            assert gw is not None
            flow = root.find(f".//bpmn:sequenceFlow[@id='{gw.get('default')}']", NS)
            assert flow is not None and flow.get("targetRef") == f"rejected_{role}"
            assert root.find(f".//bpmn:endEvent[@id='rejected_{role}']/bpmn:terminateEventDefinition", NS) is not None
        workflow.parse(default(pid), pid)  # schema-valid, parses, every lane a role, runs to the end
    special = chain_of("hot_work", "special")
    assert special == ["unit", "safety_dept", "plant_leader"] and chain_of("hot_work", "second") == ["unit"]
    assert chain_of("excavation", "none")[-1] == "specialist_dept" and len(chain_of("excavation", "none")) == 8
    assert chain_of("road_breaking", "none") == ["cs_fire", "cs_safety", "specialist_dept"]


def test_countersigns_wait_in_parallel() -> None:
    pid = "permit_road_breaking_none"
    spec, subs = workflow.parse(default(pid), pid)
    wf = BpmnWorkflow(spec, subs, script_engine=workflow.ENGINE)
    wf.do_engine_steps()
    assert sorted(s.role for s in workflow.ready_steps(wf)) == ["cs_fire", "cs_safety"]
    loaded = workflow.Loaded(PermitWorkflow(state={}), wf)
    first = workflow.ready_steps(wf)[0]
    out = workflow.advance(loaded, first, approved=True)
    assert not out.completed and [s.role for s in out.ready] == ["cs_safety"]  # the join waits for both
    out = workflow.advance(loaded, out.ready[0], approved=True)
    assert [s.role for s in out.ready] == ["specialist_dept"]
    assert workflow.advance(loaded, out.ready[0], approved=True).approved


def test_a_refused_countersign_ends_every_branch() -> None:
    pid = "permit_excavation_none"
    spec, subs = workflow.parse(default(pid), pid)
    wf = BpmnWorkflow(spec, subs, script_engine=workflow.ENGINE)
    wf.do_engine_steps()
    steps = workflow.ready_steps(wf)
    assert len(steps) == 7
    out = workflow.advance(workflow.Loaded(PermitWorkflow(state={}), wf), steps[3], approved=False)
    assert out.completed and not out.approved and out.ready == [] and workflow.ready_steps(wf) == []


def test_generated_files_are_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts/permit_bpmn.py"), "--check"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_uploads_that_are_refused() -> None:
    good = default()
    assert "not well-formed XML" in refusal("this is not xml")
    bomb = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&c;</bpmn:definitions>')
    assert "DOCTYPE" in refusal(bomb)
    external = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>')
    assert "DOCTYPE" in refusal(external)
    assert "root element" in refusal("<definitions/>")
    assert "too large" in refusal(good + " " * workflow.MAX_BPMN_BYTES)
    assert "with id permit_hot_work_second (found: permit_hot_work_first)" in refusal(
        default("permit_hot_work_first"))
    assert "lane boss, which is not an approver role" in refusal(good.replace('name="unit"', 'name="boss"'))
    # A role's Chinese name is accepted as the lane's name.
    workflow.parse(good.replace('name="unit"', 'name="所在基层单位"'), "permit_hot_work_second")
    no_lane = good.replace("<bpmn:flowNodeRef>approve_unit</bpmn:flowNodeRef>", "")
    assert "User task approve_unit is not in a lane" in refusal(no_lane)
    code = good.replace("approved == True", "__import__('os').system('touch /tmp/pwned')")
    assert "The condition of sequence flow" in refusal(code)
    script = good.replace('<bpmn:userTask id="approve_unit" name="所在基层单位审批">',
                          '<bpmn:scriptTask id="approve_unit" name="x">'
                          ).replace("</bpmn:userTask>", "<bpmn:script>import os</bpmn:script></bpmn:scriptTask>")
    assert "Element scriptTask (approve_unit) is not allowed" in refusal(script)
    endless = good.replace('targetRef="approved"', 'targetRef="approve_unit"')  # approving loops back
    assert "does not reach its end when every approver approves" in refusal(endless)
    no_default = good.replace(' default="flow_3"', "")
    assert "SpiffWorkflow cannot parse the process: Non-default exclusive outgoing sequence flow" in refusal(
        no_default)
    # Approving leads to the refusal end (a terminate end event): not a process that can approve.
    stuck = good.replace("approved == True", "approved == False")
    assert "does not reach its end when every approver approves" in refusal(stuck)
    no_tasks = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
                'targetNamespace="x"><bpmn:process id="permit_hot_work_second" isExecutable="true">'
                '<bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>'
                '<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/></bpmn:process></bpmn:definitions>')
    assert "no user task" in refusal(no_tasks)
    assert "not valid BPMN 2.0" in refusal(good.replace("<bpmn:laneSet", "<bpmn:bogus/><bpmn:laneSet"))
    assert not Path("/tmp/pwned").exists()


def test_conditions_are_evaluated_without_eval() -> None:
    env = workflow.SafeEnvironment()
    assert env.evaluate("approved == True", {"approved": True}) is True
    assert env.evaluate("not approved", {"approved": True}) is False
    assert env.evaluate("approved and role in ('unit', 'safety_dept')", {"approved": True, "role": "unit"}) is True
    assert env.evaluate("missing == True", {}) is False
    for text in ("__import__('os')", "approved.__class__", "open('/etc/passwd')", "[x for x in y]",
                 "lambda: 1"):
        with pytest.raises(workflow.ExpressionRefused):
            workflow.check_expression(text)
    with pytest.raises(workflow.ExpressionRefused):
        env.execute("import os", {})


def test_each_definition_is_parsed_once() -> None:
    workflow.clear_caches()
    d = workflow.Definition("permit_hot_work_first", workflow.sha256_of(default("permit_hot_work_first")),
                            default("permit_hot_work_first"), "default")
    first = workflow.parsed(d)
    assert workflow.parsed(d) is first
    workflow.clear_caches()
    assert workflow.parsed(d) is not first


def test_workflow_persists_and_resumes_after_a_restart(world: World) -> None:
    sm, tl = world.actor("safety_manager"), world.actor("team_leader")
    for role in ("unit", "safety_dept", "plant_leader"):
        world.do(sm, approvals.assign, role=role, user_id=tl.user_id)
    pid = world.run(make_permit, sm, "hot_work", "special", actor=sm)
    world.do(sm, service.submit, pid, now=DAY - timedelta(minutes=40))
    world.do(tl, approvals.decide, pid, approve=True, now=DAY - timedelta(minutes=35))
    with world.db.factory() as s:
        row = s.scalars(select(PermitWorkflow).where(PermitWorkflow.permit_id == pid)).one()
        assert not row.completed and row.state["format"] == workflow.STATE_FORMAT
        assert row.state["ready"] == [{"task": "approve_safety_dept", "role": "safety_dept"}]
        assert row.state["workflow"]["spec"]["name"] == "permit_hot_work_special"
        assert row.updated_at is not None
    # "Restart": every cache, parser and serializer object is gone, the engine drops every
    # connection, and a new session reads the state back — before each of the remaining steps.
    for role, at in (("safety_dept", 30), ("plant_leader", 25)):
        workflow.clear_caches()
        world.db.engine.dispose()
        with world.db.factory() as s:
            p = s.get(Permit, pid)
            assert p is not None and p.status == S.PENDING
            loaded = workflow.restore(s, p)
            assert loaded is not None and [x.role for x in workflow.ready_steps(loaded.wf)] == [role]
        world.do(tl, approvals.decide, pid, approve=True, now=DAY - timedelta(minutes=at))
    assert world.permit(pid).status == S.APPROVED
