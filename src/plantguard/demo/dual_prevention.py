"""Dual prevention (双重预防) demo data: the register, the site plan, inspection plans with
a few weeks of history, and a year of hazards, written through the domain services.

Why through the services: the demo must obey the rules the product enforces (LEC values inside
their tables, the five items before a 重大隐患 is treated, acceptance by someone else, before and
after photos), so every row is one the product itself could have written. The services take a
``now``: the history is written at its own past moments.

Choices worth knowing:

* **One transaction** for everything; a failure leaves nothing behind. Each part is skipped
  when its data exists (points by code, the plan when the site has one, inspection plans by
  name, the hazard history when the enterprise has any hazard), so a second run changes nothing.
* **Deterministic**: one ``random.Random(seed)``; dates are offsets from ``now``.
* **No historic events leave**: the services put ``risk.*``, ``inspection.*`` and ``hazard.*``
  events in the outbox; delivered, a year of them would flood the demo users with
  notifications about the past. The seed deletes exactly the outbox rows it wrote (collected
  by event id) before it commits. The history tables (``hazard_event``, assessments,
  inspection results) carry the story; the audit ledger records the seed as ``system`` at the
  time it ran (it records when rows changed, and they changed now).
* **Missed inspection windows** are marked like ``inspections.tasks.mark_missed`` does, for the
  seeded tasks only and without its reminder event (that function works on every enterprise).
* **Photos** are small generated pictures (a labelled placeholder, stamped with time and place
  by the hazard service like any upload): acceptance requires before and after photos.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from plantguard.audit.ledger import bind_actor
from plantguard.core.db import transaction, utcnow
from plantguard.core.permissions import Actor, Role
from plantguard.events.envelope import Context
from plantguard.events.models import OutboxMessage
from plantguard.hazards import service as hazards
from plantguard.hazards.contract import HazardStatus
from plantguard.hazards.models import Hazard
from plantguard.inspections import checklists, periods, plans, tags, tasks
from plantguard.inspections.models import InspectionPlan, InspectionTask
from plantguard.risk import siteplan
from plantguard.risk.models import RiskPoint
from plantguard.risk.seed import load_register
from plantguard.tenancy.models import Area, Enterprise, Site, Team, User
from plantguard.timeseries.alignment.times import plant_tz

HISTORY_DAYS = 365
HAZARDS_PER_YEAR = 320
INSPECTION_HISTORY_DAYS = 14
SEED = 20260601
CHUNK = 500


@dataclass
class Summary:
    created: bool
    points: int = 0
    site_plan: bool = False
    plans: int = 0
    tasks: int = 0
    hazards: int = 0
    suppressed_events: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def _data(name: str) -> dict[str, Any]:
    text = resources.files("plantguard.demo").joinpath(name).read_text(encoding="utf-8")
    out = yaml.safe_load(text)
    assert isinstance(out, dict)
    return out


# -- the register ----------------------------------------------------------------------------


def register_data(now: datetime) -> dict[str, Any]:
    """``risk_register.yaml`` expanded into the shape of :func:`risk.seed.load_register`; the
    ``ago`` day offsets become assessment times before ``now``."""
    raw = _data("risk_register.yaml")

    def assessment(spec: dict[str, Any], default_ago: int = 30) -> dict[str, Any]:
        method = "lec" if "lec" in spec else "ls"
        names = ("L", "E", "C") if method == "lec" else ("L", "S")
        values = dict(zip(names, spec[method], strict=True))
        at = now - timedelta(days=int(spec.get("ago", default_ago)), hours=6)
        return {"method": method, "values": values, "at": at}

    points = []
    for p in raw["points"]:
        point = {k: v for k, v in p.items() if k not in ("sources", "assess")}
        if "assess" in p:
            point["assessments"] = [assessment(p["assess"])]
        sources = []
        for s in p.get("sources") or []:
            history = sorted(s.get("history") or [], key=lambda h: -int(h.get("ago", 0)))
            sources.append({
                "name": s["name"], "consequences": s["consequences"],
                "measures": [{"kind": kind, "description": text}
                             for kind, texts in s["measures"].items() for text in texts],
                "assessments": [*(assessment(h) for h in history), assessment(s)],
            })
        point["sources"] = sources
        points.append(point)
    return {"methods": raw.get("methods") or {}, "points": points}


# -- the site plan ---------------------------------------------------------------------------


def site_plan_svg(plant: dict[str, Any]) -> bytes:
    """A plain site drawing in the site's frame (metres; x east, y south): boundary, roads,
    buildings from the area outlines with their names. The map colours the outlines on top."""
    w, h = float(plant["site"]["plan_width"]), float(plant["site"]["plan_height"])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:g} {h:g}" width="{w * 4:g}" height="{h * 4:g}">',
        f'<title>{_esc(plant["site"]["name"])}</title>',
        f'<rect x="0" y="0" width="{w:g}" height="{h:g}" fill="#f4f1ea"/>',
        f'<rect x="2" y="2" width="{w - 4:g}" height="{h - 4:g}" fill="none" stroke="#6b6b6b" '
        'stroke-width="0.8" stroke-dasharray="4 2"/>',
        # roads between the building rows and along the east side
        f'<rect x="4" y="77" width="{w - 8:g}" height="6" fill="#d9d6cf"/>',
        f'<rect x="4" y="136" width="{w - 8:g}" height="6" fill="#d9d6cf"/>',
        f'<rect x="{w - 8:g}" y="4" width="5" height="{h - 8:g}" fill="#d9d6cf"/>',
        '<rect x="120" y="172" width="20" height="6" fill="#c9c5bb"/>',
        '<text x="130" y="177" font-size="3" text-anchor="middle" fill="#444">大门 Gate</text>',
    ]
    for area in plant["areas"]:
        pts = " ".join(f"{x:g},{y:g}" for x, y in area["polygon"])
        xs = [float(x) for x, _ in area["polygon"]]
        ys = [float(y) for _, y in area["polygon"]]
        cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
        size = 3.2 if (max(xs) - min(xs)) > 40 else 2.2
        parts.append(f'<polygon points="{pts}" fill="#e6e3dc" stroke="#505050" stroke-width="0.6"/>')
        parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" font-size="{size}" text-anchor="middle" '
                     f'font-family="sans-serif" fill="#333">{_esc(area["name"])}</text>')
        parts.append(f'<text x="{cx:.1f}" y="{cy + size + 0.8:.1f}" font-size="{size * 0.7:.1f}" '
                     f'text-anchor="middle" font-family="sans-serif" fill="#777">{_esc(area["code"])}</text>')
    parts += [
        f'<g transform="translate({w - 20:g},{h - 22:g})"><polygon points="0,-8 3,0 0,-2 -3,0" fill="#333"/>'
        '<text x="0" y="4" font-size="3" text-anchor="middle">N</text></g>',
        f'<text x="6" y="{h - 5:g}" font-size="3" fill="#555">0 — 20 m</text>',
        f'<line x1="6" y1="{h - 9:g}" x2="26" y2="{h - 9:g}" stroke="#555" stroke-width="0.6"/>',
        "</svg>",
    ]
    return "\n".join(parts).encode("utf-8")


def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# -- inspection plans ------------------------------------------------------------------------

# name, frequency, team code or role, risk point codes
PLANS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("冲压压力机班前安全点检", "shift", "role:team_leader", ("RP-ST-01", "RP-ST-04")),
    ("涂装车间及调漆间每日检查", "day", "team:PT1", ("RP-PT-01", "RP-PT-02", "RP-PM-01")),
    ("配电室每日巡检", "day", "team:ELE", ("RP-ER1-01", "RP-ER1-02", "RP-ER1-03", "RP-ER2-01")),
    ("叉车及充电间每周安全检查", "week", "team:LOG", ("RP-WH-01", "RP-WH-02", "RP-WH-03", "RP-WH-04", "RP-FC-01")),
    ("月度消防安全检查", "month", "role:safety_manager",
     ("RP-PM-01", "RP-HC-01", "RP-TF-01", "RP-PT-05", "RP-OF-01", "RP-FP-01", "RP-MW-01")),
    ("有限空间及储罐区季度专项检查", "quarter", "team:EHS",
     ("RP-PS-01", "RP-TF-03", "RP-WW-01", "RP-WW-02", "RP-FP-02")),
)
# How many past windows get a history, per frequency.
PAST_WINDOWS = {"shift": 7 * 3, "day": INSPECTION_HISTORY_DAYS, "week": 6, "month": 3, "quarter": 2}
MISSED_SHARE = 0.07
FAILED_ITEM_SHARE = 0.015
FAIL_NOTES = ("检查发现不符合，已拍照记录", "现场不符合要求，需整改", "功能测试未通过", "标识缺失或不清楚",
              "记录未按要求填写")


# -- the seeding -----------------------------------------------------------------------------


@dataclass
class _Cast:
    """The demo accounts as service callers."""

    by_name: dict[str, Actor]

    def __getitem__(self, name: str) -> Actor:
        return self.by_name[name]


def _cast(session: Session, enterprise_id: int) -> _Cast:
    rows = session.execute(select(User.id, User.username, User.role, User.display_name).where(
        User.enterprise_id == enterprise_id)).all()
    return _Cast({str(u): Actor(int(i), enterprise_id, Role(r), str(u), str(d or u)) for i, u, r, d in rows})


@contextmanager
def outbox_collected(session: Session) -> Iterator[list[str]]:
    """The event ids of the outbox rows the session adds while inside (see module docstring)."""
    ids: list[str] = []

    def collect(sess: Session, _ctx: Any, _instances: Any) -> None:
        ids.extend(o.event_id for o in sess.new if isinstance(o, OutboxMessage))

    event.listen(session, "before_flush", collect)
    try:
        yield ids
    finally:
        event.remove(session, "before_flush", collect)


def seed_dual_prevention(factory: sessionmaker[Session], var_dir: Path, *, enterprise_code: str = "DEMO",
                         now: datetime | None = None, hazards_per_year: int = HAZARDS_PER_YEAR) -> Summary:
    """Seed the demo enterprise's dual-prevention data (idempotent, one transaction)."""
    at = (now or utcnow()).astimezone(UTC)
    with transaction(factory) as session:
        ent = session.scalar(select(Enterprise.id).where(Enterprise.code == enterprise_code))
        if ent is None:
            raise LookupError(f"no enterprise {enterprise_code!r}: seed the demo plant first")
        cast = _cast(session, int(ent))
        bind_actor(session, None)
        out = Summary(created=False)
        with outbox_collected(session) as outbox_ids:
            loaded = load_register(session, cast["safety"], register_data(at))
            out.points = loaded.points
            out.site_plan = _site_plan(session, cast["safety"])
            rng = random.Random(SEED)
            made = _plans(session, cast["safety"], at)
            out.plans = len(made)
            if made:
                out.tasks = _inspection_history(session, cast, made, at, rng, var_dir)
            if not session.scalar(select(func.count()).select_from(Hazard).where(
                    Hazard.enterprise_id == ent, Hazard.source != "inspection")):
                out.hazards = _hazard_history(session, cast, at, rng, var_dir, hazards_per_year)
            session.flush()
            for i in range(0, len(outbox_ids), CHUNK):
                session.execute(delete(OutboxMessage).where(OutboxMessage.event_id.in_(outbox_ids[i:i + CHUNK])))
            out.suppressed_events = len(outbox_ids)
        out.created = bool(out.points or out.site_plan or out.plans or out.hazards)
        out.counts = _counts(session, int(ent))
        return out


