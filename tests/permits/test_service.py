"""The permit service on both backends: applying for every type, refusals that leave rows,
history and outbox unchanged, linked permits, one guardian per job, no change after submission
(4.18), the work itself (measures, gas, sign-offs, start, suspend/resume, complete, acceptance),
cancel, expiry, the content hash, the enterprise's calendar, contractors' admission, tenancy."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from plantguard.contractors.models import ContractorCompany, SafetyInduction
from plantguard.core.errors import Conflict, NotFound, ValidationFailed
from plantguard.events.models import OutboxMessage
from plantguard.permits import service, snapshot, ticker
from plantguard.permits.contract import PERMIT_TYPES
from plantguard.permits.models import PermitConfig, PermitEvent, PermitMeasure, PermitSignature, PermitWorker
from plantguard.permits.types import get_type
from plantguard.tenancy.models import Certificate, Person
from tests.permits.conftest import World, render, shown
from tests.permits.factories import (
    DAY,
    crew,
    guardian,
    make_active,
    make_approved,
    make_permit,
    make_ready,
    person_actor,
    values,
)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 4), (0, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def refused(world: World, exc_type: type[Exception], fn: Any, *args: Any, pid: int | None = None,
            **kw: Any) -> Any:
    """Call, expect a refusal, and check nothing changed (permit row, history, outbox)."""
    before = world.footprint(pid)
    with pytest.raises(exc_type) as exc:
        world.run(fn, *args, **kw)
    assert world.footprint(pid) == before
    return exc.value


def events(world: World, pid: int) -> list[str]:
    with world.db.factory() as s:
        return list(s.scalars(select(PermitEvent.kind).where(PermitEvent.permit_id == pid).order_by(PermitEvent.id)))


def outbox(world: World, event_type: str) -> list[dict[str, Any]]:
    with world.db.factory() as s:
        return [m.envelope for m in s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == event_type)
                                               .order_by(OutboxMessage.id))]


def test_apply_every_type(world: World) -> None:
    sm = world.actor("safety_manager")
    for code in PERMIT_TYPES:
        pid = world.run(make_permit, sm, code, actor=sm)
        p = world.permit(pid)
        ptype = get_type(code)
        assert ptype is not None
        assert p.status == "draft" and p.number == f"{ptype.number_prefix}-20261125-001"
        assert p.applicant_user_id == sm.user_id
        with world.db.factory() as s:
            measures = s.scalars(select(PermitMeasure).where(PermitMeasure.permit_id == pid)
                                 .order_by(PermitMeasure.id)).all()
            assert [m.code for m in measures] == [m.code for m in ptype.measures]
            assert all(m.applicable is None for m in measures)
            workers = s.scalars(select(PermitWorker).where(PermitWorker.permit_id == pid)).all()
            assert len(workers) == 2
            if ptype.worker_certificates:
                assert all(w.certificate_id and w.certificate_no for w in workers)
        assert events(world, pid) == ["applied"]
    applied = outbox(world, "permit.applied")
    assert len(applied) == len(PERMIT_TYPES)
    assert applied[0]["payload"]["type_code"] == "hot_work"
    # numbering counts per type and plant day
    assert world.permit(world.run(make_permit, sm, "hot_work", actor=sm)).number == "DH-20261125-002"


def test_apply_refused_names_the_field_and_leaves_nothing(world: World) -> None:
    sm = world.actor("safety_manager")
    with world.db.factory() as s:
        body = values(s, sm.enterprise_id, "hot_work")
        novice = Person(enterprise_id=sm.enterprise_id, employee_no="N-1", name="新手")
        novice.certificates.append(Certificate(enterprise_id=sm.enterprise_id, kind="电工", kind_code="TZ-LV"))
        s.add(novice)
        s.commit()
        body["workers"] = [{"person_id": novice.id, "role": "worker"}]
    err = refused(world, ValidationFailed, service.apply, sm, body, actor=sm)
    assert [e.field for e in err.errors] == ["workers.0.person_id"]
    assert "新手" in shown(err.errors, "en")[0] and "Appendix A" in shown(err.errors, "en")[0]
    # another enterprise's area and people are "not found"; an unknown type is named
    other = {**body, "area_id": world.t2.area_id, "workers": [{"person_id": 10**6}], "type_code": "hot_work"}
    err = refused(world, ValidationFailed, service.apply, sm, other, actor=sm)
    assert {"area_id", "workers.0.person_id"} <= {e.field for e in err.errors}
    err = refused(world, ValidationFailed, service.apply, sm, {**body, "type_code": "diving"}, actor=sm)
    assert [e.field for e in err.errors] == ["type_code"]
    # a worker may not apply
    refused(world, Exception, service.apply, world.actor("worker"), body, actor=world.actor("worker"))


def test_hot_work_at_night_is_applied_one_grade_higher(world: World) -> None:
    sm = world.actor("safety_manager")
    night = DAY + timedelta(hours=12)  # 21:00 in Shanghai
    pid = world.run(make_permit, sm, "hot_work", "second", planned_start=night,
                    planned_end=night + timedelta(hours=2), actor=sm)
    p = world.permit(pid)
    assert (p.grade, p.requested_grade) == ("first", "second")
    assert "at night" in p.grade_reasons[0]["msgid"]
    # first grade is valid for 8 h only (§5): a 10 h night job is refused
    with world.db.factory() as s:
        body = values(s, sm.enterprise_id, "hot_work", "second", planned_start=night,
                      planned_end=night + timedelta(hours=10))
    err = refused(world, ValidationFailed, service.apply, sm, body, actor=sm)
    assert "8 h" in shown(err.errors, "en")[0] and "GB 30871-2022 §5" in shown(err.errors, "zh_CN")[0]


def test_enterprise_calendar_decides_the_raise(world: World) -> None:
    sm = world.actor("safety_manager")
    saturday = DAY + timedelta(days=3)
    assert world.permit(world.run(make_permit, sm, "hot_work", "second", planned_start=saturday,
                                  planned_end=saturday + timedelta(hours=2), actor=sm)).grade == "first"
    with world.db.factory() as s:  # the plant works that Saturday (调休)
        s.add(PermitConfig(enterprise_id=sm.enterprise_id, workdays=["2026-11-28"], holidays=[], overrides={}))
        s.commit()
    assert world.permit(world.run(make_permit, sm, "hot_work", "second", planned_start=saturday,
                                  planned_end=saturday + timedelta(hours=2), actor=sm)).grade == "second"


def test_apply_idempotent_with_client_key(world: World) -> None:
    sm = world.actor("safety_manager")
    with world.db.factory() as s:
        body = values(s, sm.enterprise_id, "work_at_height")
        s.commit()
    first = world.do(sm, service.apply, body, client_key="phone-key-0001")
    again = world.do(sm, service.apply, body, client_key="phone-key-0001")
    assert first == again and events(world, first) == ["applied"]


def test_hot_work_in_a_confined_space_with_both_permits(world: World) -> None:
    sm = world.actor("safety_manager")
    cs = world.run(make_permit, sm, "confined_space", actor=sm)
    err = refused(world, ValidationFailed, make_permit, sm, "hot_work", actor=sm,
                  fields={"in_confined_space": True})
    assert "§6" in shown(err.errors, "en")[0]
    hw = world.run(make_permit, sm, "hot_work", actor=sm, fields={"in_confined_space": True}, links=[cs])
    # the confined-space permit is still a draft: submitting the hot work is refused
    err = refused(world, ValidationFailed, service.submit, sm, hw, pid=hw, actor=sm, now=DAY - timedelta(hours=1))
    assert "links" in {e.field for e in err.errors}
    world.do(sm, service.submit, cs, now=DAY - timedelta(hours=1))
    world.do(sm, service.submit, hw, now=DAY - timedelta(hours=1))
    assert world.permit(hw).status == "pending_approval"
    with world.db.factory() as s:
        p = world.permit(cs)
        assert [x.id for x in service.linked(s, p)] == [hw]  # seen from both sides


def test_one_guardian_one_job(world: World) -> None:
    sm = world.actor("safety_manager")
    with world.db.factory() as s:
        g = guardian(s, sm.enterprise_id)
        s.commit()
        gid = g.id
    a = world.run(make_permit, sm, "hot_work", guardian_id=gid, actor=sm)
    # drafts do not hold the guardian; a submitted permit does
    world.run(make_permit, sm, "confined_space", guardian_id=gid, actor=sm)
    world.do(sm, service.submit, a, now=DAY - timedelta(hours=1))
    err = refused(world, ValidationFailed, make_permit, sm, "confined_space", guardian_id=gid, actor=sm)
    en, zh = shown(err.errors, "en")[0], shown(err.errors, "zh_CN")[0]
    assert err.errors[0].field == "guardian_id" and "4.10" in en and "4.10" in zh and "DH-20261125-001" in en
    later = DAY + timedelta(hours=4)
    world.run(make_permit, sm, "confined_space", guardian_id=gid, planned_start=later,
              planned_end=later + timedelta(hours=2), actor=sm)


def test_update_a_draft_then_never_after_submission(world: World) -> None:
    sm = world.actor("safety_manager")
    pid = world.run(make_permit, sm, "work_at_height", actor=sm)
    world.do(sm, service.update, pid, {"content": "更换灯具", "fields": {"height_m": 20}})
    p = world.permit(pid)
    assert (p.content, p.grade) == ("更换灯具", "III")
    assert events(world, pid) == ["applied", "edited"]
    err = refused(world, ValidationFailed, service.update, sm, pid, {"fields": {"height_m": 1}}, pid=pid, actor=sm)
    assert err.errors[0].field == "fields.height_m"
    world.do(sm, service.submit, pid, now=DAY - timedelta(hours=1))
    err = refused(world, Conflict, service.update, sm, pid, {"content": "改"}, pid=pid, actor=sm)
    en, zh = render(err.message, err.params, "en"), render(err.message, err.params, "zh_CN")
    assert "GB 30871-2022 4.18" in en and "GB 30871-2022 4.18" in zh and zh != en


def test_list_filters_and_tenancy(world: World) -> None:
    sm = world.actor("safety_manager")
    hw = world.run(make_permit, sm, "hot_work", actor=sm)
    cs = world.run(make_permit, sm, "confined_space", actor=sm)
    later = DAY + timedelta(days=2)
    wh = world.run(make_permit, sm, "work_at_height", planned_start=later, planned_end=later + timedelta(hours=4),
                   actor=sm)
    world.do(sm, service.submit, cs, now=DAY - timedelta(hours=1))
    other = world.run(make_permit, world.other, "hot_work", actor=world.other)

    def ids(**kw: Any) -> list[int]:
        with world.db.factory() as s:
            return [p.id for p in service.list_permits(s, sm, **kw).items]

    assert ids() == [wh, cs, hw]
    assert ids(status="live") == [cs] and ids(status="draft,pending_approval") == [wh, cs, hw]
    assert ids(type_code="hot_work") == [hw]
    assert ids(start=later, end=later + timedelta(hours=1)) == [wh]
    assert ids(start=DAY, end=DAY + timedelta(hours=1)) == [cs, hw]
    g = world.permit(cs).guardian_id
    assert ids(guardian_id=g) == [cs] and ids(person_id=g) == [cs]
    with world.db.factory() as s:
        worker = crew(s, sm.enterprise_id).workers[0].id
    assert ids(person_id=worker) == [wh, cs, hw]
    assert ids(area_id=world.t.area2_id) == []
    with world.db.factory() as s:
        page = service.list_permits(s, sm, limit=1, offset=1)
        assert page.total == 3 and [p.id for p in page.items] == [cs]
        with pytest.raises(ValidationFailed):
            service.list_permits(s, sm, status="open")
        with pytest.raises(NotFound):
            service.get(s, sm, other)
        assert [p.id for p in service.list_permits(s, world.other).items] == [other]


def test_start_refused_until_ready_then_started(world: World) -> None:
    sm = world.actor("safety_manager")
    pid = world.run(make_approved, sm, "hot_work", actor=sm)
    at = DAY + timedelta(minutes=10)
    err = refused(world, ValidationFailed, service.start, sm, pid, pid=pid, actor=sm, now=at)
    assert {e.field for e in err.errors} == {"signatures", "measures", "gas_analyses"}
    world.run(make_ready, sm, world.permit(pid), at=at, actor=sm)
    world.do(sm, service.start, pid, now=at)
    p = world.permit(pid)
    assert p.status == "active" and p.started_at == at
    kinds = events(world, pid)
    assert kinds[:3] == ["applied", "submitted", "approved"] and kinds[-1] == "started"
    with world.db.factory() as s:
        m = s.scalars(select(PermitMeasure).where(PermitMeasure.permit_id == pid)).first()
        assert m is not None and m.applicable is True and m.confirmed_by_user_id == sm.user_id
    assert outbox(world, "permit.started")[0]["payload"]["id"] == pid


def test_failed_gas_suspends_active_work_until_a_new_analysis(world: World) -> None:
    sm = world.actor("safety_manager")
    pid = world.run(make_active, sm, "confined_space", actor=sm)
    at = DAY + timedelta(minutes=40)
    world.do(sm, service.record_gas, pid, kind="oxygen", value=18.9, unit="%vol", sampled_at=at, now=at)
    p = world.permit(pid)
    assert (p.status, p.suspend_reason) == ("suspended", "gas_alarm")
    suspended = outbox(world, "permit.suspended")
    assert suspended[0]["payload"]["reason"] == "gas_alarm" and suspended[0]["payload"]["value"] == 18.9
    leader = crew_actor(world, "leader")
    err = refused(world, ValidationFailed, service.resume, leader, pid, pid=pid, actor=leader,
                  now=at + timedelta(minutes=5))
    assert "6.5" in shown(err.errors, "en")[0]
    for kind, value in (("oxygen", 20.5), ("combustible", 1.0)):
        world.do(sm, service.record_gas, pid, kind=kind, value=value, unit="%vol" if kind == "oxygen" else "%LEL",
                 sampled_at=at + timedelta(minutes=8), now=at + timedelta(minutes=9))
    world.do(leader, service.resume, pid, now=at + timedelta(minutes=10))
    assert world.permit(pid).status == "active"


def crew_actor(world: World, who: str) -> Any:
    with world.db.factory() as s:
        c = crew(s, world.t.enterprise_id)
        return c.actor(c.leader) if who == "leader" else c.actor(c.workers[0])


def test_signatures_are_personal(world: World, tmp_path: Path) -> None:
    sm = world.actor("safety_manager")
    pid = world.run(make_approved, sm, "hot_work", actor=sm)
    leader = crew_actor(world, "leader")
    at = DAY + timedelta(minutes=1)
    # the work leader may not sign as guardian; an account without a person may not sign at all
    err = refused(world, Conflict, service.sign, leader, pid, "guardian", pid=pid, actor=leader, now=at)
    assert "4.10" in render(err.message, err.params, "zh_CN")
    refused(world, Conflict, service.sign, sm, pid, "briefer", pid=pid, actor=sm, now=at)
    with world.db.factory() as s:
        g = person_actor(s, world.permit(pid).guardian_id or 0)
    sid = world.do(g, service.sign, pid, "guardian", signature_png=png(), var_dir=tmp_path, lat=31.2, lon=121.5,
                   now=at)
    with world.db.factory() as s:
        sig = s.get(PermitSignature, sid)
        assert sig is not None and sig.image_sha256 and sig.lat == 31.2 and sig.at == at
        assert (tmp_path / "uploads" / str(sm.enterprise_id) / sig.image_stored_name).is_file()
    refused(world, Conflict, service.sign, g, pid, "guardian", pid=pid, actor=g, now=at)  # twice
    refused(world, ValidationFailed, service.sign, leader, pid, "work_leader", pid=pid, actor=leader,
            signature_png=b"not a png", var_dir=tmp_path, now=at)
    # a briefee must be named on the permit
    with world.db.factory() as s:
        stranger = guardian(s, sm.enterprise_id, name="路人")
        s.commit()
        sa = person_actor(s, stranger.id)
    refused(world, Conflict, service.sign, sa, pid, "briefee", pid=pid, actor=sa, now=at)


def test_suspend_resume_after_a_long_break(world: World) -> None:
    sm = world.actor("safety_manager")
    pid = world.run(make_active, sm, "hot_work", actor=sm)
    worker = crew_actor(world, "worker")
    at = DAY + timedelta(minutes=30)
    err = refused(world, Conflict, service.suspend, worker, pid, "break", pid=pid, actor=worker, now=at)
    assert "4.10" in render(err.message, err.params, "en")
    refused(world, ValidationFailed, service.suspend, sm, pid, "gas_alarm", pid=pid, actor=sm, now=at)
    with world.db.factory() as s:
        g = person_actor(s, world.permit(pid).guardian_id or 0)
    world.do(g, service.suspend, pid, "break", "午休", now=at)
    assert world.permit(pid).suspend_reason == "break"
    back = at + timedelta(minutes=61)  # second grade: re-analysis after a break over 60 min
    err = refused(world, ValidationFailed, service.resume, g, pid, pid=pid, actor=g, now=back)
    assert "5.3.1 d" in shown(err.errors, "en")[0]
    world.do(sm, service.record_gas, pid, kind="combustible", value=0.1, unit="%vol", sampled_at=back, now=back)
    world.do(g, service.resume, pid, now=back)
    p = world.permit(pid)
    assert p.status == "active" and p.suspended_at is None
    assert events(world, pid)[-3:] == ["suspended", "gas_recorded", "resumed"]


def test_complete_and_acceptance_not_by_the_crew(world: World) -> None:
    sm = world.actor("safety_manager")
    pid = world.run(make_active, sm, "work_at_height", actor=sm)
    leader = crew_actor(world, "leader")
    at = DAY + timedelta(hours=2)
    world.do(leader, service.complete, pid, "完工", now=at)
    assert world.permit(pid).status == "completed"
    err = refused(world, Conflict, service.close, leader, pid, pid=pid, actor=leader, now=at)
    assert "Appendix A" in render(err.message, err.params, "en")
    refused(world, Exception, service.close, world.actor("worker"), pid, pid=pid, actor=world.actor("worker"))
    world.do(sm, service.close, pid, "验收合格", now=at + timedelta(minutes=5))
    p = world.permit(pid)
    assert p.status == "closed" and p.closed_at == at + timedelta(minutes=5)
    with world.db.factory() as s:
        steps = [x.step for x in service.signatures(s, p)]
    assert steps[-1] == "acceptance"
    assert outbox(world, "permit.closed")[0]["payload"]["status"] == "closed"


def test_cancel_by_applicant_guardian_or_manager(world: World) -> None:
    sm, tl = world.actor("safety_manager"), world.actor("team_leader")
    mine = world.run(make_permit, tl, "road_breaking", actor=tl)
    refused(world, ValidationFailed, service.cancel, tl, mine, "  ", pid=mine, actor=tl)
    worker = crew_actor(world, "worker")
    refused(world, Conflict, service.cancel, worker, mine, "不需要了", pid=mine, actor=worker)
    world.do(tl, service.cancel, mine, "不需要了")
    p = world.permit(mine)
    assert (p.status, p.cancel_reason) == ("cancelled", "不需要了")
    assert outbox(world, "permit.cancelled")[0]["payload"]["reason"] == "不需要了"
    active = world.run(make_active, sm, "hot_work", actor=sm)
    refused(world, Conflict, service.cancel, tl, active, "收回", pid=active, actor=tl)  # not the applicant any more
    with world.db.factory() as s:
        g = person_actor(s, world.permit(active).guardian_id or 0)
    world.do(g, service.cancel, active, "违章作业，收回作业票", now=DAY + timedelta(minutes=20))
    assert world.permit(active).status == "cancelled"
    refused(world, Conflict, service.cancel, sm, active, "再次", pid=active, actor=sm)  # already ended


def test_expire_due_by_the_tick(world: World) -> None:
    sm = world.actor("safety_manager")
    active = world.run(make_active, sm, "hot_work", actor=sm)
    draft = world.run(make_permit, sm, "hot_work", actor=sm)
    assert ticker.tick(world.db.factory, DAY + timedelta(hours=2)) == []
    assert ticker.tick(world.db.factory, DAY + timedelta(hours=3)) == [active]
    assert world.permit(active).status == "expired" and world.permit(draft).status == "draft"
    assert events(world, active)[-1] == "expired"
    assert ticker.tick(world.db.factory, DAY + timedelta(hours=4)) == []


def test_content_hash_covers_the_content_only(world: World) -> None:
    sm = world.actor("safety_manager")
    pid = world.run(make_approved, sm, "hot_work", actor=sm)
    with world.db.factory() as s:
        p = service.get(s, sm, pid)
        h = snapshot.content_sha256(s, p)
        assert p.content_sha256 == h and len(h) == 64
        p.status = "active"  # the status is not content
        assert snapshot.content_sha256(s, p) == h
        p.content = "别的作业"
        assert snapshot.content_sha256(s, p) != h
        s.rollback()


def test_contractor_worker_must_be_admitted(world: World) -> None:
    sm = world.actor("safety_manager")
    ent = sm.enterprise_id
    with world.db.factory() as s:
        co = ContractorCompany(enterprise_id=ent, name="安达检修", status="admitted", agreement_until=date(2030, 1, 1))
        s.add(co)
        s.flush()
        w = Person(enterprise_id=ent, employee_no="C-1", name="外协焊工", contractor_company_id=co.id)
        w.certificates.append(Certificate(enterprise_id=ent, kind="焊工", kind_code="TZ-WELD", number="W1"))
        s.add(w)
        s.commit()
        wid = w.id
    err = refused(world, ValidationFailed, make_permit, sm, "hot_work", workers=[{"person_id": wid}], actor=sm)
    assert err.errors[0].field == "workers.0.person_id" and "外协焊工" in shown(err.errors, "en")[0]
    with world.db.factory() as s:
        s.add(SafetyInduction(enterprise_id=ent, person_id=wid, held_on=date(2026, 11, 1), topic="入场教育",
                              passed=True, valid_until=date(2027, 11, 1)))
        s.commit()
    world.run(make_permit, sm, "hot_work", workers=[{"person_id": wid}], actor=sm)
