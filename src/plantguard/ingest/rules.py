"""Parser rules: lines of a private protocol turned into readings, per device.

A device's ``rules`` list (YAML or JSON) names, for each kind of line, a regular expression
with named groups and the readings it yields::

    rules:
      - name: tank-level
        match: '^TANK(?P<tank>\\d+) FS_HI=(?P<hi>[01]) FS_LO=(?P<lo>[01]) T=(?P<temp>-?\\d+\\.\\d+)$'
        ts: null                 # or the name of a group holding the time (ISO-8601, epoch s/ms/µs)
        timezone: UTC            # for a ts group without a zone, e.g. Asia/Shanghai
        outputs:
          - point: 'TK-{tank}-LVLSTATE'                             # {group}: the group's text
            value: '2 if hi == 1 else (1 if lo == 1 else 0)'        # float switches → 0 low, 1 normal, 2 high
          - point: 'TK-{tank}-TEMP'
            value: 'float(temp)'

The rules of a device are tried in order and the first whose pattern is found in the line
(``search``: anchor with ``^``/``$`` for a whole line) wins. Its named groups become the
expressions' variables: text that looks like a whole number is an ``int``, like a decimal
number a ``float``, anything else stays ``str`` (a group that did not take part is ``None``).
Each output's expression runs in :mod:`plantguard.core.safeeval` and must give a finite
number (``True``/``False`` count as 1/0); ``None`` means "no reading from this output for
this line", for conditional outputs. An output that fails is rejected on its own with a
reason; the line's other outputs still count.

Everything is compiled once, when the rules are validated: a pattern that does not compile,
an expression that is not allowed, a placeholder naming no group, are validation errors
naming the rule and the field (``rules.0.outputs.1.value``), before any line arrives.

Regular expressions and time: Python's ``re`` has no timeout and cannot be interrupted, and
a pattern like ``(a+)+$`` takes exponential time on some lines. Three bounds apply:
lines longer than :data:`MAX_LINE_CHARS` are refused before matching; patterns with nested
unbounded repetition (``(a+)+``, ``(\\w+\\s?)*``) are refused at validation with a hint
(a possessive outer repetition, ``(?:\\w+\\s?)*+``, is accepted); and where the ``regex``
package is installed (recommended) the pattern is matched by it with a timeout of
:data:`MATCH_TIMEOUT_S` per rule, which also covers what the static check cannot see
(overlapping alternatives such as ``(a|aa)+``). Patterns are always checked against ``re``'s
syntax, so a rule valid on one installation is valid on every other.
"""

from __future__ import annotations

import dataclasses
import math
import re
import re._constants as sre_constants
import re._parser as sre_parse
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, Final, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError, model_validator

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_, gettext
from plantguard.core.safeeval import CompiledExpression, ExpressionError, compile_expression
from plantguard.core.schemas import CODE_PATTERN, Storable

try:  # the ``regex`` package: the same syntax as ``re``, plus a timeout per match
    import regex as _regex_engine
except ImportError:  # pragma: no cover - depends on the installation
    _regex_engine = None
HAS_MATCH_TIMEOUT: Final = _regex_engine is not None

MAX_LINE_CHARS: Final = 4096
MAX_PATTERN_CHARS: Final = 1000
MAX_RULES: Final = 50
MAX_OUTPUTS: Final = 50
MAX_POINT_CODE: Final = 60
MATCH_TIMEOUT_S: Final = 0.02  # per rule and line, with the ``regex`` engine
LINE_BUDGET_S: Final = 0.05  # all rules together, per line: later rules are skipped past it
MANY: Final = 16  # a repetition allowing more than this many times counts as "unbounded"

# Why a line or an output was refused: the quarantine's reason codes (see ingest/pipeline.py).
MALFORMED: Final = "malformed"
NO_RULE: Final = "no_rule"
EXPRESSION: Final = "expression"
WRONG_TYPE: Final = "wrong_type"
UNKNOWN_POINT: Final = "unknown_point"