def _counts(session: Session, ent: int) -> dict[str, int]:
    def n(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(model.enterprise_id == ent)) or 0)

    return {"risk_points": n(RiskPoint), "inspection_plans": n(InspectionPlan), "inspection_tasks": n(InspectionTask),
            "hazards": n(Hazard)}


def _site_plan(session: Session, actor: Actor) -> bool:
    site = session.scalars(select(Site).where(Site.enterprise_id == actor.enterprise_id).order_by(Site.id)).first()
    if site is None or siteplan.of_site(session, actor, site.id) is not None:
        return False
    siteplan.upload(session, actor, site.id, "demo-site-plan.svg", site_plan_svg(_plant()))
    return True


def _plant() -> dict[str, Any]:
    from plantguard.demo.seed import load_plant

    return load_plant()


def _plans(session: Session, actor: Actor, at: datetime) -> list[InspectionPlan]:
    """The demo plans not yet present (by name); made at the start of their history so that
    their current-window tasks come from the normal generation."""
    have = set(session.scalars(select(InspectionPlan.name).where(InspectionPlan.enterprise_id == actor.enterprise_id)))
    points = {str(c): int(i) for i, c in session.execute(select(RiskPoint.id, RiskPoint.code).where(
        RiskPoint.enterprise_id == actor.enterprise_id))}
    teams = {str(c): int(i) for i, c in session.execute(select(Team.id, Team.code).where(
        Team.enterprise_id == actor.enterprise_id))}
    made = []
    for name, frequency, who, codes in PLANS:
        if name in have:
            continue
        kind, ref = who.split(":", 1)
        values: dict[str, Any] = {"name": name, "frequency": frequency, "risk_point_ids": [points[c] for c in codes],
                                  "note": "演示计划：检查表由风险点的管控措施生成"}
        if kind == "team":
            values["team_id"] = teams[ref]
        else:
            values["assignee_role"] = ref
        made.append(plans.create(session, actor, values, now=at))
    return made


