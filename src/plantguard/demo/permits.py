"""Demo special work permits (特殊作业票, issue 7 point 9): who approves what, and permits of
every type in every state, written through the permit services (``demo/permits.yaml``).

Why through the services, at past moments: every history line, signature, gas analysis and
approval must be one the product itself could have written, so the demo obeys the rules it
shows (validity, gas analysis ≤ 30 min before work, certificates, one guardian per job, the
applicant never giving the final approval ...). Each service takes ``now``; the seed plays
every step of every permit at its own moment.

Choices worth knowing:

* **One timeline.** Every step of every permit is an event at a time; all events are sorted
  and run in time order, so what one permit sees of another (a linked confined-space permit
  being live, a guardian already on a job, an overlapping job flagged as a conflict) is what
  it would have seen then. Nothing is ever recorded after ``now``.
* **Today's work is relative to now** (``rel`` hours from ``now`` rounded down to 10 min): the
  console always shows work in progress, whatever the hour. Hot work at night, on a rest day or
  a holiday is raised one grade like any application (§5); the approval then follows the
  raised grade's process: approvers are taken from the process's waiting steps, not assumed.
* **Approvers** (``PermitApprover``) per role and area, and the plant's ``PermitConfig`` with
  the defaults, are written first; approvals are signed by the first assigned user who is not
  the applicant (an earlier step by the applicant is allowed, the final one is not).
* **No historic events leave**: as in ``demo/dual_prevention.py``, the outbox rows the seed
  wrote are deleted before it commits; the permits' own history carries the story.
* **Expiry** of the one expired permit is the lifecycle move ``service.expire_due`` makes, for
  that permit only (``expire_due`` works on every enterprise).
* Idempotent: nothing is written when the enterprise has any permit (approver rows and the
  configuration are added only where missing).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import partial
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.db import transaction, utcnow
from plantguard.core.errors import PlantGuardError
from plantguard.core.permissions import Actor, Role
from plantguard.demo.dual_prevention import outbox_collected
from plantguard.events.envelope import Context
from plantguard.events.models import OutboxMessage
from plantguard.permits import approvals, gas, lifecycle, points, processes, service
from plantguard.permits.contract import GasKind, SignStep, SuspendReason
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.models import Permit, PermitApprover, PermitConfig
from plantguard.permits.types import get_type
from plantguard.tenancy.models import Area, Enterprise, Person, User
from plantguard.timeseries.alignment.times import plant_tz

CHUNK = 500
STEP = timedelta(minutes=12)  # between two approval signatures
# The plant's position (WGS84) and metres per degree: approvers sign on site (4.11 a), so the
# phone's position is recorded; the demo derives it from the permit's place on the site plan.
ORIGIN = (31.4120, 120.6420)
M_PER_DEG_LAT, M_PER_DEG_LON = 111_000.0, 95_000.0
APPROVE_NOTES = ("同意，按安全措施落实后作业", "已到现场核查，措施落实，同意", "同意")


@dataclass
class Summary:
    created: bool
    permits: int = 0
    approvers: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    suppressed_events: int = 0


def load() -> dict[str, Any]:
    text = resources.files("plantguard.demo").joinpath("permits.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # the C loader when built
    assert isinstance(data, dict)
    return data


@contextmanager
def _quiet_workflow() -> Iterator[None]:
    """SpiffWorkflow logs every task state change at INFO: a few hundred approvals would bury
    the seed's one line in ``plantguard run``'s output."""
    spiff = logging.getLogger("spiff")
    level = spiff.level
    spiff.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        spiff.setLevel(level)


def seed_permits(factory: sessionmaker[Session], *, enterprise_code: str = "DEMO",
                 now: datetime | None = None) -> Summary:
    """Seed the demo enterprise's approvers, permit settings and permits (one transaction)."""
    at = (now or utcnow()).astimezone(UTC)
    data = load()
    with transaction(factory) as session:
        ent = session.scalar(select(Enterprise.id).where(Enterprise.code == enterprise_code))
        if ent is None:
            raise LookupError(f"no enterprise {enterprise_code!r}: seed the demo plant first")
        bind_actor(session, None)
        out = Summary(created=False)
        with _quiet_workflow(), outbox_collected(session) as outbox_ids:
            seeder = _Seeder(session, int(ent), at, data)
            out.approvers = seeder.approvers()
            seeder.config()
            if not session.scalar(select(func.count()).select_from(Permit).where(Permit.enterprise_id == ent)):
                out.permits = seeder.permits()
            session.flush()
            for i in range(0, len(outbox_ids), CHUNK):
                session.execute(delete(OutboxMessage).where(OutboxMessage.event_id.in_(outbox_ids[i:i + CHUNK])))
            out.suppressed_events = len(outbox_ids)
        out.created = bool(out.permits or out.approvers)
        out.by_status = dict(Counter(session.scalars(select(Permit.status).where(Permit.enterprise_id == ent))))
        return out


