"""The generic tenant-scoped service that every CRUD domain builds on.

What every such service must get right lives here once: the enterprise filter on every
query (another tenant's record is simply "not found"), the role check before anything is
read from the body, references that must point inside the caller's tenant, unique codes
answered as a field error instead of a database exception, and pagination.
Domain services subclass it and add their own rules in ``validate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plantguard.core.db import Base
from plantguard.core.errors import FieldError, NotFound, ValidationFailed
from plantguard.core.permissions import Actor, Perm

M = TypeVar("M", bound=Base)

MAX_LIMIT = 500
LIKE_ESCAPE = "\\"


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards escaped: a search for ``50%`` or ``a_b`` is literal."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class Page(Generic[M]):
    items: Sequence[M]
    total: int


@dataclass(frozen=True)
class Ref:
    """A foreign key that must name a record of the caller's own enterprise."""

    field: str
    model: type[Base]
    label: str


class TenantCrud(Generic[M]):
    model: ClassVar[type[Any]]
    entity_label: ClassVar[str] = "Record"
    write_perm: ClassVar[Perm]
    read_perm: ClassVar[Perm] = Perm.READ
    refs: ClassVar[tuple[Ref, ...]] = ()
    unique_fields: ClassVar[tuple[str, ...]] = ("code",)
    search_fields: ClassVar[tuple[str, ...]] = ("code", "name")
    default_order: ClassVar[tuple[str, ...]] = ("code",)

    # -- queries ---------------------------------------------------------------------------

    def scoped(self, actor: Actor) -> Select[Any]:
        return select(self.model).where(self.model.enterprise_id == actor.enterprise_id)

    def filters(self, filters: dict[str, Any]) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        bad = [FieldError(key, "Must not contain NUL characters")
               for key, value in filters.items() if isinstance(value, str) and "\x00" in value]
        if bad:  # PostgreSQL refuses them in any text, a query's parameters included
            raise ValidationFailed(bad)
        for key, value in filters.items():
            if value is None or value == "":
                continue
            if key == "q":
                like = like_pattern(str(value))
                out.append(or_(*(getattr(self.model, f).ilike(like, escape=LIKE_ESCAPE)
                                 for f in self.search_fields)))
            else:
                out.append(getattr(self.model, key) == value)
        return out

    def list(
        self, session: Session, actor: Actor, *, limit: int = 50, offset: int = 0, **filters: Any
    ) -> Page[M]:
        actor.require(self.read_perm)
        limit = max(1, min(limit, MAX_LIMIT))
        offset = max(0, offset)
        conds = self.filters(filters)
        base = self.scoped(actor).where(*conds)
        total = session.scalar(
            select(func.count()).select_from(self.model).where(
                self.model.enterprise_id == actor.enterprise_id, *conds
            )
        ) or 0
        order = [getattr(self.model, f) for f in self.default_order] + [self.model.id]
        items = session.scalars(base.order_by(*order).limit(limit).offset(offset)).unique().all()
        return Page(items=items, total=int(total))

    def get(self, session: Session, actor: Actor, ident: int) -> M:
        actor.require(self.read_perm)
        obj = session.scalars(self.scoped(actor).where(self.model.id == ident)).unique().first()
        if obj is None:
            raise NotFound(self.entity_label, ident)
        return obj  # type: ignore[no-any-return]

    # -- writes ----------------------------------------------------------------------------

    def check_not_null(self, values: dict[str, Any]) -> None:
        """A partial update may leave a field out, but may not blank a required one."""
        cols = self.model.__table__.columns
        errors = [
            FieldError(key, "This field cannot be empty")
            for key, value in values.items()
            if value is None and key in cols and not cols[key].nullable
        ]
        if errors:
            raise ValidationFailed(errors)

    def check_refs(self, session: Session, actor: Actor, values: dict[str, Any]) -> None:
        errors: list[FieldError] = []
        for ref in self.refs:
            ident = values.get(ref.field)
            if ident is None:
                continue
            found = session.scalar(
                select(ref.model.id).where(  # type: ignore[attr-defined]
                    ref.model.id == ident,  # type: ignore[attr-defined]
                    ref.model.enterprise_id == actor.enterprise_id,  # type: ignore[attr-defined]
                )
            )
            if found is None:
                errors.append(FieldError(ref.field, "No such %(entity)s", {"entity": ref.label}))
        if errors:
            raise ValidationFailed(errors)

    def check_unique(self, session: Session, actor: Actor, values: dict[str, Any], obj: M | None) -> None:
        errors: list[FieldError] = []
        for field in self.unique_fields:
            if field not in values:
                continue
            q = self.scoped(actor).where(getattr(self.model, field) == values[field])
            if obj is not None:
                q = q.where(self.model.id != obj.id)  # type: ignore[attr-defined]
            if session.scalars(q).first() is not None:
                errors.append(FieldError(field, "%(value)s is already in use", {"value": values[field]}))
        if errors:
            raise ValidationFailed(errors)

    def validate(self, session: Session, actor: Actor, merged: dict[str, Any], obj: M | None) -> None:
        """Domain rules over the record as it would be after the write."""

    def apply(self, session: Session, obj: M, values: dict[str, Any]) -> None:
        for key, value in values.items():
            setattr(obj, key, value)

    def _merged(self, obj: M | None, values: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        if obj is not None:
            for col in obj.__table__.columns:
                merged[col.key] = getattr(obj, col.key)
        merged.update(values)
        return merged

    def _flush(self, session: Session) -> None:
        try:
            session.flush()
        except IntegrityError as exc:  # a race lost against a concurrent writer
            session.rollback()
            fields = self.unique_fields[:1] or ("id",)
            raise ValidationFailed([FieldError(fields[0], "Conflicts with an existing record")]) from exc

    def create(self, session: Session, actor: Actor, data: BaseModel) -> M:
        actor.require(self.write_perm)
        values = data.model_dump()
        self.check_refs(session, actor, values)
        self.check_unique(session, actor, values, None)
        self.validate(session, actor, self._merged(None, values), None)
        obj = self.model(enterprise_id=actor.enterprise_id)
        session.add(obj)
        self.apply(session, obj, values)
        self._flush(session)
        return obj  # type: ignore[no-any-return]

    def update(self, session: Session, actor: Actor, ident: int, data: BaseModel) -> M:
        actor.require(self.write_perm)
        obj = self.get(session, actor, ident)
        values = data.model_dump(exclude_unset=True)
        self.check_not_null(values)
        self.check_refs(session, actor, values)
        self.check_unique(session, actor, values, obj)
        self.validate(session, actor, self._merged(obj, values), obj)
        self.apply(session, obj, values)
        self._flush(session)
        return obj

    def delete(self, session: Session, actor: Actor, ident: int) -> None:
        actor.require(self.write_perm)
        obj = self.get(session, actor, ident)
        self.check_delete(session, actor, obj)
        session.delete(obj)
        self._flush(session)

    def check_delete(self, session: Session, actor: Actor, obj: M) -> None:
        """Refuse a delete that would orphan or cascade away records the user cares about."""
