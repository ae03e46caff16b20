"""The live sensor link (issue 7 point 4) on both backends, through the real ingest path: readings
go through a Pipeline and the StoreForwarder into the store and from there to the permit
monitor (as IngestService wires it); the app's relay, bus and notification consumer deliver the
``permit.suspended`` event to people's in-app feeds.

A breach of an active permit suspends it once (reason gas_alarm, a failed live analysis, history,
outbox event, in-app notices to the work leader and guardian) and work resumes only after a new
passed analysis; a breach of an approved permit is recorded once per breach and blocks the start;
unbound points, readings older than the permit's last change and other tenants' readings are
ignored. ``live_analysis_ok`` stands for the 30-minute analysis of special-grade hot work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from plantguard.assets.models import MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.errors import Conflict, ValidationFailed
from plantguard.core.i18n import gettext
from plantguard.core.settings import Settings
from plantguard.events.models import OutboxMessage
from plantguard.ingest.buffer import DurableBuffer
from plantguard.ingest.connector import BoundPoint, DeviceSpec
from plantguard.ingest.pipeline import Pipeline, StoreForwarder
from plantguard.ingest.reading import Reading, ReadingBatch, to_us
from plantguard.ingest.service import IngestService
from plantguard.notifications.models import Notification
from plantguard.permits import monitor, points, service
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import GasAnalysis, Permit, PermitEvent, PermitPoint
from plantguard.permits.monitor import PermitMonitor, live_analysis_ok
from plantguard.tenancy.models import User
from tests.api.conftest import Env, build_app
from tests.conftest import Db
from tests.permits.conftest import World
from tests.permits.factories import approve_now, make_permit, make_ready
from tests.permits.test_conflicts import app_env, world_of

T = TypeVar("T")


def wait_for(fn: Callable[[], T], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@dataclass
class Gas:
    """The tenant's gas detectors on its equipment EQ-1 (area ST)."""

    lel: int  # methane-calibrated, %LEL
    o2: int  # %vol
    h2s: int  # ppm
    spec: DeviceSpec[Any, Any]


def gas_points(db: Db, enterprise_id: int, equipment_id: int) -> Gas:
    defs = [("GD-LEL", "可燃气体浓度", "gas_lel", "%LEL", 0.0, 100.0), ("GD-O2", "氧含量", "gas_o2", "%vol", 0.0, 30.0),
            ("GD-H2S", "硫化氢浓度", "gas_h2s", "ppm", 0.0, 100.0)]
    with db.factory() as s:
        bind_actor(s, None)
        rows = [MeasurementPoint(enterprise_id=enterprise_id, equipment_id=equipment_id, code=c, name=n, quantity=q,
                                 unit=u, range_low=lo, range_high=hi) for c, n, q, u, lo, hi in defs]
        s.add_all(rows)
        s.commit()
        ids = [r.id for r in rows]
    spec: DeviceSpec[Any, Any] = DeviceSpec(
        device_id=enterprise_id, enterprise_id=enterprise_id, code="GDS", protocol="test", connection=None,
        points=tuple(BoundPoint(i, d[0], None, d[4], d[5]) for i, d in zip(ids, defs, strict=True)),
        known_points={d[0]: (i, d[4], d[5]) for i, d in zip(ids, defs, strict=True)}, version="v1")
    return Gas(ids[0], ids[1], ids[2], spec)


