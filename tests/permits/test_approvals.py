"""Approvals at the service level, on both backends: every shipped process (type + grade) runs
submit → approvals → approved and submit → refusal → rejected; only an assigned approver of the
waiting role signs (403 naming the role, nothing changed); the applicant never gives the final
approval; area assignments take precedence; an enterprise's own BPMN changes the chain of new
permits without code while a permit in approval keeps its process; tenants stay apart."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import func, select

from plantguard.core.errors import Conflict, NotFound, PlantGuardError, ValidationFailed
from plantguard.core.i18n import gettext
from plantguard.events.models import OutboxMessage
from plantguard.permits import approvals, processes, service, types, workflow
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit, PermitEvent, PermitSignature, PermitWorkflow
from tests.permits.conftest import World
from tests.permits.factories import DAY, make_permit
from tests.permits.test_workflow import chain_of, png

AT = DAY - timedelta(minutes=30)
CASES = [(t.code, g.code) for t in types.all_types().values() for g in t.grades]


def assign_all(w: World, user: str = "team_leader", area_id: int | None = None) -> None:
    """``user`` signs for every approver role (enterprise-wide, or in one area)."""
    sm = w.actor("safety_manager")
    for role in types.approver_roles():
        w.do(sm, approvals.assign, role=role, user_id=w.actor(user).user_id, area_id=area_id)


def submitted(w: World, type_code: str = "hot_work", grade: str | None = "second", by: str = "safety_manager") -> int:
    actor = w.actor(by)
    pid = w.run(make_permit, actor, type_code, grade, actor=actor)
    w.do(actor, service.submit, pid, now=AT)
    return int(pid)


def sign(w: World, who: str, pid: int, approve: bool = True, **kw: Any) -> Permit:
    kw.setdefault("comment", "" if approve else "气体分析方案不完整")
    w.do(w.actor(who), approvals.decide, pid, approve=approve, now=AT + timedelta(minutes=5), **kw)
    return w.permit(pid)


def waiting_roles(w: World, pid: int) -> list[str]:
    with w.db.factory() as s:
        p = s.get(Permit, pid)
        assert p is not None
        return [step["role"] for step in approvals.pending(s, w.actor("safety_manager"), p)]


def events_of(w: World, pid: int) -> list[str]:
    with w.db.factory() as s:
        return list(s.scalars(select(PermitEvent.kind).where(PermitEvent.permit_id == pid).order_by(PermitEvent.id)))


@pytest.mark.parametrize(("type_code", "grade"), CASES, ids=[f"{t}-{g}" for t, g in CASES])
def test_every_default_process_approves_and_refuses(world: World, type_code: str, grade: str) -> None:
    assign_all(world)
    expected = chain_of(type_code, grade)
    # All approve: the roles come in the order of the chain (countersigns in parallel first).
    pid = submitted(world, type_code, grade)
    p = world.permit(pid)
    assert p.status == S.PENDING and p.process_id == f"permit_{type_code}_{grade}" and p.grade == grade
    seen: list[str] = []
    while world.permit(pid).status == S.PENDING:
        roles = waiting_roles(world, pid)
        assert roles, "a pending permit waits for someone"
        seen.append(roles[0])
        sign(world, "team_leader", pid, lat=31.23, lon=121.47)
    p = world.permit(pid)
    assert p.status == S.APPROVED and p.approved_at is not None and len(p.content_sha256) == 64
    assert seen == expected
    with world.db.factory() as s:
        sigs = s.scalars(select(PermitSignature).where(PermitSignature.permit_id == pid)
                         .order_by(PermitSignature.id)).all()
        assert [x.step for x in sigs] == [approvals.step_name(r) for r in expected]
        assert {x.decision for x in sigs} == {"approved"} and sigs[0].lat == 31.23
        row = s.scalars(select(PermitWorkflow).where(PermitWorkflow.permit_id == pid)).one()
        assert row.completed and row.process_id == p.process_id
        assert row.definition_sha256 == workflow.sha256_of(workflow.default_xml(p.process_id) or "")
    kinds = events_of(world, pid)
    assert kinds.count("approval_step") == len(expected) and kinds[-1] == "approved"

    # Refused at the last step: rejected with the reason, the process ended.
    pid2 = submitted(world, type_code, grade)
    for _ in expected[:-1]:
        sign(world, "team_leader", pid2)
    p2 = sign(world, "team_leader", pid2, approve=False)
    assert p2.status == S.REJECTED and p2.approved_at is None and p2.content_sha256 == ""
    assert waiting_roles(world, pid2) == []
    assert events_of(world, pid2)[-1] == "rejected"
    with world.db.factory() as s:
        assert s.scalars(select(PermitWorkflow.completed).where(PermitWorkflow.permit_id == pid2)).one()
        last = s.scalars(select(PermitSignature).where(PermitSignature.permit_id == pid2)
                         .order_by(PermitSignature.id.desc())).first()
        assert last is not None and last.decision == "rejected" and last.comment == "气体分析方案不完整"
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == "permit.rejected")
                        .order_by(OutboxMessage.id.desc())).first()
        assert msg is not None and msg.envelope["payload"]["role"] == expected[-1]
        assert msg.envelope["payload"]["reason"] == "气体分析方案不完整" and msg.envelope["payload"]["id"] == pid2


def test_only_the_assigned_approver_of_the_waiting_role_signs(world: World) -> None:
    sm = world.actor("safety_manager")
    # team_leader signs for the unit only; the admin for the safety department.
    world.do(sm, approvals.assign, role="unit", user_id=world.actor("team_leader").user_id)
    world.do(sm, approvals.assign, role="safety_dept", user_id=world.actor("admin").user_id)
    pid = submitted(world, "hot_work", "first")
    before = world.footprint(pid)
    # The admin holds a role, but not the one waiting: 403 naming the role needed, in both languages.
    with pytest.raises(approvals.NotAllowed) as exc:
        sign(world, "admin", pid)
    assert exc.value.status_code == 403
    assert gettext(exc.value.message, "en") % {"roles": gettext("Operating unit", "en")} \
        == "Only an approver assigned to Operating unit may sign this step"
    assert exc.value.params == {"roles": ("Operating unit",)}  # translated where shown (test_process_api)
    # A worker's role cannot approve at all; a refusal without a reason is a field error.
    with pytest.raises(PlantGuardError) as denied:
        sign(world, "worker", pid)
    assert denied.value.status_code == 403
    with pytest.raises(ValidationFailed) as bad:
        sign(world, "team_leader", pid, approve=False, comment="  ")
    assert bad.value.errors[0].field == "comment"
    with pytest.raises(ValidationFailed) as bad_png:
        sign(world, "team_leader", pid, signature_png=b"GIF89a not a png")
    assert bad_png.value.errors[0].field == "signature_png"
    assert world.footprint(pid) == before
    with world.db.factory() as s:
        assert s.scalar(select(func.count()).select_from(PermitSignature)) == 0
    # The unit signs, then the admin (safety department) may, and the unit no longer can.
    p = sign(world, "team_leader", pid, signature_png=png())
    assert p.status == S.PENDING and waiting_roles(world, pid) == ["safety_dept"]
    with pytest.raises(approvals.NotAllowed):
        sign(world, "team_leader", pid)
    assert sign(world, "admin", pid).status == S.APPROVED
    with world.db.factory() as s:
        first = s.scalars(select(PermitSignature).where(PermitSignature.permit_id == pid)
                          .order_by(PermitSignature.id)).first()
        assert first is not None and first.image_stored_name.endswith(".png") and len(first.image_sha256) == 64
    # Approved: no more signing (409 naming the status).
    with pytest.raises(Conflict):
        sign(world, "admin", pid)


def test_applicant_never_gives_the_final_approval(world: World) -> None:
    sm = world.actor("safety_manager")
    world.do(sm, approvals.assign, role="unit", user_id=sm.user_id)
    world.do(sm, approvals.assign, role="safety_dept", user_id=sm.user_id)
    world.do(sm, approvals.assign, role="safety_dept", user_id=world.actor("admin").user_id)
    pid = submitted(world, "hot_work", "first", by="safety_manager")
    # An earlier step the applicant may sign; the last one must be someone else's.
    assert sign(world, "safety_manager", pid).status == S.PENDING
    before = world.footprint(pid)
    with pytest.raises(approvals.NotAllowed) as exc:
        sign(world, "safety_manager", pid)
    assert "applicant" in exc.value.message
    assert world.footprint(pid) == before and waiting_roles(world, pid) == ["safety_dept"]
    assert sign(world, "admin", pid).status == S.APPROVED


def test_area_assignments_come_first(world: World) -> None:
    sm = world.actor("safety_manager")
    world.do(sm, approvals.assign, role="unit", user_id=world.actor("admin").user_id)  # enterprise-wide
    world.do(sm, approvals.assign, role="unit", user_id=world.actor("team_leader").user_id,
             area_id=world.t.area_id)
    pid = submitted(world, "confined_space", "none")
    with world.db.factory() as s:
        p = s.get(Permit, pid)
        assert p is not None and p.area_id == world.t.area_id
        steps = approvals.pending(s, world.actor("team_leader"), p)
        assert [c["user_id"] for c in steps[0]["candidates"]] == [world.actor("team_leader").user_id]
        assert steps[0]["can_sign"] and steps[0]["role_name"] == "所在基层单位"
        assert steps[0]["role_name_en"] == "Operating unit" and steps[0]["step"] == "approve:unit"
        assert [x.id for x in approvals.my_pending(s, world.actor("team_leader"))] == [pid]
        assert approvals.my_pending(s, world.actor("admin")) == []
    with pytest.raises(approvals.NotAllowed):
        sign(world, "admin", pid)  # the area has its own unit approver
    assert sign(world, "team_leader", pid).status == S.APPROVED
    with world.db.factory() as s:
        assert approvals.my_pending(s, world.actor("team_leader")) == []


def test_assignments_are_checked(world: World) -> None:
    sm = world.actor("safety_manager")
    with pytest.raises(ValidationFailed) as exc:
        world.do(sm, approvals.assign, role="boss", user_id=world.actor("worker").user_id,
                 area_id=world.t2.area_id)
    assert [e.field for e in exc.value.errors] == ["role", "user_id", "area_id"]
    with pytest.raises(ValidationFailed) as other:
        world.do(sm, approvals.assign, role="unit", user_id=world.other.user_id)  # another tenant's user
    assert other.value.errors[0].field == "user_id"
    aid = world.do(sm, approvals.assign, role="unit", user_id=world.actor("team_leader").user_id)
    with pytest.raises(Conflict):
        world.do(sm, approvals.assign, role="unit", user_id=world.actor("team_leader").user_id)
    with pytest.raises(PlantGuardError) as denied:
        world.do(world.actor("team_leader"), approvals.assign, role="unit", user_id=world.actor("admin").user_id)
    assert denied.value.status_code == 403
    with pytest.raises(NotFound):
        world.do(world.other, approvals.unassign, aid)
    world.do(sm, approvals.unassign, aid)
    with world.db.factory() as s:
        assert approvals.list_approvers(s, sm) == []


def _override(chain: list[str], process_id: str = "permit_hot_work_second") -> str:
    """A hand-made process (what a modeler would upload): the chain in sequence, lanes by role."""
    lanes = "".join(f'<bpmn:lane id="l{i}" name="{r}"><bpmn:flowNodeRef>t{i}</bpmn:flowNodeRef></bpmn:lane>'
                    for i, r in enumerate(chain))
    tasks = "".join(f'<bpmn:userTask id="t{i}" name="{r}"/>' for i, r in enumerate(chain))
    nodes = ["start", *[f"t{i}" for i in range(len(chain))], "end"]
    flows = "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
                    for i, (a, b) in enumerate(pairwise(nodes)))
    return ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
            'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">'
            f'<bpmn:process id="{process_id}" isExecutable="true"><bpmn:laneSet id="ls">{lanes}</bpmn:laneSet>'
            f'<bpmn:startEvent id="start"/>{tasks}<bpmn:endEvent id="end"/>{flows}</bpmn:process>'
            '</bpmn:definitions>')


def test_enterprise_process_changes_the_chain_of_new_permits_only(world: World) -> None:
    assign_all(world)
    sm = world.actor("safety_manager")
    old = submitted(world, "hot_work", "second")  # default: unit only
    # The enterprise wants the safety department after the unit for 二级动火 too.
    world.do(sm, processes.put, "permit_hot_work_second", _override(["unit", "safety_dept"]), name="二级加签")
    new = submitted(world, "hot_work", "second")
    # The other enterprise still runs the default.
    with world.db.factory() as s:
        listed = {p["process_id"]: p for p in processes.list_processes(s, world.other)}
        assert listed["permit_hot_work_second"]["source"] == "default"
        mine = {p["process_id"]: p for p in processes.list_processes(s, sm)}
        assert mine["permit_hot_work_second"]["source"] == "enterprise"
        assert mine["permit_hot_work_second"]["roles"] == ["unit", "safety_dept"]
        assert mine["permit_hot_work_second"]["default_roles"] == ["unit"]
    # Replaced again, and reset to the default: the permits in approval keep what they started with.
    world.do(sm, processes.put, "permit_hot_work_second", _override(["plant_leader"]))
    world.do(sm, processes.reset, "permit_hot_work_second")
    assert sign(world, "team_leader", old).status == S.APPROVED
    assert sign(world, "team_leader", new).status == S.PENDING
    assert waiting_roles(world, new) == ["safety_dept"]
    assert sign(world, "team_leader", new).status == S.APPROVED
    latest = submitted(world, "hot_work", "second")
    assert waiting_roles(world, latest) == ["unit"]
    with pytest.raises(NotFound):
        world.do(sm, processes.reset, "permit_hot_work_second")  # nothing to reset any more


def test_tenants_are_apart(world: World) -> None:
    assign_all(world)
    pid = submitted(world, "hot_work", "second")
    # The other enterprise's safety manager, even assigned there, cannot see or sign it.
    world.do(world.other, approvals.assign, role="unit", user_id=world.other.user_id)
    with pytest.raises(NotFound):
        world.do(world.other, approvals.decide, pid, approve=True, now=AT)
    with world.db.factory() as s:
        assert approvals.my_pending(s, world.other) == []
        p = s.get(Permit, pid)
        assert p is not None
        with pytest.raises(NotFound):
            approvals.pending(s, world.other, p)
    assert world.permit(pid).status == S.PENDING


def test_a_cancelled_permit_waits_for_nobody(world: World) -> None:
    assign_all(world)
    pid = submitted(world, "hot_work", "second")
    world.do(world.actor("safety_manager"), service.cancel, pid, "作业取消", now=AT)
    with world.db.factory() as s:
        assert approvals.my_pending(s, world.actor("team_leader")) == []
    assert waiting_roles(world, pid) == []
    with pytest.raises(Conflict):
        sign(world, "team_leader", pid)


def test_role_names_are_in_the_catalogue() -> None:
    """Every approver role's English name is a marked message id (refusals name the role)."""
    for code, spec in types.approver_roles().items():
        assert spec["name_en"] in approvals.ROLE_NAMES, code
        assert len(code) <= 30