def _performer(cast: _Cast, plan: InspectionPlan, teams: dict[int, str]) -> Actor:
    """Who records a past task: the stamping shift leader for shift checks, the maintenance
    leader for rounds of teams without a demo account (covering, ``inspections.manage``),
    the safety manager for the safety department's checks."""
    code = teams.get(plan.team_id or 0, "")
    if plan.assignee_role == "team_leader":
        return cast["leader"]
    if plan.assignee_role == "safety_manager" or code == "EHS":
        return cast["safety"]
    return cast["mnt_leader"]


def _inspection_history(session: Session, cast: _Cast, made: list[InspectionPlan], at: datetime,
                        rng: random.Random, var_dir: Path) -> int:
    """Past windows of the new plans: tasks done at a moment inside their window (check-in by
    the point's QR token, a result per item), some missed, a few with a failed item raising a
    hazard through the inspection service."""
    teams = {int(i): str(c) for i, c in session.execute(select(Team.id, Team.code).where(
        Team.enterprise_id == cast["safety"].enterprise_id))}
    count = 0
    pictures = _pictures()
    for plan in made:
        actor = _performer(cast, plan, teams)
        current = periods.window(plan.frequency, at)
        starts = []
        edge = current.start
        for _ in range(PAST_WINDOWS[plan.frequency]):
            w = periods.window(plan.frequency, edge - timedelta(seconds=1))
            starts.append(w)
            edge = w.start
        for w in reversed(starts):
            plans.generate_plan(session, plan, w.start)
            rows = session.scalars(select(InspectionTask).where(
                InspectionTask.plan_id == plan.id, InspectionTask.window_start == w.start)
                .order_by(InspectionTask.id)).all()
            for task in rows:
                task.created_at = w.start
                count += 1
                if rng.random() < MISSED_SHARE:
                    task.status, task.missed_at = "missed", w.end + timedelta(minutes=1)
                    continue
                span = (w.end - w.start).total_seconds()
                when = w.start + timedelta(seconds=span * rng.uniform(0.1, 0.6))
                for hazard_id in _do_task(session, actor, task, when, rng):
                    hazard = session.get(Hazard, hazard_id)
                    assert hazard is not None
                    _advance(session, cast, at, rng, hazard, actor, pictures, var_dir)
    session.flush()
    return count


