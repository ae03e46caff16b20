"""The permit phone pages (``/m/permits``): my permits and the ones waiting for my signature,
applying from the phone (``/m/permits/new``), and one permit with the steps I can take now
(``/m/permits/{id}``): safety measures, gas analysis, sign-offs with a finger-drawn signature,
approval, start, suspend, resume, complete and completion acceptance.

Why the pages only render and never decide: every step is sent by ``permit-mobile.js`` to the
permit JSON API (``permits/api.py``, ``permits/process_api.py``) through the shared offline
queue (``offline-queue.js``, IndexedDB) with an ``Idempotency-Key`` per step, so the rules are
the service's alone and a step taken where there is no network (tank farms, pits, pipe racks)
is kept on the phone and replayed once, in order, when the network returns; a refusal comes
back with the server's clause-citing message. What is offered here is a courtesy (the steps
this person could take in this status); the service checks everything again.

The live gas readings of bound points come from ``/m/permits/{id}/live`` (JSON, polled by the
page): each newest reading judged against the permit's limit by ``points.judge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.errors import PlantGuardError
from plantguard.core.i18n import N_, gettext
from plantguard.core.permissions import Actor, Perm
from plantguard.permits import apply_form, approvals, points, sheet
from plantguard.permits.board import SUSPEND_LABELS
from plantguard.permits.contract import TERMINAL_STATUSES, SignStep, WorkerRole
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.lifecycle import EVENT_KINDS, TRANSITIONS
from plantguard.permits.models import STATUS_LABELS, Permit, PermitWorker
from plantguard.permits.readiness import KIND_LABELS
from plantguard.permits.steps import person_of
from plantguard.permits.types import all_types, gases, get_type
from plantguard.tenancy.models import Area, Person, Team
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.web.render import render
from plantguard.web.session import WebId

OPEN_LIMIT: Final = 200
DONE_SHOWN: Final = 10
# "What needs me now" first: work under way, stopped work, approved work about to start ...
STATUS_ORDER: Final[dict[str, int]] = {S.ACTIVE: 0, S.SUSPENDED: 1, S.APPROVED: 2, S.PENDING: 3, S.COMPLETED: 4,
                                       S.DRAFT: 5}
# The default window of a phone application (plant time): from in half an hour to 8 h from now.
START_IN: Final = timedelta(minutes=30)
END_IN: Final = timedelta(hours=8)
UNITS: Final = ("%LEL", "%vol", "mg/m3")
# The sign-offs a person gives on the phone (approval is a separate form).
SIGN_STEPS: Final = (SignStep.WORK_LEADER, SignStep.GUARDIAN, SignStep.BRIEFER, SignStep.BRIEFEE,
                     SignStep.SHIFT_LEADER)
# Statuses from which the queued step leads to another (the page shows it while it waits).
STEP_LEADS: Final = {"submit": S.PENDING, "start": S.ACTIVE, "suspend": S.SUSPENDED, "resume": S.ACTIVE,
                     "complete": S.COMPLETED, "close": S.CLOSED}
NO_LIVE = N_("No live points bound")


def _when(statuses: frozenset[str] | set[str]) -> str:
    return " ".join(sorted(statuses))


@dataclass
class Card:
    """One permit line of the inbox."""

    permit: Permit
    type_name: str
    grade_name: str
    area: str
    window: str
    roles: list[str] = field(default_factory=list)  # approver roles waiting for me (inbox only)


def _cards(session: Session, actor: Actor, permits: list[Permit]) -> list[Card]:
    ids = {p.area_id for p in permits}
    names = {a.id: a.name for a in session.execute(select(Area.id, Area.name).where(
        Area.enterprise_id == actor.enterprise_id, Area.id.in_(ids)))} if ids else {}
    return [Card(p, sheet.type_name(p.type_code), sheet.grade_name(p.type_code, p.grade) if _graded(p) else "",
                 names.get(p.area_id, ""), f"{sheet.plant_time(p.planned_start)} – {sheet.plant_time(p.planned_end)}")
            for p in permits]


def _graded(p: Permit) -> bool:
    t = get_type(p.type_code)
    return bool(t and t.graded)


def my_permits(session: Session, actor: Actor) -> tuple[list[Permit], list[Permit]]:
    """(open, recently finished) permits the caller applied for or is named on as work leader,
    guardian or worker; open ones with work under way first."""
    actor.require(Perm.READ)
    me = person_of(session, actor)
    mine: list[ColumnElement[bool]] = []
    if actor.user_id:
        mine.append(Permit.applicant_user_id == actor.user_id)
    if me is not None:
        mine += [Permit.work_leader_id == me, Permit.guardian_id == me,
                 exists().where(PermitWorker.permit_id == Permit.id, PermitWorker.person_id == me,
                                PermitWorker.enterprise_id == actor.enterprise_id)]
    if not mine:
        return [], []
    base = select(Permit).where(Permit.enterprise_id == actor.enterprise_id, or_(*mine))
    open_ = list(session.scalars(base.where(Permit.status.not_in(sorted(TERMINAL_STATUSES)))
                                 .order_by(Permit.planned_start, Permit.id).limit(OPEN_LIMIT)))
    open_.sort(key=lambda p: (STATUS_ORDER.get(p.status, 9), p.planned_start, p.id))
    done = list(session.scalars(base.where(Permit.status.in_(sorted(TERMINAL_STATUSES)))
                                .order_by(Permit.updated_at.desc(), Permit.id.desc()).limit(DONE_SHOWN)))
    return open_, done


def inbox(session: Session, actor: Actor) -> list[Card]:
    """Permits waiting for the caller's approval signature, with the role(s) they sign for."""
    cards = _cards(session, actor, approvals.my_pending(session, actor))
    for c in cards:
        c.roles = [sheet.step_label(s["step"]) for s in approvals.pending(session, actor, c.permit) if s["can_sign"]]
    return cards