@dataclass
class Link:
    w: World
    gas: Gas
    mon: PermitMonitor
    pipe: Pipeline
    now: datetime

    def feed(self, point_id: int, values: list[float], start: datetime | None = None, step_s: float = 1.0,
             spec: DeviceSpec[Any, Any] | None = None) -> None:
        """Readings through the real pipeline and store, then the monitor judges them."""
        start = start or self.now - timedelta(seconds=len(values) * step_s + 1)
        rs = [Reading(point_id, start + timedelta(seconds=i * step_s), v) for i, v in enumerate(values)]
        assert self.pipe.submit(spec or self.gas.spec, rs) == len(rs)
        while asyncio.run(self.pipe.forward_once()):
            pass
        self.mon.drain()

    def active(self, type_code: str = "hot_work", grade: str | None = "second", **kw: Any) -> int:
        return self._permit(type_code, grade, start=True, **kw)

    def approved(self, type_code: str = "hot_work", grade: str | None = "second", **kw: Any) -> int:
        return self._permit(type_code, grade, start=False, **kw)

    def _permit(self, type_code: str, grade: str | None, *, start: bool, ready_at: datetime | None = None,
                **kw: Any) -> int:
        """A permit valid from 40 min ago for 3 h, approved and (when ``start``) started 30 min ago."""
        sm = self.w.actor("safety_manager")
        t0 = self.now - timedelta(minutes=40)

        def make(s: Any) -> int:
            p = make_permit(s, sm, type_code, grade, now=t0 - timedelta(hours=2), planned_start=t0,
                            planned_end=t0 + timedelta(hours=3), **kw)
            service.submit(s, sm, p.id, now=t0 - timedelta(hours=1))
            approve_now(s, p, t0 - timedelta(minutes=30))
            if start:
                at = ready_at or t0 + timedelta(minutes=10)
                make_ready(s, sm, p, at=at)
                service.start(s, sm, p.id, now=at)
            return p.id

        return int(self.w.run(make, actor=sm))

    def bind(self, permit_id: int, point_id: int, kind: str = "combustible", **kw: Any) -> None:
        self.w.do(self.w.actor("safety_manager"), points.bind, permit_id, point_id=point_id, kind=kind, **kw)
        self.mon.refresh()


@pytest.fixture
def link(world: World, tmp_path: Path) -> Iterator[Link]:
    gas = gas_points(world.db, world.t.enterprise_id, world.t.equipment_id)
    mon = PermitMonitor(world.db.factory)
    pipe = Pipeline(world.db.engine, DurableBuffer(tmp_path / "buffer.sqlite"), StoreForwarder(world.db.engine),
                    on_forwarded=mon.on_forwarded)
    try:
        yield Link(world, gas, mon, pipe, datetime.now(UTC).replace(microsecond=0))
    finally:
        pipe.buffer.close()


def history(w: World, pid: int) -> list[tuple[str, str | None]]:
    with w.db.factory() as s:
        return [(e.kind, e.status_to) for e in s.scalars(select(PermitEvent).where(PermitEvent.permit_id == pid)
                                                         .order_by(PermitEvent.id))]


def live_analyses(w: World, pid: int) -> list[GasAnalysis]:
    with w.db.factory() as s:
        return list(s.scalars(select(GasAnalysis).where(GasAnalysis.permit_id == pid, GasAnalysis.source == "live")
                              .order_by(GasAnalysis.id)))


def outbox(w: World, event_type: str, pid: int) -> list[dict[str, Any]]:
    with w.db.factory() as s:
        envs = [m.envelope for m in s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == event_type)
                                              .order_by(OutboxMessage.id))]
    return [e["payload"] for e in envs if e["payload"]["id"] == pid]


