"""Parser rules: validation naming the rule and field, applying them to lines, trying them
from the console's API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plantguard.core.context import locale_var
from plantguard.core.errors import FieldError
from plantguard.core.i18n import translate_field
from plantguard.ingest.rules import (
    EXPRESSION,
    HAS_MATCH_TIMEOUT,
    MALFORMED,
    NO_RULE,
    UNKNOWN_POINT,
    WRONG_TYPE,
    RuleSet,
    RulesInvalid,
    coerce,
    compile_pattern,
    parse_timestamp,
    try_rules,
)
from tests.api.conftest import build_app
from tests.conftest import Db
from tests.factories import PASSWORD, make_tenant


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are compared in English here; the catalogue would give Chinese by default."""
    token = locale_var.set("en")
    yield
    locale_var.reset(token)

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
TANK_PATTERN = r"^TANK(?P<tank>\d+) FS_HI=(?P<hi>[01]) FS_LO=(?P<lo>[01]) T=(?P<temp>-?\d+\.\d+)$"
TANK = {
    "name": "tank-level",
    "match": TANK_PATTERN,
    "ts": None,
    "outputs": [
        {"point": "TK-{tank}-LVLSTATE", "value": "2 if hi == 1 else (1 if lo == 1 else 0)"},
        {"point": "TK-{tank}-TEMP", "value": "float(temp)"},
    ],
}


def rule(**over: Any) -> dict[str, Any]:
    return {**TANK, **over}


def errors_of(raw: Any) -> dict[str, str]:
    with pytest.raises(RulesInvalid) as info:
        RuleSet.from_raw(raw)
    return {e.field: (e.message % e.params if e.params else e.message) for e in info.value.errors}


# -- the example: float switches to a level state -------------------------------------------


@pytest.mark.parametrize("hi, lo, state", [(1, 0, 2.0), (1, 1, 2.0), (0, 1, 1.0), (0, 0, 0.0)])
def test_float_switches_become_a_level_state(hi: int, lo: int, state: float) -> None:
    rs = RuleSet.from_raw([TANK])
    result = rs.apply(f"TANK3 FS_HI={hi} FS_LO={lo} T=-4.25\r\n", T0)
    assert result.rule == "tank-level" and result.matched
    assert [(v.point, v.ts, v.value) for v in result.values] == [("TK-3-LVLSTATE", T0, state), ("TK-3-TEMP", T0, -4.25)]
    assert result.rejections == ()


def test_the_first_matching_rule_wins_and_others_are_tried_in_order() -> None:
    rs = RuleSet.from_raw([
        {"name": "alarm", "match": r"^ALARM (?P<code>\w+)$", "outputs": [{"point": "GAS-ALARM", "value": "1"}]},
        TANK,
        {"name": "any-tank", "match": r"^TANK", "outputs": [{"point": "NEVER", "value": "0"}]},
    ])
    assert rs.apply("ALARM H2S", T0).values[0][:3] == ("GAS-ALARM", T0, 1.0)
    assert rs.apply("TANK1 FS_HI=0 FS_LO=0 T=1.0", T0).rule == "tank-level"
    assert rs.apply("TANK? whatever", T0).rule == "any-tank"


def test_a_line_no_rule_matches_is_rejected_with_the_reason() -> None:
    result = RuleSet.from_raw([TANK]).apply("TANK3 FS_HI=2 FS_LO=1 T=1.0", T0)
    assert not result.matched and result.values == ()
    (rej,) = result.rejections
    assert (rej.reason, rej.english(), rej.field) == (NO_RULE, "No rule matched the line", "sample")


def test_a_line_over_the_limit_is_malformed_before_any_matching() -> None:
    (rej,) = RuleSet.from_raw([TANK]).apply("x" * 5000, T0).rejections
    assert (rej.reason, rej.english()) == (MALFORMED, "The line is longer than 4096 characters")


# -- outputs that fail are rejected one by one --------------------------------------------------------