_CODE = re.compile(CODE_PATTERN)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_CODE_CHARS = re.compile(r"[A-Za-z0-9._-]*")
_INT = re.compile(r"[+-]?\d{1,30}", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)
_EPOCH = re.compile(r"[+-]?\d{1,20}(?:\.\d{0,9})?", re.ASCII)
_EPOCH0 = datetime(1970, 1, 1, tzinfo=UTC)


# -- validation problems ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rule: ``field`` relative to the rule (``outputs.1.value``),
    a catalogue message with its parameters, and the expression error behind it if any."""

    field: str
    message: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cause: ExpressionError | None = None

    def english(self) -> str:
        params = dict(self.params)
        if self.cause is not None:
            params["problem"] = self.cause.english()
        return self.message % params if params else self.message


class RuleError(ValueError):
    """Raised inside validation; pydantic keeps it in the error's context, from which
    :func:`rule_errors` recovers each problem with its full field path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.english()}" for p in problems))


class RulesInvalid(ValidationFailed):
    """The rules do not validate; ``errors`` name each field (``rules.0.match``)."""


StandardErrors = Callable[[list[dict[str, Any]]], list[FieldError]]


def rule_errors(exc: ValidationError, prefix: str = "", standard: StandardErrors | None = None) -> list[FieldError]:
    """Pydantic's errors about rules as field errors. A rule's own problems keep their
    catalogue ids (expression errors are rendered in the current language, with their
    column); pydantic's generic errors (a missing field, a wrong type) go through
    ``standard`` when given (the API's translated messages), else keep pydantic's English."""
    out: list[FieldError] = []
    generic: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in (prefix, *err["loc"]) if p != ""]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, RuleError):
            for p in cause.problems:
                params = dict(p.params)
                if p.cause is not None:
                    params["problem"] = p.cause.text()
                out.append(FieldError(".".join([*loc, p.field]), p.message, params))
        elif standard is not None:
            generic.append({**err, "loc": tuple(loc)})
        else:
            out.append(FieldError(".".join(loc) or "rules", N_("%(problem)s"), {"problem": err["msg"]}))
    return (standard(generic) if generic and standard is not None else []) + out


# -- patterns ------------------------------------------------------------------------------------------


_BAD_PATTERN = N_("Rule %(rule)s: not a valid regular expression: %(detail)s")


class PatternTimeout(Exception):
    """A match took longer than :data:`MATCH_TIMEOUT_S` (``regex`` engine only)."""


def _subpatterns(av: Any) -> Iterator[Any]:
    if isinstance(av, sre_parse.SubPattern):
        yield av
    elif isinstance(av, (tuple, list)):
        for x in av:
            yield from _subpatterns(x)


def _nested_repeat(items: Any, inside_many: bool) -> bool:
    """True when an unbounded repetition sits inside another (star height above one)."""
    for op, av in items:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            _lo, hi, sub = av
            many = hi == sre_constants.MAXREPEAT or hi > MANY
            if (many and inside_many) or _nested_repeat(sub, inside_many or many):
                return True
        elif op == sre_constants.POSSESSIVE_REPEAT:
            if _nested_repeat(av[2], False):  # no backtracking into a possessive repetition
                return True
        else:
            for sub in _subpatterns(av):
                if _nested_repeat(sub, inside_many):
                    return True
    return False


@dataclass(frozen=True)
class CompiledPattern:
    source: str
    groups: tuple[str, ...]
    engine: str  # "regex" (with a timeout) or "re"
    _search: Callable[[str], Any]

    def search(self, line: str) -> dict[str, str | None] | None:
        """The named groups where the pattern is found in ``line``, or None."""
        try:
            m = self._search(line)
        except TimeoutError:
            raise PatternTimeout(self.source) from None
        if m is None:
            return None
        groups: dict[str, str | None] = m.groupdict()
        return groups


