"""Shared schema pieces: strict input models, pagination envelopes, common field types.

Every text type refuses what the database cannot store: NUL characters (PostgreSQL rejects
them in text and JSON columns) and text that is not valid Unicode. Each length is the
length of the column the value ends up in, hence one alias per column length:
``Field(max_length=...)`` does *not* change the limit of an ``Annotated`` string type that
already carries one, so never narrow these types that way.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

T = TypeVar("T")

# Ids accepted from callers: well inside a PostgreSQL BIGINT and a SQLite INTEGER (2**63 - 1).
ID_MAX = 2**62


def storable(value: str) -> str:
    """Refuse text the database cannot store; ``api.errors`` translates the error types."""
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "Must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from a JSON "\ud800" escape
        raise PydanticCustomError("string_unicode", "Must be valid Unicode text") from None
    return value


Storable = AfterValidator(storable)
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# Free text whose length is constrained where it is used (query and form parameters).
Text = Annotated[str, Storable]

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                        pattern=CODE_PATTERN), Storable]
Code60 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60,
                                          pattern=CODE_PATTERN), Storable]
Code80 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80,
                                          pattern=CODE_PATTERN), Storable]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]
Name100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable]
Name60 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60), Storable]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Storable]
ShortText100 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), Storable]
ShortText40 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40), Storable]
ShortText20 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20), Storable]
LongText = Annotated[str, StringConstraints(max_length=5000), Storable]
Id = Annotated[int, Field(ge=1, le=ID_MAX)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]


class Input(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
