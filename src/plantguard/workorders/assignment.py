"""Who gets the work: by skills and shift inside the routed team.

There is no duty roster yet, so "on shift" reads the team's ``shift``: ``day`` teams are on
duty 08:00–20:00 plant time, ``night`` teams 20:00–08:00, and rotating or lettered shifts
(A–D) are taken as always on duty. The routing facts use the three-shift clock of the
contract (day 08–16, middle 16–24, night 00–08).

Order of choice: an active team member (other than the leader, who supervises) with a user
account, holding every required skill, with the fewest open orders (ties: the lowest user
id, so the choice is reproducible); else the team leader's account; else nobody (the order
is dispatched to the team as a whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.tenancy.models import Person, Team, User
from plantguard.timeseries.alignment.times import plant_tz
from plantguard.workorders.models import OPEN_STATUSES, WorkOrder


def local_hour(now: datetime) -> int:
    return now.astimezone(plant_tz()).hour


def shift_of(now: datetime) -> str:
    """The three-shift name of ``now`` (routing fact ``shift``)."""
    hour = local_hour(now)
    return "day" if 8 <= hour < 16 else ("middle" if hour >= 16 else "night")


def on_duty(team: Team, now: datetime) -> bool:
    hour = local_hour(now)
    if team.shift == "day":
        return 8 <= hour < 20
    if team.shift == "night":
        return hour >= 20 or hour < 8
    return True


def open_counts(session: Session, enterprise_id: int, user_ids: Sequence[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = session.execute(select(WorkOrder.assignee_id, func.count()).where(
        WorkOrder.enterprise_id == enterprise_id, WorkOrder.assignee_id.in_(list(user_ids)),
        WorkOrder.status.in_(list(OPEN_STATUSES))).group_by(WorkOrder.assignee_id)).all()
    return {int(r[0] or 0): int(r[1]) for r in rows}


def leader_user(session: Session, team: Team) -> int | None:
    if team.leader_id is None:
        return None
    return session.scalar(select(User.id).where(
        User.enterprise_id == team.enterprise_id, User.person_id == team.leader_id,
        User.active.is_(True)).order_by(User.id).limit(1))


def pick(session: Session, team: Team, skills: Sequence[str], now: datetime) -> int | None:
    """The user to assign (see module doc), or None."""
    if on_duty(team, now):
        rows = session.execute(select(User.id, Person).join(Person, Person.id == User.person_id).where(
            User.enterprise_id == team.enterprise_id, User.active.is_(True), Person.active.is_(True),
            Person.team_id == team.id)).all()
        wanted = set(skills)
        candidates = [int(r[0]) for r in rows
                      if r[1].id != team.leader_id and wanted <= {s.code for s in r[1].skills}]
        if candidates:
            counts = open_counts(session, team.enterprise_id, candidates)
            return min(candidates, key=lambda uid: (counts.get(uid, 0), uid))
    return leader_user(session, team)


def team_member(session: Session, enterprise_id: int, user_id: int, team_id: int | None) -> bool:
    if team_id is None:
        return False
    found = session.scalar(select(Person.id).join(User, User.person_id == Person.id).where(
        User.id == user_id, User.enterprise_id == enterprise_id, Person.team_id == team_id))
    return found is not None