def compile_pattern(pattern: str, rule: str = "-", engine: str | None = None) -> CompiledPattern:
    """Check and compile the pattern of rule ``rule``; raises :class:`RuleError` (field
    ``match``). ``engine``: "re" or "regex"; by default ``regex`` when installed."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RuleError([Problem("match", N_("Rule %(rule)s: the pattern is longer than %(max)s characters"),
                                 {"rule": rule, "max": MAX_PATTERN_CHARS})])
    try:
        std = re.compile(pattern)
        parsed = sre_parse.parse(pattern)
        nested = _nested_repeat(parsed, False)
    except re.error as exc:
        detail = exc.msg if exc.pos is None else f"{exc.msg} at position {exc.pos + 1}"
        raise RuleError([Problem("match", _BAD_PATTERN, {"rule": rule, "detail": detail})]) from None
    except (RecursionError, OverflowError, ValueError, TypeError, MemoryError) as exc:
        raise RuleError([Problem("match", _BAD_PATTERN,
                                 {"rule": rule, "detail": str(exc)[:200] or type(exc).__name__})]) from None
    if nested:
        raise RuleError([Problem("match", N_(
            "Rule %(rule)s: repetition inside repetition, such as (a+)+, can take exponential time on some lines; "
            "rewrite it, e.g. with a character class ([\\w\\s]+ for (\\w+\\s?)+) or a possessive quantifier "
            "((?:\\w+\\s?)++)"),
            {"rule": rule})])
    groups = tuple(std.groupindex)
    use_regex = _regex_engine is not None and engine != "re"
    if use_regex:
        try:
            fast = _regex_engine.compile(pattern)
        except Exception:  # pragma: no cover - every pattern re accepts, regex accepts too
            use_regex = False
    if use_regex:
        def search(line: str) -> Any:
            return fast.search(line, timeout=MATCH_TIMEOUT_S)

        return CompiledPattern(pattern, groups, "regex", search)
    return CompiledPattern(pattern, groups, "re", std.search)


# -- values ---------------------------------------------------------------------------------------------


def coerce(text: str | None) -> int | float | str | None:
    """A group's text as the expressions see it: whole numbers as int, decimals as float."""
    if text is None:
        return None
    s = text.strip()
    if _INT.fullmatch(s):
        return int(s)
    if len(s) <= 60 and _FLOAT.fullmatch(s):
        return float(s)
    return text


class BadTimestamp(ValueError):
    pass


def parse_timestamp(text: str, tz: tzinfo = UTC) -> datetime:
    """ISO-8601 (a time without a zone is in ``tz``) or epoch seconds, milliseconds or
    microseconds, told apart by magnitude as in HTTP ingest."""
    s = text.strip()
    try:
        if _EPOCH.fullmatch(s):
            x = float(s)
            us = x * 1e6 if abs(x) < 1e11 else (x * 1e3 if abs(x) < 1e14 else x)
            return _EPOCH0 + timedelta(microseconds=round(us))
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=tz)
        return dt.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise BadTimestamp(s) from exc


# -- models -----------------------------------------------------------------------------------------------

RuleName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60), Storable]
PatternText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATTERN_CHARS), Storable]
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable]
ExpressionText = Annotated[str, StringConstraints(min_length=1, max_length=1000), Storable]
PointTemplate = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable]
ZoneName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Storable]


class RuleOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: PointTemplate  # a measurement point code; {group} is replaced by the group's text
    value: ExpressionText  # a safeeval expression over the groups


@dataclass(frozen=True, slots=True)
class _Output:
    parts: tuple[tuple[str, str | None], ...]  # (literal, group or None)
    expression: CompiledExpression

    def point(self, groups: Mapping[str, str | None]) -> str:
        return "".join(lit + ("" if g is None else (groups.get(g) or "")) for lit, g in self.parts)


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    pattern: CompiledPattern
    ts: str | None
    tz: tzinfo
    outputs: tuple[_Output, ...]
    variables: frozenset[str]  # the groups the expressions read: only those are converted