def test_a_breach_suspends_active_work_once_and_alerts_leader_and_guardian(world: World, link: Link) -> None:
    pid = link.active()  # hot work on methane: ≤ 0.5 % vol = 10 %LEL (5.3.2)
    sm = world.actor("safety_manager")
    link.bind(pid, link.gas.lel, gas_code="methane")
    p = world.permit(pid)
    with world.db.factory() as s:
        users = {u.person_id: u for u in s.scalars(select(User).where(
            User.person_id.in_([p.work_leader_id, p.guardian_id])))}
        users[p.guardian_id].locale = "en"  # type: ignore[index]
        s.commit()
    leader, guardian = users[p.work_leader_id].id, users[p.guardian_id].id  # type: ignore[index]
    with build_app(world.db, None):  # relay, bus and notification consumer of a running app
        link.feed(link.gas.lel, [4.0, 6.0, 12.0, 14.0, 13.0, 3.0])

        p = world.permit(pid)
        assert (p.status, p.suspend_reason) == (S.SUSPENDED, "gas_alarm")
        assert "GD-LEL: 12 %LEL" in p.suspend_note and "6.5" in p.suspend_note
        assert history(world, pid)[-1] == ("suspended", S.SUSPENDED)
        assert [k for k, _ in history(world, pid)].count("suspended") == 1
        [a] = live_analyses(world, pid)
        assert (a.kind, a.point_id, a.value, a.unit, a.passed, a.gas_code) == (
            "combustible", link.gas.lel, 12.0, "%LEL", False, "methane")
        assert a.vol_pct == pytest.approx(0.6) and "5.3.2" in a.limit_text
        [event] = outbox(world, "permit.suspended", pid)
        assert (event["reason"], event["point_id"], event["value"]) == ("gas_alarm", link.gas.lel, 12.0)
        assert "≤0.5%vol" in event["limit"] and sorted(event["notify_user_ids"]) == sorted([leader, guardian])
        with world.db.factory() as s:
            pp = s.scalars(select(PermitPoint).where(PermitPoint.permit_id == pid)).one()
            # The last reading judged while it was active; the store keeps the newest (3.0) for display.
            assert pp.last_value == 12.0 and pp.last_ts is not None
        assert [(x["code"], x["current_value"]) for x in world.run(lambda s: points.bound(s, sm, pid))] == [
            ("GD-LEL", 3.0)]

        def feed() -> dict[int, Notification]:
            with world.db.factory() as s:
                rows = s.scalars(select(Notification).where(Notification.event_type == "permit.suspended",
                                                            Notification.channel_kind == "inapp"))
                got = {n.user_id: n for n in rows if n.user_id is not None}
            return got if {leader, guardian} <= set(got) else {}

        notes = wait_for(feed)
        assert notes, "the work leader and guardian were not told"
        assert notes[leader].title == f"作业票 {p.number} 已暂停：立即停止作业"
        assert notes[guardian].title == f"Permit {p.number} suspended: stop work"
        assert "gas reading over the permit's limit (GB 30871-2022 6.5)" in notes[guardian].body
        assert notes[leader].link == f"/permits/{pid}" and notes[leader].urgent

    # More gas: the permit is no longer watched, nothing more happens.
    link.mon.refresh()
    link.feed(link.gas.lel, [15.0, 16.0], start=link.now - timedelta(seconds=1))
    assert len(live_analyses(world, pid)) == 1 and len(outbox(world, "permit.suspended", pid)) == 1

    # Work resumes only after a new passed analysis (A's resume, 6.5).
    with pytest.raises(ValidationFailed) as refused:
        world.do(sm, service.resume, pid, now=link.now + timedelta(minutes=2))
    assert any("6.5" in str(e.params.get("clause", "")) for e in refused.value.errors)
    world.do(sm, service.record_gas, pid, kind="combustible", gas_code="methane", value=2.0, unit="%LEL",
             sampled_at=link.now + timedelta(minutes=3), sample_point="动火点", analyst_name="化验员",
             now=link.now + timedelta(minutes=3))
    world.do(sm, service.resume, pid, now=link.now + timedelta(minutes=4))
    assert world.permit(pid).status == S.ACTIVE


def test_a_breach_of_an_approved_permit_is_recorded_once_per_breach_and_blocks_the_start(
        world: World, link: Link) -> None:
    pid = link.approved()
    sm = world.actor("safety_manager")
    world.run(lambda s: make_ready(s, sm, s.get(Permit, pid), at=link.now - timedelta(minutes=5)), actor=sm)
    link.bind(pid, link.gas.lel, gas_code="methane")
    link.feed(link.gas.lel, [3.0, 12.0, 13.0, 4.0, 15.0])  # two breaches: 12–13, then 15
    assert world.permit(pid).status == S.APPROVED
    got = live_analyses(world, pid)
    assert [(a.value, a.passed) for a in got] == [(12.0, False), (15.0, False)]
    assert [k for k, _ in history(world, pid)].count("gas_recorded") == 1 + 2  # make_ready's manual one + 2
    assert [e["passed"] for e in outbox(world, "permit.gas_recorded", pid)][-2:] == [False, False]
    # Still over the limit after a refresh: the same breach, not a new one.
    link.mon.refresh()
    link.feed(link.gas.lel, [16.0], start=link.now)
    assert len(live_analyses(world, pid)) == 2

    with pytest.raises(ValidationFailed) as refused:
        world.do(sm, service.start, pid, now=link.now + timedelta(minutes=1))
    assert any("failed" in gettext(e.message, "en", **e.params) for e in refused.value.errors)
    world.do(sm, service.record_gas, pid, kind="combustible", gas_code="methane", value=1.0, unit="%LEL",
             sampled_at=link.now + timedelta(minutes=2), sample_point="动火点", analyst_name="化验员",
             now=link.now + timedelta(minutes=2))
    world.do(sm, service.start, pid, now=link.now + timedelta(minutes=3))
    assert world.permit(pid).status == S.ACTIVE