def home_area(session: Session, actor: Actor) -> int | None:
    """The caller's team's area (own team first, then a team they lead): the phone's default."""
    me = person_of(session, actor)
    if me is None:
        return None
    own = session.scalar(select(Team.area_id).join(Person, Person.team_id == Team.id).where(
        Person.id == me, Team.enterprise_id == actor.enterprise_id))
    if own is not None:
        return int(own)
    led = session.scalar(select(Team.area_id).where(Team.enterprise_id == actor.enterprise_id, Team.leader_id == me,
                                                    Team.area_id.is_not(None)).order_by(Team.id))
    return int(led) if led is not None else None


def apply_ctx(session: Session, actor: Actor, now: datetime) -> dict[str, Any]:
    """The apply form's choices and defaults (plant time for the window)."""
    actor.require(Perm.APPLY_PERMITS)
    ent = actor.enterprise_id
    areas = session.execute(select(Area.id, Area.code, Area.name).where(Area.enterprise_id == ent)
                            .order_by(Area.code)).all()
    local = now.astimezone(plant_tz()).replace(second=0, microsecond=0)
    return {"types": list(all_types().values()), "areas": areas, "people": apply_form.people(session, actor),
            "gases": gases()["gases"], "roles": list(WorkerRole),
            "default_area": home_area(session, actor), "me": person_of(session, actor),
            "start": (local + START_IN).strftime("%Y-%m-%dT%H:%M"), "end": (local + END_IN).strftime("%Y-%m-%dT%H:%M")}


@dataclass
class Offer:
    """The steps the page offers the caller: which blocks are rendered, and the statuses in
    which each is shown (``data-when``; the script shows them for the status a queued step
    leads to, so work goes on offline)."""

    blocks: dict[str, str] = field(default_factory=dict)  # block → statuses it is shown in
    sign_steps: list[str] = field(default_factory=list)
    approve_roles: list[dict[str, Any]] = field(default_factory=list)

    def has(self, block: str) -> bool:
        return block in self.blocks

    def shown(self, block: str, status: str) -> bool:
        return status in self.blocks.get(block, "").split()


def offer(session: Session, actor: Actor, data: sheet.Sheet, pending: list[dict[str, Any]]) -> Offer:
    p = data.permit
    status = p.status
    me = person_of(session, actor)
    crew = {w.person_id for w in data.workers}
    on_site = actor.can(Perm.MANAGE_PERMITS) or (me is not None and me in (p.guardian_id, p.work_leader_id))
    o = Offer()
    work = actor.can(Perm.WORK_PERMITS)

    def add(block: str, action: str, reachable: set[str], allowed: bool = True) -> None:
        if allowed and status in reachable:
            o.blocks[block] = _when(TRANSITIONS[action][0])

    add("submit", "submit", {S.DRAFT}, actor.can(Perm.APPLY_PERMITS) and (
        p.applicant_user_id == actor.user_id or actor.can(Perm.MANAGE_PERMITS)))
    add("measures", "confirm_measure", set(TRANSITIONS["confirm_measure"][0]), work)
    add("gas", "gas", set(TRANSITIONS["gas"][0]) | {S.DRAFT}, work)
    mine = [s for s in pending if s["can_sign"]]
    if mine:
        o.approve_roles = mine
        add("approve", "approve_step", {S.PENDING})
    if work and me is not None:
        signed = {s.step for s in data.signatures if s.person_id == me}
        steps = [st for st in SIGN_STEPS if st not in signed and (
            (st == SignStep.WORK_LEADER and me == p.work_leader_id) or (st == SignStep.GUARDIAN and me == p.guardian_id)
            or (st == SignStep.BRIEFEE and me in crew | {p.guardian_id, p.work_leader_id})
            or st in (SignStep.BRIEFER, SignStep.SHIFT_LEADER))]
        if steps:
            o.sign_steps = [str(st) for st in steps]
            add("sign", "sign", {S.PENDING, S.APPROVED, S.ACTIVE, S.SUSPENDED})
    add("start", "start", {S.APPROVED}, work)
    add("suspend", "suspend", {S.APPROVED, S.ACTIVE, S.SUSPENDED}, work and on_site)
    add("resume", "resume", {S.APPROVED, S.ACTIVE, S.SUSPENDED}, work and on_site)
    add("complete", "complete", {S.APPROVED, S.ACTIVE, S.SUSPENDED}, work and on_site)
    add("close", "close", {S.ACTIVE, S.SUSPENDED, S.COMPLETED},
        actor.can(Perm.ACCEPT_PERMITS) and (me is None or me not in crew | {p.work_leader_id}))
    return o


