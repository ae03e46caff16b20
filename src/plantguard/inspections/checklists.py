"""A risk point's checklist (检查表), generated from its control measures and edited by people.

**Regeneration rule** (why: the register changes, but a safety officer's rewording of an item
or removal of a useless one must survive):

* an active measure without an item → a new item with the measure's text, appended at the end;
* an item of a measure, never edited → its text follows the measure's current text;
* an item whose text was edited by hand (``edited``) → kept as written;
* an item removed by hand (``removed``) → stays removed (regenerating does not bring it back;
  restoring it is an explicit step);
* an item whose measure is gone or inactive → removed, unless edited by hand (then kept: a
  person made it their own);
* items added by hand (no measure) → never touched;
* order: existing items keep their positions; new ones go to the end.

The first generation is the same rule applied to an empty list. Results keep the item's text
as it read when checked, so editing a checklist never rewrites history.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.inspections.models import InspectionCheckItem
from plantguard.risk.contract import measures_of_point
from plantguard.risk.models import RiskPoint

RISK_POINT = N_("Risk point")
CHECK_ITEM = N_("Check item")
TEXT_MAX = 500


def point_of(session: Session, actor: Actor, risk_point_id: int) -> RiskPoint:
    actor.require(Perm.READ)
    point = session.scalars(select(RiskPoint).where(RiskPoint.id == risk_point_id,
                                                    RiskPoint.enterprise_id == actor.enterprise_id)).first()
    if point is None:
        raise NotFound(RISK_POINT, risk_point_id)
    return point


def items(session: Session, enterprise_id: int, risk_point_id: int, *, with_removed: bool = False
          ) -> list[InspectionCheckItem]:
    q = select(InspectionCheckItem).where(InspectionCheckItem.enterprise_id == enterprise_id,
                                          InspectionCheckItem.risk_point_id == risk_point_id)
    if not with_removed:
        q = q.where(InspectionCheckItem.removed.is_(False))
    return list(session.scalars(q.order_by(InspectionCheckItem.position, InspectionCheckItem.id)))


def _next_position(session: Session, enterprise_id: int, risk_point_id: int) -> int:
    last = session.scalar(select(func.max(InspectionCheckItem.position)).where(
        InspectionCheckItem.enterprise_id == enterprise_id, InspectionCheckItem.risk_point_id == risk_point_id))
    return int(last) + 1 if last is not None else 1


def sync(session: Session, enterprise_id: int, risk_point_id: int) -> list[InspectionCheckItem]:
    """Apply the regeneration rule (no permission check: callers check). Returns the list."""
    measures = measures_of_point(session, enterprise_id, risk_point_id)
    current = items(session, enterprise_id, risk_point_id, with_removed=True)
    by_measure = {i.measure_id: i for i in current if i.measure_id is not None}
    live = {m.id for m in measures}
    position = _next_position(session, enterprise_id, risk_point_id)
    for m in measures:
        text = m.description.strip()[:TEXT_MAX] or "—"
        item = by_measure.get(m.id)
        if item is None:
            session.add(InspectionCheckItem(enterprise_id=enterprise_id, risk_point_id=risk_point_id,
                                            position=position, text=text, measure_id=m.id))
            position += 1
        elif not item.edited and not item.removed and item.text != text:
            item.text = text
    for item in current:
        if item.measure_id is not None and item.measure_id not in live and not item.edited:
            item.removed = True
    session.flush()
    return items(session, enterprise_id, risk_point_id)


def regenerate(session: Session, actor: Actor, risk_point_id: int) -> list[InspectionCheckItem]:
    actor.require(Perm.MANAGE_INSPECTIONS)
    point_of(session, actor, risk_point_id)
    return sync(session, actor.enterprise_id, risk_point_id)


def ensure(session: Session, enterprise_id: int, risk_point_id: int) -> list[InspectionCheckItem]:
    """The checklist, generated on first use (a point nobody has edited yet)."""
    existing = items(session, enterprise_id, risk_point_id, with_removed=True)
    if not existing:
        return sync(session, enterprise_id, risk_point_id)
    return [i for i in existing if not i.removed]


def _text(value: str, field: str = "text") -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed([FieldError(field, N_("This field is required"))])
    if len(text) > TEXT_MAX:
        raise ValidationFailed([FieldError(field, N_("At most %(n)s characters"), {"n": TEXT_MAX})])
    return text


def _item(session: Session, actor: Actor, risk_point_id: int, item_id: int) -> InspectionCheckItem:
    item = session.scalars(select(InspectionCheckItem).where(
        InspectionCheckItem.id == item_id, InspectionCheckItem.risk_point_id == risk_point_id,
        InspectionCheckItem.enterprise_id == actor.enterprise_id)).first()
    if item is None:
        raise NotFound(CHECK_ITEM, item_id)
    return item


def add(session: Session, actor: Actor, risk_point_id: int, text: str) -> InspectionCheckItem:
    actor.require(Perm.MANAGE_INSPECTIONS)
    point_of(session, actor, risk_point_id)
    ensure(session, actor.enterprise_id, risk_point_id)
    item = InspectionCheckItem(enterprise_id=actor.enterprise_id, risk_point_id=risk_point_id,
                               position=_next_position(session, actor.enterprise_id, risk_point_id),
                               text=_text(text))
    session.add(item)
    session.flush()
    return item


def edit(session: Session, actor: Actor, risk_point_id: int, item_id: int, text: str) -> InspectionCheckItem:
    actor.require(Perm.MANAGE_INSPECTIONS)
    item = _item(session, actor, risk_point_id, item_id)
    new = _text(text)
    if new != item.text:
        item.text = new
        item.edited = True
    session.flush()
    return item


def remove(session: Session, actor: Actor, risk_point_id: int, item_id: int) -> None:
    """Take an item off the list. Generated items are kept as ``removed`` (so regenerating
    does not bring them back); hand-added ones are deleted."""
    actor.require(Perm.MANAGE_INSPECTIONS)
    item = _item(session, actor, risk_point_id, item_id)
    if item.measure_id is None:
        session.delete(item)
    else:
        item.removed = True
    session.flush()


def restore(session: Session, actor: Actor, risk_point_id: int, item_id: int) -> InspectionCheckItem:
    actor.require(Perm.MANAGE_INSPECTIONS)
    item = _item(session, actor, risk_point_id, item_id)
    if item.removed:
        item.removed = False
        item.position = _next_position(session, actor.enterprise_id, risk_point_id)
    session.flush()
    return item


def reorder(session: Session, actor: Actor, risk_point_id: int, order: Sequence[int]) -> list[InspectionCheckItem]:
    """``order``: every shown item's id once, in the new order."""
    actor.require(Perm.MANAGE_INSPECTIONS)
    point_of(session, actor, risk_point_id)
    shown = items(session, actor.enterprise_id, risk_point_id)
    if sorted(order) != sorted(i.id for i in shown):
        raise ValidationFailed([FieldError("order", N_("List every item of the checklist exactly once"))])
    by_id = {i.id: i for i in shown}
    for pos, ident in enumerate(order, start=1):
        by_id[ident].position = pos
    session.flush()
    return items(session, actor.enterprise_id, risk_point_id)