def test_failing_outputs_are_rejected_alone_and_the_others_still_count() -> None:
    rs = RuleSet.from_raw([{
        "name": "meter", "match": r"^M(?P<n>\d) V=(?P<v>\S+) R=(?P<r>\S+)$",
        "outputs": [
            {"point": "M{n}-V", "value": "v"},                      # a number: fine
            {"point": "M{n}-RATIO", "value": "v / r"},              # division by zero when r == 0
            {"point": "M{n}-TEXT", "value": "str(v)"},              # not a number
            {"point": "M{n}-OPT", "value": "None if r == 0 else r"},  # None: no reading, no rejection
            {"point": "M{n}-INF", "value": "v * 1e308 * 10"},       # not finite
            {"point": "M{n}-FLAG", "value": "v > 1"},               # True counts as 1.0
        ],
    }])
    result = rs.apply("M1 V=2.5 R=0", T0)
    assert [(v.point, v.value) for v in result.values] == [("M1-V", 2.5), ("M1-FLAG", 1.0)]
    got = [(r.reason, r.output, r.field, r.point, r.english()) for r in result.rejections]
    assert got == [
        (EXPRESSION, 1, "rules.0.outputs.1.value", "M1-RATIO",
         "Rule meter, output 2: expression failed: Division by zero"),
        (WRONG_TYPE, 2, "rules.0.outputs.2.value", "M1-TEXT", "Rule meter, output 3: the value is not a number: '2.5'"),
        (WRONG_TYPE, 4, "rules.0.outputs.4.value", "M1-INF", "Rule meter, output 5: the value is not a number: inf"),
    ]
    # a group that is not numeric stays text: the expression sees a str and fails on it
    (rej,) = [r for r in rs.apply("M1 V=abc R=2", T0).rejections if r.output == 1]
    assert rej.reason == EXPRESSION and "Wrong type" in rej.english()


def test_a_point_code_made_invalid_by_the_line_is_an_unknown_point() -> None:
    rs = RuleSet.from_raw([{"name": "r", "match": r"^(?P<id>\S+)=(?P<v>\d+)$",
                            "outputs": [{"point": "P-{id}", "value": "v"}]}])
    assert rs.apply("A.1=5", T0).values[0][:3] == ("P-A.1", T0, 5.0)
    (rej,) = rs.apply("A/1=5", T0).rejections
    assert (rej.reason, rej.field, rej.english()) == (
        UNKNOWN_POINT, "rules.0.outputs.0.point", "Rule r, output 1: P-A/1 is not a valid point code")
    (rej,) = rs.apply("A" * 70 + "=5", T0).rejections
    assert rej.reason == UNKNOWN_POINT


# -- group values and timestamps ----------------------------------------------------------------------


@pytest.mark.parametrize("text, value", [
    ("42", 42), ("-7", -7), ("+3", 3), ("007", 7), (" 12 ", 12), ("1.5", 1.5), ("-0.25", -0.25), (".5", 0.5),
    ("5.", 5.0), ("1e3", 1000.0), ("2.5E-2", 0.025), ("abc", "abc"), ("1.2.3", "1.2.3"), ("0x1F", "0x1F"),
    ("nan", "nan"), ("inf", "inf"), ("", ""), (None, None), ("1" * 40, float("1" * 40)), ("1" * 70, "1" * 70),
])
def test_groups_that_look_numeric_become_numbers(text: str | None, value: Any) -> None:
    got = coerce(text)
    assert got == value and type(got) is type(value)


def test_numeric_groups_reach_the_expression_as_numbers() -> None:
    rs = RuleSet.from_raw([{"name": "r", "match": r"^(?P<a>\S+) (?P<b>\S+) (?P<c>\S+)(?: (?P<d>\S+))?$",
                            "outputs": [{"point": "X", "value": "a + b if c == 'on' and d is None else -1"}]}])
    assert rs.apply("2 0.5 on", T0).values[0].value == 2.5
    assert rs.apply("2 0.5 on extra", T0).values[0].value == -1.0


