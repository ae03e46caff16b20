"""Domain errors raised by services and translated into HTTP answers at the edge.

Messages are catalogue ids (English) with parameters; they are translated into the
caller's language only when the answer is rendered, so services stay locale-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from plantguard.core.i18n import N_


class PlantGuardError(Exception):
    status_code = 400
    code = "error"

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


class NotFound(PlantGuardError):
    """The record does not exist *for this caller*: other tenants' records look the same."""

    status_code = 404
    code = "not_found"

    def __init__(self, entity: str, ident: object = None) -> None:
        super().__init__(N_("%(entity)s not found"), entity=entity)
        self.entity = entity
        self.ident = ident


class PermissionDenied(PlantGuardError):
    status_code = 403
    code = "forbidden"

    def __init__(self, permission: str) -> None:
        super().__init__(N_("Your role may not do this (%(permission)s)"), permission=permission)
        self.permission = permission


class NotAuthenticated(PlantGuardError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self) -> None:
        super().__init__(N_("Sign-in required"))


class TooManyAttempts(PlantGuardError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(N_("Too many failed sign-ins; try again in %(seconds)s s"), seconds=retry_after)
        self.retry_after = retry_after


class Conflict(PlantGuardError):
    status_code = 409
    code = "conflict"


@dataclass
class FieldError:
    field: str
    message: str
    params: dict[str, Any] = dataclass_field(default_factory=dict)


class ValidationFailed(PlantGuardError):
    status_code = 422
    code = "validation_error"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(N_("Invalid input"))
        self.errors = errors