def _do_task(session: Session, actor: Actor, task: InspectionTask, when: datetime,
             rng: random.Random) -> list[int]:
    """Check in and record every item; the ids of the hazards raised by failed items."""
    bind_actor(session, None, Context())
    token = tags.ensure(session, task.enterprise_id, task.risk_point_id).token
    items = [i for i in checklists.ensure(session, task.enterprise_id, task.risk_point_id) if not i.removed]
    ci = tasks.checkin(session, actor, task.id, token, tasks.Geo(status="denied"), now=when)
    results = []
    for item in items:
        failed = rng.random() < FAILED_ITEM_SHARE
        results.append(tasks.ItemResult(item.id, "not_ok" if failed else "ok",
                                        rng.choice(FAIL_NOTES) if failed else ""))
    tasks.submit_results(session, actor, task.id, ci.id, results, now=when + timedelta(minutes=rng.randint(4, 25)))
    return [int(r.hazard_id) for r in tasks.results_of(session, actor, task) if r.hazard_id is not None]


# -- hazard history --------------------------------------------------------------------------

# Relative number of reports per month of the year: more during the spring and autumn safety
# campaigns and the summer heat, fewer around the Spring Festival.
MONTH_WEIGHT = {1: 0.7, 2: 0.5, 3: 1.2, 4: 1.1, 5: 1.0, 6: 1.3, 7: 1.2, 8: 1.1, 9: 1.3, 10: 0.9, 11: 1.0, 12: 1.0}
AREA_WEIGHT = {"ST": 8, "WD": 7, "PT": 6, "WH": 7, "PM": 2, "HC": 2, "TF": 1.5, "PS": 1, "ER1": 2.5, "ER2": 1,
               "AC": 1.5, "MD": 1.5, "FC": 1.5, "WW": 1.5, "MW": 2, "FP": 1, "OF": 1.5}