def test_unbound_points_old_readings_unwatched_permits_and_other_tenants_are_ignored(
        world: World, link: Link) -> None:
    pid = link.active("confined_space", None)
    link.bind(pid, link.gas.o2, kind="oxygen")
    link.bind(pid, link.gas.h2s, kind="toxic")  # H2S: MAC 10 mg/m³ ≈ 7.2 ppm (6.4 b)
    draft = int(world.run(lambda s: make_permit(s, world.actor("safety_manager"), "hot_work", "second"),
                          actor=world.actor("safety_manager")))
    world.do(world.actor("safety_manager"), points.bind, draft, point_id=link.gas.lel, kind="combustible",
             gas_code="methane")
    link.mon.refresh()
    assert link.mon.refresh() == 2  # the draft's binding is not watched

    link.feed(link.gas.lel, [80.0, 90.0])  # bound only to the draft
    link.feed(link.gas.o2, [17.0], start=link.now - timedelta(hours=1))  # before the work started
    other = gas_points(world.db, world.t2.enterprise_id, world.t2.equipment_id)
    o2_spec = DeviceSpec(device_id=99, enterprise_id=world.t2.enterprise_id, code="X", protocol="test",
                         connection=None, points=(BoundPoint(link.gas.o2, "GD-O2", None, 0.0, 30.0),), version="v1")
    link.feed(link.gas.o2, [15.0], spec=o2_spec)  # the first tenant's point id in another tenant's batch
    link.feed(link.gas.h2s, [5.0, 7.0])  # ≤ 10 mg/m³
    link.feed(other.o2, [12.0], spec=other.spec)  # the other tenant's own detector
    assert world.permit(pid).status == S.ACTIVE and live_analyses(world, pid) == []
    assert world.permit(draft).status == S.DRAFT and live_analyses(world, draft) == []

    link.feed(link.gas.h2s, [8.0])  # 11.2 mg/m³ > MAC 10
    p = world.permit(pid)
    assert (p.status, p.suspend_reason) == (S.SUSPENDED, "gas_alarm")
    [a] = live_analyses(world, pid)
    assert (a.kind, a.gas_code, a.value, a.unit) == ("toxic", "hydrogen_sulfide", 8.0, "ppm")
    assert "MAC ≤10 mg/m³" in a.limit_text and "6.4 b" in a.limit_text


def test_continuous_monitoring_stands_for_the_analysis_of_special_grade_hot_work(world: World, link: Link) -> None:
    start = link.now + timedelta(seconds=20)
    pid = link.approved(grade="special")
    sm = world.actor("safety_manager")
    # Ready (signatures, measures) but the manual analysis is 70 min old at the start.
    world.run(lambda s: make_ready(s, sm, s.get(Permit, pid), at=start - timedelta(hours=1)), actor=sm)

    def ok(at: datetime = start) -> bool:
        with world.db.factory() as s:
            p = s.get(Permit, pid)
            assert p is not None
            return live_analysis_ok(s, p, at)

    assert not ok()  # no point bound
    link.bind(pid, link.gas.lel, gas_code="methane")
    assert not ok()  # bound, no reading yet
    with pytest.raises(ValidationFailed) as refused:
        world.do(sm, service.start, pid, now=start)
    assert any("30 min" in gettext(e.message, "en", **e.params) for e in refused.value.errors)

    link.feed(link.gas.lel, [2.0, 3.0], start=link.now - timedelta(seconds=5))
    assert ok()
    assert not ok(start + timedelta(seconds=monitor.max_age_s() + 10))  # the newest reading too old
    world.do(sm, service.start, pid, now=start)
    assert world.permit(pid).status == S.ACTIVE

    # Over the limit: not ok (and the running work is suspended).
    link.mon.refresh()
    link.feed(link.gas.lel, [11.0], start=link.now + timedelta(seconds=30))
    assert not ok(start + timedelta(seconds=5))
    assert world.permit(pid).status == S.SUSPENDED


def test_a_confined_space_needs_oxygen_too(world: World, link: Link) -> None:
    pid = link.approved("confined_space", None)
    link.bind(pid, link.gas.lel, gas_code="methanol")
    at = link.now + timedelta(seconds=1)

    def ok() -> bool:
        with world.db.factory() as s:
            p = s.get(Permit, pid)
            assert p is not None
            return live_analysis_ok(s, p, at)

    link.feed(link.gas.lel, [1.0])
    assert not ok()  # oxygen (6.4 a) not watched
    link.bind(pid, link.gas.o2, kind="oxygen")
    link.feed(link.gas.o2, [20.5])
    assert ok()
    link.feed(link.gas.o2, [19.0], start=link.now)
    assert not ok()  # below 19.5 % vol