def detail_ctx(session: Session, actor: Actor, permit_id: int) -> dict[str, Any]:
    data = sheet.load(session, actor, permit_id)
    pending = approvals.pending(session, actor, data.permit)
    return {"s": data, "p": data.permit, "pending": pending, "offer": offer(session, actor, data, pending),
            "graded": _graded(data.permit), "has_points": bool(data.points)}


def live(session: Session, actor: Actor, permit_id: int) -> list[dict[str, Any]]:
    """The bound points' newest readings, each judged against the permit's limit."""
    data = sheet.load(session, actor, permit_id)
    ptype = data.type
    out = []
    for b in points.bound(session, actor, permit_id):
        value, unit = b["current_value"], b["unit"]
        verdict = None
        if value is not None and ptype is not None and b["kind"]:
            try:
                verdict = points.judge(ptype, data.permit, b["kind"], b["gas_code"] or "", float(value), unit)
            except (PlantGuardError, KeyError, ValueError):  # a unit the limit cannot be read in: no verdict
                verdict = None
        out.append({"point_id": b["point_id"], "code": b["code"], "name": b["name"],
                    "kind": gettext(KIND_LABELS.get(b["kind"] or "", b["kind"] or "")), "unit": unit,
                    "value": value, "at": sheet.plant_time(b["current_ts"], "%H:%M:%S") if b["current_ts"] else "",
                    "passed": verdict.passed if verdict else None, "limit": verdict.limit if verdict else ""})
    return out


def common() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "EVENT_KINDS": EVENT_KINDS, "SUSPEND_LABELS": SUSPEND_LABELS,
            "SIGN_STEP_LABELS": sheet.SIGN_STEP_LABELS, "WORKER_ROLE_LABELS": sheet.WORKER_ROLE_LABELS,
            "GAS_KIND_LABELS": sheet.GAS_KIND_LABELS, "DECISION_LABELS": sheet.DECISION_LABELS,
            "type_name": sheet.type_name, "grade_name": sheet.grade_name, "step_label": sheet.step_label,
            "gas_name": sheet.gas_name, "pt": sheet.plant_time, "is_zh": sheet.is_zh, "msg_text": sheet.message,
            "role_name": lambda role: sheet.step_label(f"approve:{role}"), "units": UNITS,
            "STEP_LEADS": {k: str(v) for k, v in STEP_LEADS.items()},
            "status_names": {k: gettext(v) for k, v in STATUS_LABELS.items()}, "NO_LIVE": NO_LIVE}


def _no_cache(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def mount(app: FastAPI) -> None:
    if getattr(app.state, "permit_mobile_pages", False):
        return
    app.state.permit_mobile_pages = True
    from plantguard.web.views import Page, _db

    @app.get("/m/permits", include_in_schema=False, response_class=HTMLResponse)
    def inbox_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            open_, done = my_permits(session, page.actor)
            ctx = {"waiting": inbox(session, page.actor), "open_cards": _cards(session, page.actor, open_),
                   "done_cards": _cards(session, page.actor, done)}
        return _no_cache(render(request, "mobile/permits.html", **page.ctx(**ctx, **common())))

    @app.get("/m/permits/new", include_in_schema=False, response_class=HTMLResponse)
    def new_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            o = apply_ctx(session, page.actor, utcnow())
        return _no_cache(render(request, "mobile/permit_new.html", **page.ctx(o=o, **common())))

    @app.get("/m/permits/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def permit_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            ctx = detail_ctx(session, page.actor, item_id)
        now_local = datetime.now(plant_tz()).strftime("%Y-%m-%dT%H:%M")
        return _no_cache(render(request, "mobile/permit.html", **page.ctx(
            **ctx, gases=gases()["gases"], now_local=now_local, **common())))

    @app.get("/m/permits/{item_id}/live", include_in_schema=False)
    def live_readings(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            rows = live(session, page.actor, item_id)
        return JSONResponse({"points": rows, "empty": gettext(NO_LIVE)}, headers={"Cache-Control": "no-store"})