PROGRESS_NOTES = ("已采购备件，等待到货", "已完成一半，剩余部分停线时处理", "已临时加装防护，正式整改进行中",
                  "已联系厂家技术人员现场处理")
SUBMIT_NOTES = ("已整改完成，请验收", "已更换并试运行正常", "已恢复并完成功能测试", "已清理并设置警示标识")
REFUSE_NOTES = ("整改不彻底，请重新处理", "照片不能反映整改效果，请补充并复查")
REJECT_NOTES = ("重复上报，已并入前一条隐患", "经核实不属于隐患，为正常工艺状态")


def _pictures() -> dict[str, bytes]:
    """Placeholder photos (before: reddish, after: greenish) with a plain pattern."""
    from PIL import Image, ImageDraw

    out = {}
    for kind, colour in (("before", (150, 96, 84)), ("after", (88, 132, 96))):
        img = Image.new("RGB", (240, 180), colour)
        draw = ImageDraw.Draw(img)
        for i in range(0, 240, 30):
            draw.line([(i, 0), (i + 90, 180)], fill=tuple(min(255, c + 40) for c in colour), width=6)
        draw.rectangle([70, 50, 170, 120], outline=(240, 240, 240), width=4)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=70)
        out[kind] = buf.getvalue()
    return out


def _report_times(at: datetime, rng: random.Random, n: int) -> list[datetime]:
    days = [at - timedelta(days=d) for d in range(1, HISTORY_DAYS + 1)]
    weights = [MONTH_WEIGHT[d.month] * (0.35 if d.weekday() >= 5 else 1.0) for d in days]
    picked = rng.choices(days, weights=weights, k=n)
    out = []
    for d in picked:
        local = d.astimezone(plant_tz()).replace(hour=rng.choice((8, 9, 10, 13, 14, 15, 16, 20, 22)),
                                                         minute=rng.randrange(60), second=0, microsecond=0)
        out.append(local.astimezone(UTC))
    return sorted(out)


def _hazard_history(session: Session, cast: _Cast, at: datetime, rng: random.Random, var_dir: Path,
                    n: int) -> int:
    data = _data("hazard_history.yaml")
    ent = cast["safety"].enterprise_id
    areas = {str(c): int(i) for i, c in session.execute(select(Area.id, Area.code).where(Area.enterprise_id == ent))}
    points = {str(c): int(i) for i, c in session.execute(select(RiskPoint.id, RiskPoint.code).where(
        RiskPoint.enterprise_id == ent))}
    pictures = _pictures()
    times = _report_times(at, rng, n)
    codes = [c for c in AREA_WEIGHT if c in data["areas"]]
    # The 重大隐患 of the year, at fixed places in the timeline (two of them still open).
    major_slots = {int(len(times) * f): m for f, m in zip((0.08, 0.3, 0.55, 0.8, 0.97), data["major"], strict=False)}
    # A few old hazards that are still not rectified (overdue now).
    stuck = set(rng.sample(range(int(len(times) * 0.75), int(len(times) * 0.92)), 4))
    for k, when in enumerate(times):
        major = major_slots.get(k)
        if major is not None:
            area, spec = str(major["area"]), major
            text = str(major["text"])
        else:
            area = rng.choices(codes, weights=[AREA_WEIGHT[c] for c in codes])[0]
            block = data["areas"][area]
            spec = rng.choices(block["items"], weights=[float(i.get("weight", 1)) for i in block["items"]])[0]
            text = str(spec["text"]).format(n=rng.randint(1, 6), where=rng.choice(block["where"]))
        _one_hazard(session, cast, at, rng, when, pictures, var_dir, area_id=areas[area],
                    point_id=points.get(str(spec.get("point", ""))), category=str(spec["category"]),
                    text=text, major=major, stuck=k in stuck)
    return len(times)


def _one_hazard(session: Session, cast: _Cast, at: datetime, rng: random.Random, when: datetime,
                pictures: dict[str, bytes], var_dir: Path, *, area_id: int, point_id: int | None, category: str,
                text: str, major: dict[str, Any] | None, stuck: bool) -> None:
    """One hazard taken through the loop as far as its timeline reaches before ``at``."""
    bind_actor(session, None, Context())  # each report its own context (its events' parent)
    reporter = cast[rng.choice(("worker", "leader", "leader", "safety", "mnt_tech", "mnt_leader"))]
    h = hazards.report(session, reporter, {"description": text, "area_id": area_id, "risk_point_id": point_id,
                                           "category": category}, now=when)
    _advance(session, cast, at, rng, h, reporter, pictures, var_dir, major=major, stuck=stuck)