def test_the_ingest_service_feeds_the_monitor_beside_detection(db: Db, tmp_path: Path) -> None:
    settings = Settings(database_url=db.url, var_dir=tmp_path, bus_url="inprocess://")
    svc = IngestService(settings, db.engine, db.factory)
    try:
        assert svc.detection is not None and svc.permits is not None
        svc.permits._points = frozenset({42})
        batch = ReadingBatch(1)
        batch.append(42, to_us(datetime.now(UTC)), 1.0)
        batch.append(43, to_us(datetime.now(UTC)), 1.0)
        assert svc.pipeline.on_forwarded is not None
        svc.pipeline.on_forwarded(batch)
        assert list(svc.permits._queue) == [(1, [(42, batch.ts[0], 1.0)])]  # only the watched point
        assert len(svc.detection._queue) == 1  # detection saw the whole batch
    finally:
        svc.buffer.close()
    off = IngestService(settings, db.engine, db.factory, permits=False)
    try:
        assert off.permits is None
    finally:
        off.buffer.close()


# -- binding (API) -----------------------------------------------------------------------------


def test_binding_points_through_the_api(db: Db, tmp_path: Path) -> None:
    with app_env(db, tmp_path) as env:
        binding_api(env)


def binding_api(env: Env) -> None:
    w = world_of(env)
    gas = gas_points(env.db, env.t1.enterprise_id, env.t1.equipment_id)
    other = gas_points(env.db, env.t2.enterprise_id, env.t2.equipment_id)
    sm = w.actor("safety_manager")
    hw = int(w.run(lambda s: make_permit(s, sm, "hot_work", "second"), actor=sm))
    cs = int(w.run(lambda s: make_permit(s, sm, "confined_space", None), actor=sm))

    def call(method: str, path: str, role: str = "safety_manager", lang: str = "en", **kw: Any) -> Any:
        return env.client.request(method, f"/api/v1/permits{path}", headers=env.as_role(role, lang=lang), **kw)

    # Suggestions: the work's kinds only (hot work: combustible), points of its area, not yet bound.
    assert [p["code"] for p in call("GET", f"/{hw}/points/suggest").json()] == ["GD-LEL"]
    assert [p["code"] for p in call("GET", f"/{cs}/points/suggest").json()] == ["GD-H2S", "GD-LEL", "GD-O2"]

    r = call("POST", f"/{hw}/points", json={"point_id": gas.lel, "kind": "combustible"})
    assert r.status_code == 201, r.text
    assert (r.json()["code"], r.json()["kind"], r.json()["gas_code"]) == ("GD-LEL", "combustible", "methane")
    assert call("GET", f"/{hw}/points/suggest").json() == []
    assert [p["point_id"] for p in call("GET", f"/{hw}/points", "worker").json()] == [gas.lel]
    assert history(w, hw)[-1] == ("point_bound", None)

    def refused(body: dict[str, Any], pid: int = hw, lang: str = "en") -> tuple[int, dict[str, str]]:
        before = w.footprint(pid)
        r = call("POST", f"/{pid}/points", lang=lang, json=body)
        assert w.footprint(pid) == before
        errs = r.json().get("errors") or [{"field": "", "message": r.json()["detail"]}]
        return r.status_code, {e["field"]: e["message"] for e in errs}

    assert refused({"point_id": other.lel, "kind": "combustible"}) == (422, {"point_id": "No such measurement point"})
    assert refused({"point_id": env.t1.point_id, "kind": "combustible"}) == (
        422, {"point_id": "Point EQ-1-HP does not measure a gas"})
    assert refused({"point_id": gas.o2, "kind": "combustible"}, cs) == (
        422, {"kind": "Point GD-O2 measures gas_o2: its kind is oxygen"})
    assert refused({"point_id": gas.o2, "kind": "oxygen"}) == (
        422, {"kind": "GB 30871-2022 sets no oxygen limit for this work: such a point cannot be watched for it"})
    assert refused({"point_id": gas.o2, "kind": "oxygen"}, lang="zh-CN") == (
        422, {"kind": "GB 30871-2022 未对该作业规定氧气限值，不能为其监测此类测点"})
    assert refused({"point_id": gas.lel, "kind": "combustible"}) == (
        409, {"": "Point GD-LEL is already bound to this permit"})
    assert refused({"point_id": gas.lel, "kind": "combustible", "gas_code": "unobtainium"}, cs) == (
        422, {"gas_code": "Name the gas this point measures: the combustible limit depends on its LEL "
                          "(GB 30871-2022 5.3.2)"})
    assert refused({"point_id": gas.lel, "kind": "combustible", "gas_code": "unobtainium"}, cs, "zh-CN") == (
        422, {"gas_code": "请指明该测点检测的气体：可燃气体限值取决于其爆炸下限（GB 30871-2022 5.3.2）"})
    assert call("POST", f"/{hw}/points", "worker", json={"point_id": gas.o2, "kind": "oxygen"}).status_code == 403
    assert call("POST", f"/{hw}/points", json={"point_id": gas.o2, "kind": "nitrogen"}).status_code == 422
    # Another tenant's permit is not found, even with its own point.
    r = env.client.post(f"/api/v1/permits/{hw}/points", headers=env.as_role("safety_manager", env.t2),
                        json={"point_id": other.lel, "kind": "combustible"})
    assert r.status_code == 404

    # Binding is not a content edit (4.18): an approved permit takes points, its hash unchanged.
    at = datetime.now(UTC)
    w.do(sm, service.submit, cs, now=at)
    w.run(lambda s: approve_now(s, s.get(Permit, cs), at))
    sha = w.permit(cs).content_sha256
    for point, kind in ((gas.lel, "combustible"), (gas.o2, "oxygen"), (gas.h2s, "toxic")):
        r = call("POST", f"/{cs}/points", json={"point_id": point, "kind": kind})
        assert r.status_code == 201, r.text
    assert w.permit(cs).content_sha256 == sha and w.permit(cs).status == S.APPROVED
    assert {p["code"]: p["gas_code"] for p in call("GET", f"/{cs}/points").json()} == {
        "GD-LEL": "methanol", "GD-O2": "", "GD-H2S": "hydrogen_sulfide"}

    # Unbinding: recorded; refused on a finished permit.
    assert call("DELETE", f"/{cs}/points/{gas.h2s}").status_code == 204
    assert history(w, cs)[-1] == ("point_unbound", None)
    assert call("DELETE", f"/{cs}/points/{gas.h2s}").status_code == 404
    assert call("DELETE", f"/{cs}/points/{gas.o2}", "worker").status_code == 403
    w.do(sm, service.cancel, hw, "计划取消", now=at)
    r = call("DELETE", f"/{hw}/points/{gas.lel}", lang="zh-CN")
    assert r.status_code == 409 and r.json()["detail"] == "该作业票状态为“已取消”，不能解绑监测点"
    r = call("POST", f"/{hw}/points", json={"point_id": gas.lel, "kind": "combustible"})
    assert r.status_code == 409
    assert r.json()["detail"] == "Sensing points cannot be bound to this permit: it is Cancelled"