@pytest.mark.parametrize("text, expected", [
    ("2026-11-28T08:00:00Z", T0),
    ("2026-11-28T16:00:00+08:00", T0),
    ("2026-11-28 08:00:00.250", T0 + timedelta(milliseconds=250)),
    ("1795852800", T0),  # epoch seconds
    ("1795852800.5", T0 + timedelta(milliseconds=500)),
    ("1795852800123", T0 + timedelta(milliseconds=123)),  # epoch milliseconds
    ("1795852800123456", T0 + timedelta(microseconds=123456)),  # epoch microseconds
])
def test_timestamps_iso_or_epoch(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_a_ts_group_sets_the_readings_time_in_the_rules_time_zone() -> None:
    rs = RuleSet.from_raw([{"name": "stamped", "match": r"^(?P<at>.+) T=(?P<t>\S+)$", "ts": "at",
                            "timezone": "Asia/Shanghai", "outputs": [{"point": "T1", "value": "t"}]}])
    (v,) = rs.apply("2026-11-28 16:00:00 T=3.5", T0 - timedelta(days=1)).values
    assert (v.ts, v.value) == (T0, 3.5)
    assert v.ts.tzinfo == UTC
    (v,) = rs.apply("2026-11-28T08:00:00Z T=1", T0).values  # an explicit zone wins
    assert v.ts == T0
    result = rs.apply("yesterday noon T=1", T0)
    (rej,) = result.rejections
    assert result.values == () and rej.reason == MALFORMED and rej.field == "rules.0.ts"
    assert rej.english() == ("Rule stamped: the time yesterday noon is neither ISO-8601 nor epoch seconds or "
                             "milliseconds")


def test_without_a_ts_group_readings_take_the_time_of_receipt() -> None:
    received = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    (v, _) = RuleSet.from_raw([TANK]).apply("TANK1 FS_HI=0 FS_LO=0 T=1.0", received).values
    assert v.ts == received


# -- validation: compiled once, errors name the rule and the field ---------------------------------------


def test_a_bad_regular_expression_is_refused_naming_the_rule_and_field() -> None:
    assert errors_of([rule(match=r"^TANK(?P<tank>\d+")]) == {
        "rules.0.match": "Rule tank-level: not a valid regular expression: missing ), unterminated subpattern "
                         "at position 6"}


def test_a_bad_expression_is_refused_naming_the_rule_and_field() -> None:
    bad = rule(outputs=[{"point": "TK-{tank}-T", "value": "float(temp"},
                        {"point": "TK-{tank}-X", "value": "temp.__class__"},
                        {"point": "TK-{tank}-Y", "value": "hi + level"}])
    assert errors_of([TANK, {**bad, "name": "second"}]) == {
        "rules.1.outputs.0.value": "Rule second: Not a valid expression: '(' was never closed (column 6)",
        "rules.1.outputs.1.value": "Rule second: Attributes starting with an underscore are not allowed: __class__ "
                                   "(column 6)",
        "rules.1.outputs.2.value": "Rule second: Unknown name level; available: hi, lo, tank, temp (column 6)",
    }


def test_every_problem_of_a_rule_is_reported_at_once() -> None:
    got = errors_of([{"name": "r", "match": r"(?P<v>\d+)", "ts": "when", "timezone": "Mars/Olympus",
                      "outputs": [{"point": "P-{w}", "value": "v"}, {"point": "bad code", "value": "1"}]}])
    assert got == {
        "rules.0.ts": "Rule r: no group named when in the pattern; its groups: v",
        "rules.0.timezone": "Rule r: unknown time zone Mars/Olympus (use a name such as Asia/Shanghai, or UTC)",
        "rules.0.outputs.0.point": "Rule r: {w} is not a group of the pattern; its groups: v",
        "rules.0.outputs.1.point": "Rule r: a point code holds letters, digits, '.', '_' and '-' (starting with a "
                                   "letter or digit), and {group} placeholders",
    }


def test_structure_errors_name_the_field() -> None:
    got = errors_of([{"name": "a", "match": "x", "outputs": [{"point": "P", "value": "1"}], "when": 1},
                     {"name": "a", "match": "x", "outputs": []}, {"match": "x", "outputs": [{"point": "P"}]}])
    assert set(got) == {"rules.0.when", "rules.1.outputs", "rules.2.name", "rules.2.outputs.0.value"}
    assert errors_of([]) == {"rules": "List should have at least 1 item after validation, not 0"}
    assert set(errors_of("not a list")) == {"rules"}
    assert set(errors_of([{"name": "a", "match": "x", "outputs": [{"point": "P", "value": "1"}]}] * 51)) == {"rules"}


def test_rule_names_are_unique() -> None:
    one = {"name": "same", "match": "x", "outputs": [{"point": "P", "value": "1"}]}
    assert errors_of([one, TANK, one]) == {"rules.2.name": "Rule same: the name is already used by rule 1"}


# -- regular expressions that could take forever ------------------------------------------------------------


@pytest.mark.parametrize("pattern", [r"^(a+)+$", r"^(\w+\s?)*$", r"(?:x*)*y", r"((ab)*c)+", r"^(?>(a+)+b)",
                                     r"(?:\d+,?){2,100}$"])
def test_nested_unbounded_repetition_is_refused(pattern: str) -> None:
    (message,) = errors_of([rule(match=pattern, outputs=[{"point": "P", "value": "1"}])]).values()
    assert message.startswith("Rule tank-level: repetition inside repetition, such as (a+)+")


@pytest.mark.parametrize("pattern", [r"^(?:a+)++$", r"^(?:\w+\s?)*+$", r"^(\d+,){3}$", r"^[\w\s]+$",
                                     r"^(?P<k>\w+)=(?P<v>[^;]*)(?:;(?P<rest>.*))?$"])
def test_safe_repetition_is_accepted(pattern: str) -> None:
    RuleSet.from_raw([rule(match=pattern, outputs=[{"point": "P", "value": "1"}])])


def test_both_engines_give_the_same_groups() -> None:
    line = "TANK12 FS_HI=1 FS_LO=0 T=-3.50"
    std = compile_pattern(TANK_PATTERN, engine="re")
    assert std.engine == "re"
    assert std.search(line) == {"tank": "12", "hi": "1", "lo": "0", "temp": "-3.50"}
    assert std.search("nothing") is None
    if HAS_MATCH_TIMEOUT:
        fast = compile_pattern(TANK_PATTERN)
        assert fast.engine == "regex" and fast.search(line) == std.search(line)


@pytest.mark.skipif(not HAS_MATCH_TIMEOUT, reason="the regex package is not installed")
def test_a_slow_pattern_times_out_and_the_line_is_rejected() -> None:
    # Overlapping alternatives: exponential backtracking that no static check catches.
    rs = RuleSet.from_raw([{"name": "slow", "match": r"^(a|aa)+$", "outputs": [{"point": "P", "value": "1"}]},
                           {"name": "other", "match": r"^B", "outputs": [{"point": "P", "value": "2"}]}])
    started = time.perf_counter()
    result = rs.apply("a" * 60 + "!", T0)
    assert time.perf_counter() - started < 1.0
    (rej,) = result.rejections
    assert rej.reason == NO_RULE
    assert rej.english() == "No rule matched; the pattern of rule slow took longer than 20 ms and was given up"
    assert rs.apply("B", T0).values[0].value == 2.0  # the next rule is still tried


# -- trying rules on a sample line ---------------------------------------------------------------------------


def test_try_rules_gives_outputs_or_field_named_errors() -> None:
    ok = try_rules([TANK], "TANK7 FS_HI=0 FS_LO=1 T=20.0", T0)
    assert ok.ok and ok.errors == ()
    assert ok.result is not None
    assert [(v.point, v.value) for v in ok.result.values] == [("TK-7-LVLSTATE", 1.0), ("TK-7-TEMP", 20.0)]

    bad = try_rules([rule(match="(")], "TANK7", T0)
    assert not bad.ok and bad.result is None
    assert [e.field for e in bad.errors] == ["rules.0.match"]

    unmatched = try_rules([TANK], "hello", T0)
    assert not unmatched.ok and unmatched.result is not None and unmatched.result.rejections[0].reason == NO_RULE

    too_long = try_rules([TANK], "x" * 4097, T0)
    assert too_long.errors == (FieldError("sample", "Must be at most %(max_length)s characters",
                                          {"max_length": 4096}),)


# -- the console's endpoint -------------------------------------------------------------------------------------


@pytest.fixture
def api(sqlite_db: Db, tmp_path: object) -> Iterator[tuple[TestClient, Any]]:
    from plantguard.ingest.rules_api import router

    tenant = make_tenant(sqlite_db.factory, "E1")
    with build_app(sqlite_db, tmp_path) as client:
        app: Any = client.app
        if not any(getattr(r, "path", "") == "/api/v1/ingest/rules/try" for r in app.routes):
            app.include_router(router, prefix="/api/v1")  # until the app mounts it itself
        yield client, tenant


def _headers(client: TestClient, username: str, lang: str = "en") -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}", "Accept-Language": lang}


