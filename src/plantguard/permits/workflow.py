"""Permit approvals as BPMN 2.0 processes executed by SpiffWorkflow (issue 7 point 3).

Why BPMN: who approves which permit is a plant's own organisation. The standard sets the
floor (Table B.1: 二级动火 by the operating unit, 特级动火 up to the plant leader, countersigns
for excavation §11 and road closure §12); the shipped processes (``permits/bpmn/*.bpmn``, one per
type and grade, named ``permit_<type>_<grade>``) follow it, and an enterprise replaces any of
them by uploading its own diagram (:class:`PermitProcess`) — no code.

How a process says who signs: **every user task sits in a lane whose name is an approver role
code** (types.yaml ``approver_roles``: ``unit``, ``safety_dept``, ``cs_fire`` ...; the role's
Chinese or English name is accepted too). A task's completion data is ``{"approved": bool}``;
gateways may test it (``approved == True``).

Persistence: the whole workflow (SpiffWorkflow's serialisation, which includes the parsed
process itself) is written to ``PermitWorkflow.state`` after every step and restored from there
on every call; nothing lives in memory between requests, so an approval resumes after a
restart, on any worker. Because the state carries its own process, a permit finishes with the
definition it started with even when the enterprise later uploads another one
(``definition_sha256`` says which).

Safety of uploaded files: XML is parsed without DTDs or entity expansion (an entity bomb is
refused, not expanded), checked against the BPMN 2.0 schema, limited to events, user tasks,
gateways and flows, and conditions are evaluated by a tiny interpreter of comparisons on the
task data instead of Python's ``eval`` — an uploaded diagram can never run code on the server.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.simple import TerminateEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard.core.errors import Conflict, FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.safeeval import CompiledExpression, ExpressionError, compile_expression
from plantguard.permits import types
from plantguard.permits.models import Permit, PermitProcess, PermitWorkflow

MAX_BPMN_BYTES = 512 * 1024
MAX_ELEMENTS = 3000
MAX_DRY_RUN_STEPS = 200
STATE_FORMAT = 1
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# What an approval process may contain (BPMN local names inside <process>). No script, service,
# call or timer elements: a process only routes the permit between people.
ALLOWED = frozenset({
    "laneSet", "lane", "childLaneSet", "flowNodeRef", "documentation", "extensionElements",
    "startEvent", "endEvent", "terminateEventDefinition", "userTask", "exclusiveGateway",
    "parallelGateway", "inclusiveGateway", "sequenceFlow", "conditionExpression", "incoming",
    "outgoing", "textAnnotation", "text", "association",
})
FIELD = "bpmn_xml"


class ExpressionRefused(Exception):
    """A condition uses something other than comparisons of task data and constants."""


# -- conditions through the project's restricted evaluator -----------------------------------


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> CompiledExpression:
    try:
        return compile_expression(text.strip())
    except ExpressionError as exc:
        raise ExpressionRefused(exc.message % exc.params if exc.params else exc.message) from None


def check_expression(text: str) -> None:
    """Raise :class:`ExpressionRefused` unless ``text`` is an expression the restricted
    evaluator (``core/safeeval.py``: no imports, attributes, calls of anything but its safe
    functions, bounded time and memory) accepts."""
    if len(text) > 500:
        raise ExpressionRefused("too long")
    _compiled(text)


def _evaluate(text: str, data: dict[str, Any]) -> Any:
    compiled = _compiled(text)
    # A name the task data lacks reads as None ("missing == True" is False), as in Python's
    # dict.get: a gateway condition must not crash on a task that did not set a variable.
    try:
        return compiled.evaluate({name: data.get(name) for name in compiled.names})
    except ExpressionError:
        return False


class SafeEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]  # untyped library
    """SpiffWorkflow's script environment without ``eval``/``exec``: conditions only."""

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        return _evaluate(expression, {**(external_context or {}), **context})

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        raise ExpressionRefused("scripts are not allowed")

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise ExpressionRefused("service calls are not allowed")


ENGINE = PythonScriptEngine(environment=SafeEnvironment())


# -- definitions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    process_id: str
    sha256: str
    xml: str
    source: str  # "default" | "enterprise"


def process_id_for(type_code: str, grade: str) -> str:
    return f"permit_{type_code}_{grade}"


