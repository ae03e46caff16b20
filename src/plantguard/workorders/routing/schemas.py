"""Request and response bodies of /api/v1/routing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from plantguard.core.schemas import Id, Input, Output, Storable
from plantguard.workorders.routing.spec import MAX_SOURCE_CHARS

Source = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SOURCE_CHARS), Storable]


class RuleSetCreate(Input):
    source: Source = Field(description="The rule set as YAML or JSON text (see docs/routing.md)")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Storable] = ""


class RuleSetPublic(Output):
    id: int
    version: int
    source: str
    spec: dict[str, Any]
    comment: str
    author: str
    created_at: datetime


class RuleSetSummary(Output):
    id: int
    version: int
    comment: str
    author: str
    created_at: datetime


class TryIn(Input):
    facts: dict[str, Any] = Field(default_factory=dict, max_length=50,
                                  description="Sample facts (names from contract.FACT_FIELDS)")
    alarm_id: Id | None = Field(default=None, description="Build the facts from this alarm (given facts win)")
    source: Source | None = Field(default=None, description="Try this draft instead of the version in force")


class DecisionOut(Output):
    team_code: str | None
    priority: str
    skills: list[str]
    assignee_username: str | None
    rule: str
    rule_set_version: int | None


class WhyOut(Output):
    ok: bool
    path: str
    text: str
    actual: str | None = None
    because: list[WhyOut] = []


class StepOut(Output):
    rule: str
    index: int
    matched: bool
    why: WhyOut | None


class TryOut(Output):
    decision: DecisionOut
    steps: list[StepOut]
    trace: list[str]
    facts: dict[str, Any]
    version: int | None