def test_api_tries_rules_on_a_sample(api: tuple[TestClient, Any]) -> None:
    client, tenant = api
    h = _headers(client, tenant.users["admin"])
    r = client.post("/api/v1/ingest/rules/try", headers=h, json={
        "rules": [TANK], "sample": "TANK2 FS_HI=1 FS_LO=1 T=19.5", "received_at": "2026-11-28T08:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json() == {"rule": "tank-level", "rejects": [], "outputs": [
        {"point": "TK-2-LVLSTATE", "ts": "2026-11-28T08:00:00Z", "value": 2.0, "rule": "tank-level", "output": 0},
        {"point": "TK-2-TEMP", "ts": "2026-11-28T08:00:00Z", "value": 19.5, "rule": "tank-level", "output": 1}]}

    r = client.post("/api/v1/ingest/rules/try", headers=h, json={
        "rules": [rule(outputs=[{"point": "TK-{tank}-X", "value": "100 / hi"}])],
        "sample": "TANK2 FS_HI=0 FS_LO=1 T=1.0"})
    assert r.status_code == 200
    assert r.json()["rejects"] == [{
        "reason": "expression", "field": "rules.0.outputs.0.value",
        "label": translate_field("rules.0.outputs.0.value", "en"),
        "message": "Rule tank-level, output 1: expression failed: Division by zero", "rule": "tank-level",
        "point": "TK-2-X"}]

    r = client.post("/api/v1/ingest/rules/try", headers=h, json={"rules": [TANK], "sample": "nothing"})
    assert r.status_code == 200
    assert [(x["reason"], x["field"]) for x in r.json()["rejects"]] == [("no_rule", "sample")]


