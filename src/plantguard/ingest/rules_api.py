"""``POST /api/v1/ingest/rules/try``: a device's parser rules tried on a sample line.

The console's rule editor sends the rules as they stand in the form and a line copied from
the device; the answer is what that line would give: the readings (point code, time, value)
and, for each part of the line that would be quarantined, the reason and the field it
concerns (``sample`` when no rule matched, ``rules.0.outputs.1.value`` when an expression
failed). Rules that do not validate answer 422 with field-named errors, like saving them
would. Nothing is stored and no device is touched.

No ``from __future__ import annotations``: FastAPI reads the endpoint's signature at runtime.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StringConstraints

from plantguard.api.crud import model_response
from plantguard.api.deps import GuardedRoute, current_actor, requires
from plantguard.api.errors import field_errors_from_pydantic
from plantguard.core.errors import FieldError
from plantguard.core.i18n import N_, translate_field
from plantguard.core.permissions import Actor, Perm
from plantguard.core.schemas import Input, Storable
from plantguard.ingest.rules import MAX_LINE_CHARS, MAX_RULES, RulesInvalid, try_rules

router = APIRouter(prefix="/ingest/rules", tags=["ingest"], route_class=GuardedRoute)

Sample = Annotated[str, StringConstraints(max_length=MAX_LINE_CHARS), Storable]


class TryRulesIn(Input):
    rules: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RULES, description="The device's parser rules")
    sample: Sample = Field(description="One line as the device sends it")
    received_at: datetime | None = Field(None, description="Time of receipt for rules without a ts group "
                                                            "(default: now; without a zone: UTC)")


class TryOutput(BaseModel):
    point: str
    ts: datetime
    value: float
    rule: str
    output: int  # index in the rule's outputs


class TryReject(BaseModel):
    reason: str  # malformed, no_rule, expression, wrong_type
    field: str  # where in the request the problem shows
    label: str  # that field, as users read it
    message: str  # in the caller's language
    rule: str | None = None
    point: str = ""


class TryRulesOut(BaseModel):
    rule: str | None  # the rule that matched the sample, None when none did
    outputs: list[TryOutput]
    rejects: list[TryReject]


def _received(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise RulesInvalid([FieldError("received_at", N_("Must be a date and time"))]) from None


def _standard_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    """Pydantic's generic errors in the caller's language, as the rest of the API gives them."""
    return [FieldError(e["field"], e["message"]) for e in field_errors_from_pydantic(errors)]


@requires(Perm.WRITE_DEVICES)
def try_rules_endpoint(body: TryRulesIn, actor: Actor = Depends(current_actor)) -> Any:
    # A plain ``def``: matching and evaluating are CPU work, run in the thread pool, bounded by
    # the rules' limits (line length, pattern checks and timeout, expression budget).
    actor.require(Perm.WRITE_DEVICES)
    tried = try_rules(body.rules, body.sample, _received(body.received_at), standard=_standard_errors)
    if tried.errors or tried.result is None:
        raise RulesInvalid(list(tried.errors))
    result = tried.result
    out = TryRulesOut(
        rule=result.rule,
        outputs=[TryOutput(point=v.point, ts=v.ts, value=v.value, rule=v.rule, output=v.output)
                 for v in result.values],
        rejects=[TryReject(reason=r.reason, field=r.field, label=translate_field(r.field), message=r.text(),
                           rule=r.rule, point=r.point) for r in result.rejections],
    )
    return model_response(out)


router.add_api_route("/try", try_rules_endpoint, methods=["POST"], response_model=TryRulesOut,
                     summary="Try parser rules on a sample line")