def _template(text: str, groups: tuple[str, ...] | None, where: str,
              rule: str) -> tuple[tuple[tuple[str, str | None], ...], list[Problem]]:
    """``TK-{tank}-TEMP`` as (literal, group) parts; ``groups`` None: the pattern is invalid,
    placeholders are not checked."""
    parts: list[tuple[str, str | None]] = []
    problems: list[Problem] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        parts.append((text[pos:m.start()], m.group(1)))
        if groups is not None and m.group(1) not in groups:
            problems.append(Problem(where, N_("Rule %(rule)s: {%(name)s} is not a group of the pattern; "
                                              "its groups: %(groups)s"),
                                    {"rule": rule, "name": m.group(1), "groups": ", ".join(groups) or "-"}))
        pos = m.end()
    parts.append((text[pos:], None))
    literal = "".join(lit for lit, _g in parts)
    if not _CODE_CHARS.fullmatch(literal) or (len(parts) == 1 and not _CODE.fullmatch(literal)):
        problems.append(Problem(where, N_(
            "Rule %(rule)s: a point code holds letters, digits, '.', '_' and '-' (starting with a letter or "
            "digit), and {group} placeholders"), {"rule": rule}))
    return tuple((lit, g) for lit, g in parts if lit or g is not None), problems


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RuleName
    match: PatternText  # a regular expression with named groups, (?P<name>...)
    ts: GroupName | None = None  # the group holding the reading's time; else the time of receipt
    timezone: ZoneName = "UTC"  # of a ts without a zone
    outputs: list[RuleOutput] = Field(min_length=1, max_length=MAX_OUTPUTS)

    _compiled: _Compiled = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> Rule:
        """Compile everything once; report every problem of the rule, not just the first."""
        problems: list[Problem] = []
        rule = {"rule": self.name}
        pattern: CompiledPattern | None = None
        try:
            pattern = compile_pattern(self.match, self.name)  # its RuleError names the field and the rule
        except RuleError as exc:
            problems += exc.problems
        groups = pattern.groups if pattern is not None else None
        if self.ts is not None and groups is not None and self.ts not in groups:
            problems.append(Problem("ts", N_("Rule %(rule)s: no group named %(name)s in the pattern; "
                                             "its groups: %(groups)s"),
                                    {**rule, "name": self.ts, "groups": ", ".join(groups) or "-"}))
        tz: tzinfo = UTC
        if self.timezone.upper() != "UTC":
            try:
                tz = ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                problems.append(Problem("timezone", N_("Rule %(rule)s: unknown time zone %(name)s "
                                                       "(use a name such as Asia/Shanghai, or UTC)"),
                                        {**rule, "name": self.timezone}))
        outputs: list[_Output] = []
        for i, out in enumerate(self.outputs):
            parts, bad = _template(out.point, groups, f"outputs.{i}.point", self.name)
            problems += bad
            try:
                expression = compile_expression(out.value, names=groups)
            except ExpressionError as exc:
                problems.append(Problem(f"outputs.{i}.value", N_("Rule %(rule)s: %(problem)s"), rule, exc))
                continue
            outputs.append(_Output(parts, expression))
        if problems:
            raise RuleError(problems)
        assert pattern is not None
        used = frozenset().union(*(o.expression.names for o in outputs))
        self._compiled = _Compiled(self.name, pattern, self.ts, tz, tuple(outputs), used)
        return self


# -- applying ----------------------------------------------------------------------------------------------


class ParsedValue(NamedTuple):
    point: str  # the measurement point code
    ts: datetime  # UTC
    value: float
    rule: str
    output: int  # index in the rule's outputs