Event = tuple[datetime, int, str, Callable[[], object]]


class DemoPermitError(RuntimeError):
    """A demo permit step was refused: ``permits.yaml`` no longer fits the rules."""


class _Seeder:
    def __init__(self, session: Session, enterprise_id: int, now: datetime, data: dict[str, Any]) -> None:
        self.s, self.ent, self.now, self.data = session, enterprise_id, now, data
        users = session.scalars(select(User).where(User.enterprise_id == enterprise_id)).all()
        self.actors = {u.username: Actor(u.id, enterprise_id, Role(u.role), u.username, u.display_name or u.username)
                       for u in users}
        self.account = {u.person_id: u.username for u in users if u.person_id is not None}
        self.people = {p.employee_no: p for p in session.scalars(select(Person).where(
            Person.enterprise_id == enterprise_id))}
        self.areas = self._codes(Area)
        self.equipment = self._codes(Equipment)
        self.points = self._codes(MeasurementPoint)
        self.made: dict[str, Permit] = {}
        self._key = ""
        self.events: list[Event] = []
        self.t0 = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)

    def _codes(self, model: Any) -> dict[str, int]:
        rows = self.s.execute(select(model.code, model.id).where(model.enterprise_id == self.ent))
        return {str(code): int(i) for code, i in rows}

    # -- approvers and settings ---------------------------------------------------------------

    def approvers(self) -> int:
        have = {(r.role, r.user_id, r.area_id) for r in self.s.scalars(select(PermitApprover).where(
            PermitApprover.enterprise_id == self.ent))}
        n = 0
        for role, by_area in self.data["approvers"].items():
            for area, username in by_area.items():
                area_id = None if area == "*" else self.areas[area]
                user_id = self.actors[username].user_id
                if (role, user_id, area_id) not in have:
                    approvals.assign(self.s, self.actors["safety"], role=role, user_id=user_id, area_id=area_id)
                    n += 1
        return n

    def config(self) -> None:
        if self.s.scalar(select(PermitConfig.id).where(PermitConfig.enterprise_id == self.ent)) is None:
            processes.put_config(self.s, self.actors["safety"], dict(self.data["config"]))

    # -- the permits ----------------------------------------------------------------------------

    def permits(self) -> int:
        for spec in self.data["permits"]:
            self._plan(spec)
        for at, _seq, key, step in sorted(self.events, key=lambda e: (e[0], e[1])):
            assert at <= self.now, f"demo permit step at {at} after now {self.now}"
            try:
                step()
            except PlantGuardError as exc:
                errors = [f"{e.field}: {e.message % e.params if e.params else e.message}"
                          for e in getattr(exc, "errors", [])]
                raise DemoPermitError(f"demo permit {key}: step at {at:%Y-%m-%d %H:%M} refused: {exc} {errors} "
                                      f"{getattr(exc, 'params', '')}") from exc
        return len(self.made)

    def _at(self, when: datetime, step: Callable[[], object]) -> None:
        self.events.append((when, len(self.events), self._key, step))

    def window(self, spec: dict[str, Any]) -> tuple[datetime, datetime]:
        w = spec["when"]
        if "rel" in w:
            start = self.t0 + timedelta(hours=float(w["rel"]))
        else:
            day = self.now.astimezone(plant_tz()).date() + timedelta(days=int(w["day"]))
            start = datetime.combine(day, time.fromisoformat(str(w["at"])), tzinfo=plant_tz()).astimezone(UTC)
        return start, start + timedelta(hours=float(w["hours"]))

    def _actor_of(self, employee_no: str) -> Actor:
        return self.actors[self.account[self.people[employee_no].id]]

    def _plan(self, spec: dict[str, Any]) -> None:
        """Every step of one permit, each at its moment, up to the state it should reach."""
        key, state = spec["key"], spec["state"]
        self._key = key
        start, end = self.window(spec)
        lead = timedelta(hours=3 if "rel" in spec["when"] else 18)
        applied = min(start - lead, self.t0 - timedelta(hours=3))
        self._at(applied, lambda: self._apply(spec, start, end, applied))
        if state == S.DRAFT:
            return
        self._at(applied + timedelta(minutes=10), lambda: service.submit(
            self.s, self.actors[spec["applicant"]], self.made[key].id, now=applied + timedelta(minutes=10)))
        self._at(applied + timedelta(minutes=20), lambda: self._approve(spec, applied + timedelta(minutes=20)))
        if spec.get("bind"):
            self._at(applied + timedelta(hours=2), lambda: self._bind(spec, applied + timedelta(hours=2)))
        if state == S.CANCELLED:
            c = spec["cancel"]
            self._at(start - timedelta(hours=1), lambda: self._cancel(key, c, start - timedelta(hours=1)))
        if state == S.EXPIRED:
            self._at(end + timedelta(minutes=1), lambda: self._expire(key, end + timedelta(minutes=1)))
        if state not in (S.ACTIVE, S.SUSPENDED, S.COMPLETED, S.CLOSED):
            return
        begun = start + timedelta(minutes=5)
        self._at(begun - timedelta(minutes=30), lambda: self._prepare(spec, begun))
        self._at(begun, lambda: service.start(self.s, self._leader(spec), self.made[key].id, now=begun))
        done = begun + timedelta(hours=float(spec.get("done_h", 0)))
        stop = done if state in (S.COMPLETED, S.CLOSED) else self.t0
        if spec.get("repeat_h"):  # the periodic record of confined-space work (CS11: every 2 h)
            every = timedelta(hours=float(spec["repeat_h"]))
            for k in range(1, int((stop - begun) / every) + 1):
                t = begun + k * every
                if t < stop - timedelta(minutes=5):
                    self._at(t, partial(self._analyses, spec, t, self._gas(spec)))
        if spec.get("break"):
            self._break(spec, begun)
        if spec.get("alarm"):
            a = spec["alarm"]
            when = self.t0 - timedelta(minutes=int(a["ago_min"]))
            self._at(when, lambda: self._alarm(spec, a, when))
        if state in (S.COMPLETED, S.CLOSED):
            self._at(done, lambda: service.complete(self.s, self._leader(spec), self.made[key].id,
                                                    "作业完成，现场已清理", now=done))
        if state == S.CLOSED:
            closed = done + timedelta(minutes=45)
            self._at(closed, lambda: service.close(self.s, self.actors[spec["acceptor"]], self.made[key].id,
                                                   "现场验收合格，工完料净场地清", lat=self._lat(spec),
                                                   lon=self._lon(spec), now=closed))

    def _lat(self, spec: dict[str, Any]) -> float | None:
        return round(ORIGIN[0] - float(spec["plan"][1]) / M_PER_DEG_LAT, 6) if spec.get("plan") else None

    def _lon(self, spec: dict[str, Any]) -> float | None:
        return round(ORIGIN[1] + float(spec["plan"][0]) / M_PER_DEG_LON, 6) if spec.get("plan") else None

    def _leader(self, spec: dict[str, Any]) -> Actor:
        return self._actor_of(spec["leader"])

    # -- the steps ------------------------------------------------------------------------------

    def _apply(self, spec: dict[str, Any], start: datetime, end: datetime, at: datetime) -> None:
        bind_actor(self.s, None, Context())  # each permit its own context (its events' parent)
        ptype = get_type(spec["type"])
        assert ptype is not None, spec["type"]
        base = self.data["defaults"][spec["type"]]
        guardian = [spec["guardian"]] if spec.get("guardian") else []
        named = [spec["leader"], *guardian, *(w for w, _ in spec["workers"])]
        companies = sorted(c for c in (self.people[n].contractor_company_id for n in named) if c is not None)
        values: dict[str, Any] = {
            "type_code": spec["type"], "grade": spec.get("grade"), "content": spec["content"],
            "location": spec["location"], "area_id": self.areas[spec["area"]],
            "equipment_id": self.equipment[spec["equipment"]] if spec.get("equipment") else None,
            "plan_x": spec["plan"][0] if spec.get("plan") else None,
            "plan_y": spec["plan"][1] if spec.get("plan") else None,
            "applicant_unit": spec.get("applicant_unit", ""), "work_unit": spec.get("work_unit", ""),
            "contractor_company_id": companies[0] if companies else None,
            "work_leader_id": self.people[spec["leader"]].id,
            "guardian_id": self.people[spec["guardian"]].id if spec.get("guardian") else None,
            "planned_start": start, "planned_end": end, "fields": dict(spec.get("fields") or {}),
            "risk_identification": spec.get("risk", base["risk"]),
            "jsa": [{"step": a, "hazards": b, "controls": c} for a, b, c in spec.get("jsa", base["jsa"])],
            "other_measures": spec.get("other_measures", ""), "other_measures_by": spec.get("other_measures_by", ""),
            "gas_code": spec.get("gas_code"), "continuous_monitoring": bool(spec.get("continuous")),
            "workers": [{"person_id": self.people[n].id, "role": role} for n, role in spec["workers"]],
            "links": [self.made[k].id for k in spec.get("links") or []],
        }
        self.made[spec["key"]] = service.apply(self.s, self.actors[spec["applicant"]], values, now=at)

    def _approve(self, spec: dict[str, Any], at: datetime) -> None:
        """Sign the waiting steps in turn until approved, or until the step where the spec
        stops (pending at that role) or refuses (rejected with the spec's reason)."""
        p = self.made[spec["key"]]
        reader = self.actors["safety"]
        n = 0
        while p.status == S.PENDING:
            steps = approvals.pending(self.s, reader, p)
            assert steps, f"{spec['key']}: pending with no step to sign"
            step = steps[0]
            if step["role"] == spec.get("stop_at"):
                return
            ids = [c["user_id"] for c in step["candidates"]]
            assert ids, f"{spec['key']}: nobody assigned to {step['role']}"
            signer = next((i for i in ids if i != p.applicant_user_id), ids[0])
            actor = next(a for a in self.actors.values() if a.user_id == signer)
            refuse = spec.get("reject", {}).get("role") == step["role"]
            comment = spec["reject"]["comment"] if refuse else APPROVE_NOTES[n % len(APPROVE_NOTES)]
            approvals.decide(self.s, actor, p.id, approve=not refuse, comment=comment, role=step["role"],
                             lat=self._lat(spec), lon=self._lon(spec), now=at + n * STEP)
            n += 1

    def _bind(self, spec: dict[str, Any], at: datetime) -> None:
        p = self.made[spec["key"]]
        for code, kind, *gas_code in spec["bind"]:
            points.bind(self.s, self.actors[spec["applicant"]], p.id, point_id=self.points[code], kind=kind,
                        gas_code=gas_code[0] if gas_code else None, now=at)

    def _gas(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        if spec.get("gas"):
            return list(spec["gas"])
        ptype = get_type(spec["type"])
        assert ptype is not None
        return [{"kind": k, "value": 20.9, "unit": "%vol"} if k == GasKind.OXYGEN else
                {"kind": k, "value": 1.0, "unit": "%LEL"} for k in gas.required_kinds(ptype, spec.get("fields") or {})]

    def _analyses(self, spec: dict[str, Any], sampled: datetime, samples: list[dict[str, Any]], *,
                  by: Actor | None = None, analyst: str | None = None, point: str = "") -> None:
        no = analyst or spec.get("analyst") or spec.get("guardian") or spec["leader"]
        person = self.people[no]
        for g in samples:
            service.record_gas(self.s, by or self._leader(spec), self.made[spec["key"]].id, kind=g["kind"],
                               value=float(g["value"]), unit=g["unit"], gas_code=g.get("gas"), sampled_at=sampled,
                               sample_point=point or spec["location"][:200], analyst_person_id=person.id,
                               analyst_name=person.name, now=sampled + timedelta(minutes=2))

    def _prepare(self, spec: dict[str, Any], begun: datetime) -> None:
        """Before the start: the checklist, the gas analysis, the sign-offs and the briefing."""
        p, leader = self.made[spec["key"]], self._leader(spec)
        na = set(spec.get("na") or [])
        t = begun - timedelta(minutes=30)
        for m in service.measures(self.s, p):
            service.confirm_measure(self.s, leader, p.id, m.code, applicable=m.code not in na,
                                    note="不适用" if m.code in na else "", now=t)
        samples = self._gas(spec)
        if samples:
            self._analyses(spec, begun - timedelta(minutes=14), samples)
        guardian = self._actor_of(spec["guardian"]) if spec.get("guardian") else None
        before = [begun - timedelta(minutes=m) for m in (9, 8, 7)]
        service.sign(self.s, leader, p.id, SignStep.WORK_LEADER, comment="作业负责人确认", now=before[0])
        if guardian is not None:
            service.sign(self.s, guardian, p.id, SignStep.GUARDIAN, comment="监护人到位", now=before[1])
        service.sign(self.s, leader, p.id, SignStep.BRIEFER, comment="已进行安全交底", now=before[2])
        crew = [self._actor_of(n) for n, _ in spec["workers"] if self.people[n].id in self.account]
        briefees = [self.actors[u] for u in spec.get("briefees") or []] or ([guardian] if guardian else crew[:1])
        for i, who in enumerate(briefees):
            service.sign(self.s, who, p.id, SignStep.BRIEFEE, comment="已接受交底",
                         now=begun - timedelta(minutes=6 - i))
        if spec.get("shift_leader"):
            service.sign(self.s, self.actors[spec["shift_leader"]], p.id, SignStep.SHIFT_LEADER,
                         comment="岗位当班班长验票", now=begun - timedelta(minutes=3))

    def _break(self, spec: dict[str, Any], begun: datetime) -> None:
        b, key = spec["break"], spec["key"]
        stop = begun + timedelta(hours=float(b["at_h"]))
        back = stop + timedelta(minutes=int(b["minutes"]))
        self._at(stop, lambda: service.suspend(self.s, self._leader(spec), self.made[key].id, SuspendReason.BREAK,
                                               b.get("note", ""), now=stop))
        self._at(back - timedelta(minutes=12), lambda: self._analyses(
            spec, back - timedelta(minutes=12),
            [g for g in self._gas(spec) if g["kind"] != GasKind.TOXIC]))
        self._at(back, lambda: service.resume(self.s, self._leader(spec), self.made[key].id, "复工前重新分析合格",
                                              now=back))

    def _alarm(self, spec: dict[str, Any], a: dict[str, Any], at: datetime) -> None:
        """A failed analysis during the work: the service suspends it (6.5)."""
        self._analyses(spec, at, [{"kind": a["kind"], "value": a["value"], "unit": a["unit"], "gas": a.get("gas")}],
                       by=self.actors[a["by"]], analyst=a.get("analyst"), point=a.get("point", ""))

    def _cancel(self, key: str, c: dict[str, Any], at: datetime) -> None:
        service.cancel(self.s, self.actors[c["by"]], self.made[key].id, c["reason"], now=at)

    def _expire(self, key: str, at: datetime) -> None:
        """What ``service.expire_due`` does, for this permit only."""
        p = self.made[key]
        lifecycle.move(self.s, p, "expire", at, lifecycle.SYSTEM, detail={"planned_end": p.planned_end.isoformat()})