def test_the_last_point_of_running_special_grade_hot_work_cannot_be_unbound(world: World, link: Link) -> None:
    start = link.now + timedelta(seconds=20)
    pid = link.approved(grade="special")
    sm = world.actor("safety_manager")
    world.run(lambda s: make_ready(s, sm, s.get(Permit, pid), at=start - timedelta(minutes=5)), actor=sm)
    link.bind(pid, link.gas.lel, gas_code="methane")
    world.do(sm, service.start, pid, now=start)
    with pytest.raises(Conflict) as refused:
        world.do(sm, points.unbind, pid, link.gas.lel)
    assert gettext(refused.value.message, "en", **refused.value.params) == (
        "Work under continuous monitoring is in progress: the last combustible gas point cannot be unbound "
        "(GB 30871-2022 5.3.1 d)")
    assert [pp["point_id"] for pp in world.run(lambda s: points.bound(s, sm, pid))] == [link.gas.lel]


def test_a_suspension_the_database_refused_is_made_when_it_is_back(world: World, link: Link) -> None:
    pid = link.active()
    link.bind(pid, link.gas.lel, gas_code="methane")
    working = link.mon.factory
    link.mon.factory = make_session_factory(make_engine(f"sqlite:///{Path('/nonexistent-dir') / 'gone.db'}"))
    link.feed(link.gas.lel, [20.0])  # stored; the monitor cannot write
    assert world.permit(pid).status == S.ACTIVE and link.mon.errors >= 1
    link.mon.factory = working
    assert link.mon.send_unsent()
    p = world.permit(pid)
    assert (p.status, p.suspend_reason) == (S.SUSPENDED, "gas_alarm")
    assert [a.value for a in live_analyses(world, pid)] == [20.0]
    assert link.mon.send_unsent() and len(outbox(world, "permit.suspended", pid)) == 1  # nothing twice