@dataclass(frozen=True)
class Rejection:
    """Why a line, or one output of it, gave no reading."""

    reason: str  # MALFORMED, NO_RULE, EXPRESSION, WRONG_TYPE, UNKNOWN_POINT
    message: str  # catalogue id
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    rule: str | None = None
    rule_index: int | None = None
    output: int | None = None
    point: str = ""
    cause: ExpressionError | None = None

    @property
    def field(self) -> str:
        """Where in ``{rules: [...], sample: ...}`` the problem shows, for the console."""
        if self.rule_index is None:
            return "sample"
        if self.output is None:
            return f"rules.{self.rule_index}.ts"
        part = "value" if self.reason in (EXPRESSION, WRONG_TYPE) else "point"
        return f"rules.{self.rule_index}.outputs.{self.output}.{part}"

    def text(self, locale: str | None = None) -> str:
        params = {k: (gettext(v, locale) if isinstance(v, str) else v) for k, v in self.params.items()}
        if self.cause is not None:
            params["problem"] = self.cause.text(locale)
        msg = gettext(self.message, locale)
        return msg % params if params else msg

    def english(self) -> str:
        params = dict(self.params)
        if self.cause is not None:
            params["problem"] = self.cause.english()
        return self.message % params if params else self.message


class ParseResult(NamedTuple):
    rule: str | None  # the rule that matched, None when none did
    values: tuple[ParsedValue, ...] = ()
    rejections: tuple[Rejection, ...] = ()

    @property
    def matched(self) -> bool:
        return self.rule is not None


class RuleSet(BaseModel):
    """A device's rules, compiled. Build with :meth:`from_raw` for field-named errors."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)

    _compiled: tuple[_Compiled, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        seen: dict[str, int] = {}
        problems: list[Problem] = []
        for i, r in enumerate(self.rules):
            if r.name in seen:
                problems.append(Problem(f"rules.{i}.name", N_("Rule %(rule)s: the name is already used by rule "
                                                              "%(other)s"),
                                        {"rule": r.name, "other": seen[r.name] + 1}))
            seen.setdefault(r.name, i)
        if problems:
            raise RuleError(problems)
        self._compiled = tuple(r._compiled for r in self.rules)
        return self

    @classmethod
    def from_raw(cls, raw: Any, standard: StandardErrors | None = None) -> RuleSet:
        """Validate a device's raw ``rules`` list; raises :class:`RulesInvalid` (422) naming
        each field, e.g. ``rules.0.outputs.1.value`` (``standard``: see :func:`rule_errors`)."""
        try:
            return cls.model_validate({"rules": raw})
        except ValidationError as exc:
            raise RulesInvalid(rule_errors(exc, standard=standard)) from None

    @property
    def runner(self) -> CompiledRules:
        """The compiled rules alone, for the per-line path (no model attribute lookups)."""
        return CompiledRules(self._compiled)

    def apply(self, line: str, received_at: datetime) -> ParseResult:
        """See :meth:`CompiledRules.apply`."""
        return CompiledRules(self._compiled).apply(line, received_at)


_NO_RULE = ParseResult(None, (), (Rejection(NO_RULE, N_("No rule matched the line")),))
_TOO_LONG = ParseResult(None, (), (Rejection(MALFORMED, N_("The line is longer than %(max)s characters"),
                                             {"max": MAX_LINE_CHARS}),))


class CompiledRules:
    """A device's rules, compiled: what runs per line."""

    __slots__ = ("rules",)

    def __init__(self, rules: tuple[_Compiled, ...]) -> None:
        self.rules = rules

    def apply(self, line: str, received_at: datetime) -> ParseResult:
        """The readings ``line`` yields, or why it yields none. ``received_at`` (UTC) is the
        time of readings whose rule has no ``ts`` group. Never raises for any input line."""
        line = line.rstrip("\r\n")
        if len(line) > MAX_LINE_CHARS:
            return _TOO_LONG
        started = 0.0
        slow: list[str] = []
        for index, rule in enumerate(self.rules):
            if slow and time.monotonic() - started > LINE_BUDGET_S:
                break
            try:
                groups = rule.pattern.search(line)
            except PatternTimeout:
                if not slow:
                    started = time.monotonic() - MATCH_TIMEOUT_S
                slow.append(rule.name)
                continue
            if groups is not None:
                return _apply(rule, index, groups, received_at)
        if slow:
            return ParseResult(None, (), (Rejection(NO_RULE, N_(
                "No rule matched; the pattern of rule %(rule)s took longer than %(ms)s ms and was given up"),
                {"rule": slow[0], "ms": int(MATCH_TIMEOUT_S * 1000)}),))
        return _NO_RULE