@cache
def default_ids() -> tuple[str, ...]:
    """The shipped processes, one per type and grade, in types.yaml order."""
    return tuple(process_id_for(t.code, g.code) for t in types.all_types().values() for g in t.grades)


def type_and_grade(process_id: str) -> tuple[str, str] | None:
    for t in types.all_types().values():
        for g in t.grades:
            if process_id_for(t.code, g.code) == process_id:
                return t.code, g.code
    return None


def default_xml(process_id: str) -> str | None:
    if process_id not in default_ids():
        return None
    return resources.files("plantguard.permits").joinpath(f"bpmn/{process_id}.bpmn").read_text(encoding="utf-8")


def sha256_of(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


def override(session: Session, enterprise_id: int, process_id: str) -> PermitProcess | None:
    return session.scalars(select(PermitProcess).where(
        PermitProcess.enterprise_id == enterprise_id, PermitProcess.process_id == process_id,
        PermitProcess.active.is_(True))).first()


def definition(session: Session, enterprise_id: int, process_id: str) -> Definition:
    """The enterprise's active process for ``process_id``, else the shipped default."""
    row = override(session, enterprise_id, process_id)
    if row is not None:
        return Definition(process_id, row.sha256, row.bpmn_xml, "enterprise")
    xml = default_xml(process_id)
    if xml is None:
        raise Conflict(N_("There is no approval process %(process)s for this permit type and grade"),
                       process=process_id)
    return Definition(process_id, sha256_of(xml), xml, "default")


def role_of(lane: str | None) -> str | None:
    """The approver role a lane names: its code, or the role's Chinese or English name."""
    if not lane:
        return None
    name = lane.strip()
    roles = types.approver_roles()
    if name in roles:
        return name
    for code, spec in roles.items():
        if name == spec.get("name") or name.lower() == str(spec.get("name_en", "")).lower():
            return code
    return None


# -- parsing (once per definition) ------------------------------------------------------------


def _refuse(message: str, **params: Any) -> ValidationFailed:
    return ValidationFailed([FieldError(FIELD, message, params)])


@cache
def _validator() -> BpmnValidator:
    return BpmnValidator()


def _xml_tree(xml: str | bytes) -> Any:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(data) > MAX_BPMN_BYTES:
        raise _refuse(N_("The file is too large (at most %(kb)s KB)"), kb=MAX_BPMN_BYTES // 1024)
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _refuse(N_("The file is not well-formed XML: %(error)s"), error=str(exc)[:200]) from None
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None or info.doctype:
        raise _refuse(N_("A BPMN file may not contain a DOCTYPE or entity declarations"))
    return root


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _check_structure(root: Any, process_id: str) -> Any:
    if etree.QName(root).namespace != BPMN_NS or _local(root.tag) != "definitions":
        raise _refuse(N_("Not a BPMN 2.0 file: the root element must be bpmn:definitions"))
    if sum(1 for _ in root.iter()) > MAX_ELEMENTS:
        raise _refuse(N_("The file has too many elements (at most %(max)s)"), max=MAX_ELEMENTS)
    try:
        _validator().validate(root)
    except SpiffWorkflowException as exc:
        raise _refuse(N_("The file is not valid BPMN 2.0: %(error)s"), error=str(exc)[:300]) from None
    processes = root.findall(f"{{{BPMN_NS}}}process")
    ids = [p.get("id") for p in processes]
    if ids != [process_id]:
        raise _refuse(N_("The file must define exactly one process, with id %(process)s (found: %(found)s)"),
                      process=process_id, found=", ".join(str(i) for i in ids) or "-")
    process = processes[0]
    for el in process.iterdescendants():
        if not isinstance(el.tag, str):
            continue
        q = etree.QName(el)
        if q.namespace == BPMN_NS and q.localname not in ALLOWED:
            raise _refuse(N_("Element %(element)s (%(id)s) is not allowed in an approval process: use start and "
                             "end events, user tasks in approver lanes, gateways and sequence flows"),
                          element=q.localname, id=el.get("id") or "-")
        if q.localname == "conditionExpression" and q.namespace == BPMN_NS:
            flow = el.getparent().get("id") or "-"
            try:
                check_expression(el.text or "")
            except ExpressionRefused:
                raise _refuse(N_("The condition of sequence flow %(flow)s is not allowed: only comparisons of "
                                 "the approval data are, such as approved == True"), flow=flow) from None
    return process


def _check_roles(spec: Any) -> None:
    user_tasks = [s for s in spec.task_specs.values() if getattr(s, "manual", False)]
    if not user_tasks:
        raise _refuse(N_("The process has no user task: at least one approver must sign"))
    known = ", ".join(types.approver_roles())
    for s in sorted(user_tasks, key=lambda s: str(s.bpmn_id)):
        if type(s).__name__ != "UserTask":
            raise _refuse(N_("Task %(task)s must be a user task in an approver lane"), task=s.bpmn_id)
        if not s.lane:
            raise _refuse(N_("User task %(task)s is not in a lane: put it in the lane named after the approver "
                             "role that signs it (%(roles)s)"), task=s.bpmn_id, roles=known)
        if role_of(s.lane) is None:
            raise _refuse(N_("User task %(task)s is in lane %(lane)s, which is not an approver role (known: "
                             "%(roles)s)"), task=s.bpmn_id, lane=s.lane, roles=known)


def _dry_run(spec: Any, subprocess_specs: dict[str, Any]) -> None:
    """Every approver approves: the process must reach its end (no dead end, no endless loop)."""
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=ENGINE)
    try:
        wf.do_engine_steps()
        for _ in range(MAX_DRY_RUN_STEPS):
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            ready[0].data["approved"] = True
            ready[0].run()
            wf.do_engine_steps()
    except (SpiffWorkflowException, ExpressionRefused) as exc:
        raise _refuse(N_("The process fails when run: %(error)s"), error=str(exc)[:300]) from None
    if not wf.completed or terminated(wf):
        raise _refuse(N_("The process does not reach its end when every approver approves (a terminate end "
                         "event means a refusal)"))


def parse(xml: str | bytes, process_id: str) -> tuple[Any, dict[str, Any]]:
    """Check and parse a BPMN document: (process spec, subprocess specs) or a ValidationFailed
    on field ``bpmn_xml`` naming what is wrong."""
    root = _xml_tree(xml)
    _check_structure(root, process_id)
    parser = BpmnParser()
    try:
        parser.add_bpmn_xml(root, filename=f"{process_id}.bpmn")
        spec = parser.get_spec(process_id)
        subs = parser.get_subprocess_specs(process_id)
    except (SpiffWorkflowException, AssertionError, KeyError, ValueError) as exc:
        raise _refuse(N_("SpiffWorkflow cannot parse the process: %(error)s"), error=str(exc)[:300]) from None
    _check_roles(spec)
    _dry_run(spec, subs)
    return spec, subs


_SPECS: OrderedDict[str, tuple[Any, dict[str, Any]]] = OrderedDict()
_LOCK = threading.Lock()
_SPEC_CACHE_SIZE = 64


def parsed(defn: Definition) -> tuple[Any, dict[str, Any]]:
    """Parsed once per definition (by its sha256) and process."""
    key = f"{defn.sha256}:{defn.process_id}"
    with _LOCK:
        hit = _SPECS.get(key)
        if hit is not None:
            _SPECS.move_to_end(key)
            return hit
    value = parse(defn.xml, defn.process_id)
    with _LOCK:
        _SPECS[key] = value
        while len(_SPECS) > _SPEC_CACHE_SIZE:
            _SPECS.popitem(last=False)
    return value


_SERIALIZER: list[BpmnWorkflowSerializer] = []


def serializer() -> BpmnWorkflowSerializer:
    if not _SERIALIZER:
        _SERIALIZER.append(BpmnWorkflowSerializer())
    return _SERIALIZER[0]


def clear_caches() -> None:
    """Forget every parsed process and the serializer (what a restart does)."""
    with _LOCK:
        _SPECS.clear()
    _SERIALIZER.clear()
    _validator.cache_clear()


# -- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A user task waiting for its approver."""

    task_id: str  # SpiffWorkflow's task uuid
    bpmn_id: str
    name: str
    role: str


@dataclass
class Loaded:
    row: PermitWorkflow
    wf: BpmnWorkflow


def ready_steps(wf: BpmnWorkflow) -> list[Step]:
    out = []
    for t in wf.get_tasks(state=TaskState.READY, manual=True):
        s = t.task_spec
        out.append(Step(str(t.id), str(s.bpmn_id), str(s.bpmn_name or s.bpmn_id), role_of(s.lane) or ""))
    return out


def terminated(wf: BpmnWorkflow) -> bool:
    """Ended at a terminate end event: how the processes say "refused"."""
    return any(isinstance(getattr(t.task_spec, "event_definition", None), TerminateEventDefinition)
               for t in wf.get_tasks(state=TaskState.COMPLETED))


def _state(wf: BpmnWorkflow, source: str) -> dict[str, Any]:
    return {"format": STATE_FORMAT, "source": source,
            "ready": [{"task": s.bpmn_id, "role": s.role} for s in ready_steps(wf)],
            "workflow": json.loads(serializer().serialize_json(wf))}


def start(session: Session, permit: Permit, *, at: datetime) -> PermitWorkflow:
    """Start the permit's approval process (the enterprise's, else the default) and save it."""
    process_id = process_id_for(permit.type_code, permit.grade)
    existing = session.scalars(select(PermitWorkflow).where(PermitWorkflow.permit_id == permit.id)).first()
    if existing is not None:
        raise Conflict(N_("The approval of this permit has already started"))
    defn = definition(session, permit.enterprise_id, process_id)
    spec, subs = parsed(defn)
    wf = BpmnWorkflow(spec, subs, script_engine=ENGINE)
    wf.do_engine_steps()
    if not ready_steps(wf):
        raise Conflict(N_("The approval process %(process)s has no step to sign"), process=process_id)
    row = PermitWorkflow(enterprise_id=permit.enterprise_id, permit_id=permit.id, process_id=process_id,
                         definition_sha256=defn.sha256, state=_state(wf, defn.source), completed=False,
                         updated_at=at)
    session.add(row)
    permit.process_id = process_id
    session.flush()
    return row


def row_of(session: Session, permit: Permit) -> PermitWorkflow | None:
    return session.scalars(select(PermitWorkflow).where(
        PermitWorkflow.permit_id == permit.id, PermitWorkflow.enterprise_id == permit.enterprise_id)).first()


def restore(session: Session, permit: Permit) -> Loaded | None:
    """The permit's workflow as it was last saved (None: its approval never started)."""
    row = row_of(session, permit)
    if row is None:
        return None
    wf = serializer().deserialize_json(json.dumps(row.state["workflow"]))
    wf.script_engine = ENGINE
    return Loaded(row, wf)


@dataclass(frozen=True)
class Outcome:
    step: Step
    completed: bool
    # The permit is approved: the process reached a plain end event and nobody refused. Completed
    # but not approved = refused (by the signer, or by the process ending at a terminate event).
    approved: bool
    ready: list[Step]


def advance(loaded: Loaded, step: Step, *, approved: bool, data: dict[str, Any] | None = None) -> Outcome:
    """Complete ``step`` in memory (nothing saved: the caller checks, then :func:`save`). A refusal
    ends the whole process whatever the diagram says: a refused permit is never approved."""
    wf = loaded.wf
    task = next((t for t in wf.get_tasks(state=TaskState.READY, manual=True) if str(t.id) == step.task_id), None)
    if task is None:
        raise Conflict(N_("This approval step is no longer waiting for a signature"))
    task.data.update({**(data or {}), "approved": bool(approved)})
    try:
        task.run()
        wf.do_engine_steps()
    except (SpiffWorkflowException, ExpressionRefused) as exc:
        raise Conflict(N_("The approval process could not continue: %(error)s"), error=str(exc)[:200]) from None
    if not approved and not wf.completed:
        wf.cancel()
    ready = [] if wf.completed else ready_steps(wf)
    return Outcome(step, bool(wf.completed), bool(approved and wf.completed and not terminated(wf)), ready)


def save(loaded: Loaded, at: datetime) -> None:
    row = loaded.row
    row.state = _state(loaded.wf, str(row.state.get("source", "")))
    row.completed = bool(loaded.wf.completed)
    row.updated_at = at


def cancel(session: Session, permit: Permit, at: datetime) -> None:
    """End a running approval (the permit was withdrawn): nothing is waiting any more."""
    loaded = restore(session, permit)
    if loaded is None or loaded.wf.completed:
        return
    loaded.wf.cancel()
    save(loaded, at)


def waiting(row: PermitWorkflow) -> list[dict[str, str]]:
    """The steps waiting, from the saved summary (no deserialisation: for lists and inboxes)."""
    if row.completed:
        return []
    return [dict(r) for r in row.state.get("ready") or []]