def _advance(session: Session, cast: _Cast, at: datetime, rng: random.Random, h: Hazard, reporter: Actor,
             pictures: dict[str, bytes], var_dir: Path, *, major: dict[str, Any] | None = None,
             stuck: bool = False) -> None:
    """From 上报 on: photo, 登记, 评估 (and the five items of a 重大隐患), 治理, 验收, 销号 — each
    step at its own moment, stopping at the first one that would lie after ``at``."""
    when = h.reported_at
    text = h.description
    manager = cast["safety"]
    rectifier = cast[rng.choice(("mnt_tech", "mnt_tech", "worker", "mnt_leader"))]
    acceptor = next(cast[n] for n in ("leader", "safety", "mnt_leader") if cast[n].user_id != rectifier.user_id)
    hazards.add_attachment(session, reporter, h.id, "before", "before.jpg", pictures["before"], var_dir,
                           now=when + timedelta(minutes=1))
    t = when + timedelta(hours=rng.uniform(0.5, 20))
    if t > at:
        return
    if major is None and rng.random() < 0.04:
        hazards.reject(session, manager, h.id, rng.choice(REJECT_NOTES), now=t)
        return
    hazards.register(session, manager, h.id, now=t)
    t += timedelta(hours=rng.uniform(1, 30))
    if t > at:
        return
    if major is not None:
        hazards.assess(session, manager, h.id, grade="major", basis=list(major.get("basis") or []),
                       basis_text=str(major.get("basis_text") or ""), treatment="deadline", now=t)
        limit = t + timedelta(days=rng.randint(20, 45))
        t += timedelta(hours=rng.uniform(2, 24))
        if t > at:
            return
        hazards.plan(session, manager, h.id, {
            "responsible_id": cast["mnt_leader"].user_id, "measures": f"停用并隔离；{text}——按专项方案整改",
            "funds": f"{rng.randint(2, 15)} 万元（安全生产费用）", "plan_deadline_at": limit,
            "emergency_plan": "整改期间执行专项应急预案，现场设警戒并加强监护"}, now=t)
        deadline = limit
    else:
        immediate = rng.random() < 0.3
        deadline = t + (timedelta(hours=24) if immediate else timedelta(days=rng.choice((3, 5, 7, 7, 7, 10, 14))))
        hazards.assess(session, manager, h.id, grade="general", treatment="immediate" if immediate else "deadline",
                       deadline_at=deadline, now=t)
    t += timedelta(hours=rng.uniform(1, 20))
    if t > at:
        return
    hazards.start(session, rectifier, h.id, now=t)
    if stuck:
        hazards.progress(session, rectifier, h.id, rng.choice(PROGRESS_NOTES), now=t + timedelta(days=1))
        return
    late = rng.random() < 0.18
    span = (deadline - t).total_seconds()
    done = t + (timedelta(seconds=span) + timedelta(days=rng.uniform(0.5, 9)) if late
                else timedelta(seconds=span * rng.uniform(0.2, 0.95)))
    if rng.random() < 0.3 and t + (done - t) / 2 < at:
        hazards.progress(session, rectifier, h.id, rng.choice(PROGRESS_NOTES), now=t + (done - t) / 2)
    if done > at:
        return
    hazards.add_attachment(session, rectifier, h.id, "after", "after.jpg", pictures["after"], var_dir, now=done)
    hazards.submit(session, rectifier, h.id, rng.choice(SUBMIT_NOTES), now=done + timedelta(minutes=5))
    t = done + timedelta(hours=rng.uniform(2, 40))
    if t > at:
        return
    if rng.random() < 0.05:
        hazards.refuse(session, acceptor, h.id, rng.choice(REFUSE_NOTES), now=t)
        t += timedelta(days=rng.uniform(0.5, 3))
        if t > at:
            return
        hazards.submit(session, rectifier, h.id, "已按验收意见重新整改", now=t)
        t += timedelta(hours=rng.uniform(2, 24))
        if t > at:
            return
    hazards.accept(session, acceptor, h.id, now=t)
    t += timedelta(hours=rng.uniform(0.5, 30))
    if t > at:
        return
    hazards.close(session, manager, h.id, now=t)
    assert h.status == HazardStatus.CLOSED