def _apply(rule: _Compiled, index: int, groups: dict[str, str | None], received_at: datetime) -> ParseResult:
    ts = received_at
    if rule.ts is not None:
        text = groups.get(rule.ts)
        if text:
            try:
                ts = parse_timestamp(text, rule.tz)
            except BadTimestamp:
                return ParseResult(rule.name, (), (Rejection(
                    MALFORMED, N_("Rule %(rule)s: the time %(value)s is neither ISO-8601 nor epoch seconds or "
                                  "milliseconds"), {"rule": rule.name, "value": text[:60]},
                    rule=rule.name, rule_index=index),))
    variables = {k: (coerce(v) if k in rule.variables else v) for k, v in groups.items()}
    values: list[ParsedValue] = []
    rejections: list[Rejection] = []
    for i, out in enumerate(rule.outputs):
        point = out.point(groups)
        where = {"rule": rule.name, "output": i + 1}
        if len(point) > MAX_POINT_CODE or not _CODE.fullmatch(point):
            rejections.append(Rejection(UNKNOWN_POINT, N_("Rule %(rule)s, output %(output)s: %(code)s is not a "
                                                          "valid point code"),
                                        {**where, "code": point[:80]}, rule.name, index, i))
            continue
        try:
            result = out.expression.evaluate(variables)
        except ExpressionError as exc:
            rejections.append(Rejection(EXPRESSION, N_("Rule %(rule)s, output %(output)s: expression failed: "
                                                       "%(problem)s"), where, rule.name, index, i, point, exc))
            continue
        if result is None:
            continue
        value = _number(result)
        if value is None:
            rejections.append(Rejection(WRONG_TYPE, N_("Rule %(rule)s, output %(output)s: the value is not a "
                                                       "number: %(value)s"),
                                        {**where, "value": _show(result)}, rule.name, index, i, point))
            continue
        values.append(ParsedValue(point, ts, value, rule.name, i))
    return ParseResult(rule.name, tuple(values), tuple(rejections))


def _number(v: Any) -> float | None:
    if isinstance(v, (int, float)):  # bool included: True is 1.0
        try:
            f = float(v)
        except OverflowError:
            return None
        return f if math.isfinite(f) else None
    return None


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


# -- trying rules in the console -------------------------------------------------------------------------


@dataclass(frozen=True)
class TryResult:
    """What a sample line gives under some rules: validation errors (nothing was applied),
    or the parse result with its readings and rejections."""

    errors: tuple[FieldError, ...] = ()
    result: ParseResult | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.result is not None and not self.result.rejections


def try_rules(rules: Sequence[Any], sample: str, received_at: datetime | None = None, *,
              standard: StandardErrors | None = None) -> TryResult:
    """Validate ``rules`` and apply them to ``sample``, for "try it" in the console. Pure: no
    I/O and no device; errors name their field (``rules.0.match``, ``sample``)."""
    try:
        ruleset = RuleSet.from_raw(list(rules) if isinstance(rules, (list, tuple)) else rules, standard)
    except RulesInvalid as exc:
        return TryResult(errors=tuple(exc.errors))
    if not isinstance(sample, str):
        return TryResult(errors=(FieldError("sample", N_("Must be text")),))
    if len(sample.rstrip("\r\n")) > MAX_LINE_CHARS:
        return TryResult(errors=(FieldError("sample", N_("Must be at most %(max_length)s characters"),
                                            {"max_length": MAX_LINE_CHARS}),))
    when = received_at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return TryResult(result=ruleset.apply(sample, when))
