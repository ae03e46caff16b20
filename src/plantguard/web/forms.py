"""Declarative forms and tables for the console's CRUD pages.

One generic list/form/detail template set serves every resource; a resource declares its
fields and columns here. Form values go through the same pydantic schemas as the API, so
the console and the API accept and refuse exactly the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from plantguard.api.errors import field_errors_from_pydantic
from plantguard.core.crud import TenantCrud
from plantguard.core.permissions import Actor

Options = Callable[[Session, Actor], list[tuple[str, str]]]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str = "text"  # text | textarea | select | multiselect | date | number | checkbox
    required: bool = False
    options: Options | None = None
    help: str = ""
    maxlength: int | None = None


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    value: Callable[[Any], Any]
    link: bool = False
    badge: str = ""  # css family for status-like values
    translate: bool = False


@dataclass
class WebResource:
    slug: str
    title: str
    singular: str
    service: TenantCrud[Any]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    fields: list[FormField]
    columns: list[Column]
    filters: list[FormField] = field(default_factory=list)
    detail_fields: list[Column] = field(default_factory=list)
    audit_entity: str = ""

    def parse(self, form: FormData, *, for_update: bool) -> tuple[BaseModel | None, list[dict[str, str]]]:
        data: dict[str, Any] = {}
        for f in self.fields:
            if f.kind == "checkbox":
                data[f.name] = form.get(f.name) in ("on", "true", "1")
            elif f.kind == "multiselect":
                data[f.name] = [str(v) for v in form.getlist(f.name) if str(v).strip()]
            else:
                raw = form.get(f.name)
                value = str(raw).strip() if raw is not None else ""
                if value == "" and f.kind in ("select", "date", "number") and not f.required:
                    data[f.name] = None
                elif value == "" and f.required and for_update:
                    data[f.name] = None  # blanking a required field: the service names it
                elif value == "" and f.required:
                    continue  # missing: the schema names the field as required
                else:
                    data[f.name] = value
        schema = self.update_schema if for_update else self.create_schema
        try:
            return schema.model_validate(data), []
        except ValidationError as exc:
            return None, field_errors_from_pydantic(exc.errors())

    def values_of(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            value = getattr(obj, f.name, None)
            if f.kind == "multiselect" and value is not None:
                value = [getattr(v, "code", v) for v in value]
            out[f.name] = value
        return out


def choices(values: tuple[str, ...], labels: dict[str, str]) -> Options:
    def opts(session: Session, actor: Actor) -> list[tuple[str, str]]:
        return [(v, labels.get(v, v)) for v in values]

    return opts