def test_api_refuses_invalid_rules_with_field_named_errors(api: tuple[TestClient, Any]) -> None:
    client, tenant = api
    h = _headers(client, tenant.users["admin"])
    r = client.post("/api/v1/ingest/rules/try", headers=h, json={
        "rules": [rule(match="(?P<tank>"), {"name": "x", "outputs": [{"point": "P", "value": "__import__('os')"}]}],
        "sample": "TANK1"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "validation_error"
    got = {e["field"]: e["message"] for e in body["errors"]}
    assert got == {
        "rules.0.match": "Rule tank-level: not a valid regular expression: missing ), unterminated subpattern at "
                         "position 1",
        "rules.1.match": "This field is required",  # pydantic's generic errors in the API's own words
    }
    r = client.post("/api/v1/ingest/rules/try", headers=h, json={
        "rules": [{"name": "x", "match": "y", "outputs": [{"point": "P", "value": "__import__('os')"}]}],
        "sample": "y"})
    assert {e["field"]: e["message"] for e in r.json()["errors"]} == {
        "rules.0.outputs.0.value": "Rule x: Names starting with an underscore are not allowed: __import__ (column 1)"}
    for body in ({"rules": [], "sample": "x"}, {"rules": [TANK], "sample": "x" * 4097}, {"rules": [TANK]},
                 {"rules": [TANK], "sample": "a\x00b"}, {"rules": [TANK], "sample": "x", "extra": 1},
                 {"rules": [TANK] * 51, "sample": "x"}, {"rules": [TANK], "sample": "x",
                                                         "received_at": "0001-01-01T00:00:00+01:00"}):
        r = client.post("/api/v1/ingest/rules/try", headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] in ("rules", "sample", "extra", "received_at")


def test_api_needs_the_device_permission(api: tuple[TestClient, Any]) -> None:
    client, tenant = api
    body = {"rules": [TANK], "sample": "TANK1 FS_HI=0 FS_LO=0 T=1.0"}
    assert client.post("/api/v1/ingest/rules/try", json=body).status_code == 401
    for role, status in (("worker", 403), ("team_leader", 403), ("safety_manager", 200)):
        r = client.post("/api/v1/ingest/rules/try", headers=_headers(client, tenant.users[role]), json=body)
        assert r.status_code == status, (role, r.text)
