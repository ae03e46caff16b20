"""The MQTT point map: topic patterns, field paths, templates, timestamps, payload formats and
the rejection of bad input, without a broker (the connector tests use the real one)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from plantguard.ingest.connector import Rejects
from plantguard.ingest.connectors.mqtt.manifest import (
    MANIFEST,
    MqttConnection,
    MqttPoint,
    parse_path,
    parse_template,
    parse_topic,
)
from plantguard.ingest.connectors.mqtt.mapping import (
    Bad,
    Extracted,
    PointMap,
    covers,
    minimal_filters,
    parse_quality,
    parse_ts,
    to_value,
    topic_matches,
)
from plantguard.ingest.reading import Quality, to_us

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
T0_US = to_us(T0)
RX = T0_US + 5_000_000  # when the message "arrived"
CODES = {code: i + 1 for i, code in enumerate(["ST-P01-HP", "ST-P01-OT", "ST-P02-HP", "AC-C01-P", "WD-R01-I"])}


class Collected:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, str]] = []

    def __call__(self, reason: str, detail: str, raw: str, point_code: str) -> None:
        self.items.append((reason, detail, raw, point_code))

    @property
    def reasons(self) -> list[str]:
        return [r for r, *_ in self.items]


def make(*rules: dict[str, object]) -> tuple[PointMap, Collected]:
    got = Collected()
    return PointMap([MqttPoint.model_validate(r) for r in rules], CODES, Rejects(got), "mqtt:TEST"), got


def js(doc: object) -> bytes:
    return orjson.dumps(doc)


# -- syntax ---------------------------------------------------------------------------------


def test_topic_patterns_name_levels_and_keep_wildcards() -> None:
    p = parse_topic("plant/{equipment}/telemetry")
    assert p.filter == "plant/+/telemetry"
    assert p.names == (None, "equipment", None)
    assert parse_topic("plant/#").levels == ("plant", "#")
    assert parse_topic("/leading/empty").levels == ("", "leading", "empty")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a/#/b", "'#' must be the last level"),
        ("a/b+/c", "whole level"),
        ("a/{x}y/c", "whole level"),
        ("a/{1x}/c", "not a valid name"),
        ("a/{key}/c", "reserved"),
        ("{x}/{x}", "used twice"),
        ("", "empty topic"),
    ],
)
def test_bad_topic_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_topic(pattern)


def test_topic_matching_follows_mqtt_rules() -> None:
    def m(f: str, t: str) -> bool:
        return bool(topic_matches(f.split("/"), t.split("/")))

    assert m("plant/+/telemetry", "plant/ST-P01/telemetry")
    assert not m("plant/+/telemetry", "plant/ST/P01/telemetry")
    assert not m("plant/+/telemetry", "plant/ST-P01/telemetry/extra")
    assert m("plant/#", "plant/a/b/c")
    assert m("plant/#", "plant")  # "#" includes the parent level
    assert not m("plant/#", "plantx/a")
    assert m("#", "anything/at/all")
    assert not m("#", "$SYS/broker/uptime")  # wildcards at the root skip $ topics
    assert not m("+/broker/uptime", "$SYS/broker/uptime")
    assert m("$SYS/#", "$SYS/broker/uptime")
    assert m("a//c", "a//c") and not m("a/+/c", "a/c")


def test_overlapping_filters_are_subscribed_once() -> None:
    def c(a: str, b: str) -> bool:
        return bool(covers(a.split("/"), b.split("/")))

    assert c("plant/#", "plant/+/telemetry")
    assert c("plant/+/telemetry", "plant/ST/telemetry")
    assert not c("plant/ST/telemetry", "plant/+/telemetry")
    assert not c("plant/+", "plant/#")
    assert minimal_filters(["plant/+/telemetry", "plant/#", "other/x", "plant/#", "other/+"]) == ("plant/#", "other/+")


def test_field_paths() -> None:
    assert parse_path("readings.HP") == ("readings", "HP")
    assert parse_path("data[0].value") == ("data", 0, "value")
    assert parse_path("data[-1]") == ("data", -1)
    assert parse_path('readings["ST-P01.HP"]') == ("readings", "ST-P01.HP")
    assert parse_path("[2][0]") == (2, 0)
    for bad in ("a..b", ".a", "a.", "a[x]", "a]", "a[0]b", "a[0"):
        with pytest.raises(ValueError):
            parse_path(bad)


def test_templates() -> None:
    kinds = [(p.kind, p.text) for p in parse_template("{equipment}-{key}-{$meta.line}")]
    assert kinds == [("topic", "equipment"), ("text", "-"), ("key", ""), ("text", "-"), ("payload", "$meta.line")]
    assert [p.kind for p in parse_template("ST-P01-HP")] == ["text"]
    with pytest.raises(ValueError, match="unbalanced"):
        parse_template("ST-{x")
    with pytest.raises(ValueError):
        parse_template("{a-b}")


# -- models: errors name the field ------------------------------------------------------------


def _error_fields(exc: ValidationError) -> list[str]:
    return [".".join(str(x) for x in e["loc"]) + ": " + e["msg"] for e in exc.errors()]


def test_point_model_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as e:
        MqttPoint.model_validate({"topic": "a/#/b", "point": "X"})
    assert _error_fields(e.value)[0].startswith("topic: ")
    with pytest.raises(ValidationError) as e:
        MqttPoint.model_validate({"topic": "a/b", "point": "X", "field": "a..b"})
    assert _error_fields(e.value)[0].startswith("field: ")
    with pytest.raises(ValidationError) as e:
        MqttPoint.model_validate({"topic": "plant/+/t", "point": "{equipment}-HP"})
    assert "point: {equipment} is not a named level" in str(e.value)
    with pytest.raises(ValidationError, match="point is required"):
        MqttPoint.model_validate({"topic": "a/b"})
    with pytest.raises(ValidationError, match="needs \\{key\\} once"):
        MqttPoint.model_validate({"topic": "a/b", "format": "batch", "point": "FIXED"})
    with pytest.raises(ValidationError, match="only exists in the batch and array"):
        MqttPoint.model_validate({"topic": "a/b", "point": "{key}"})
    with pytest.raises(ValidationError) as e:
        MqttPoint.model_validate({"topic": "a/b", "point": "X", "colour": "red"})
    assert _error_fields(e.value)[0].startswith("colour: ")
    assert MqttPoint.model_validate({"topic": "a", "point": "X"}).fixed_point == "X"
    assert MqttPoint.model_validate({"topic": "a", "format": "batch"}).fixed_point is None


def test_connection_model() -> None:
    c = MqttConnection.model_validate({"host": "broker", "mqtt_version": 5})
    assert (c.mqtt_version, c.qos, c.clean_start, c.effective_port) == ("5", 1, False, 1883)
    assert MqttConnection.model_validate({"host": "b", "tls": True}).effective_port == 8883
    for bad, field in (
        ({"host": "b", "ca_file": "/ca.pem"}, "ca_file needs tls"),
        ({"host": "b", "password_env": "MQTT_PW"}, "password_env needs a username"),
        ({"host": "b", "username": "u", "password_env": "not a name"}, "password_env"),
        ({"host": "b", "qos": 2}, "qos"),
        ({"host": "b", "session_expiry_s": 0}, "session_expiry_s"),
        ({"host": "b", "port": 0}, "port"),
        ({"host": "b", "client_id": "has space"}, "client_id"),
    ):
        with pytest.raises(ValidationError, match=field):
            MqttConnection.model_validate(bad)
    assert MANIFEST.protocol == "mqtt" and MANIFEST.mode == "push"
    assert MANIFEST.connector_class().__name__ == "MqttConnector"


# -- values, timestamps, quality --------------------------------------------------------------


def test_timestamps_iso_and_epoch_units_by_magnitude() -> None:
    s = T0_US // 1_000_000
    assert parse_ts(s) == T0_US
    assert parse_ts(s * 1000 + 123) == T0_US + 123_000
    assert parse_ts(T0_US + 7) == T0_US + 7
    assert parse_ts((T0_US + 7) * 1000 + 999) == T0_US + 7  # ns
    assert parse_ts(s + 0.25) == T0_US + 250_000
    assert parse_ts(str(s)) == T0_US
    assert parse_ts(f"{s}.5") == T0_US + 500_000
    assert parse_ts("2024-05-01T08:00:00Z") == T0_US
    assert parse_ts("2024-05-01T16:00:00.000001+08:00") == T0_US + 1
    assert parse_ts("2024-05-01 08:00:00") == T0_US  # naive: UTC
    with pytest.raises(Bad) as e:
        parse_ts("yesterday")
    assert e.value.reason == "malformed"
    with pytest.raises(Bad) as e:
        parse_ts(True)
    assert e.value.reason == "wrong_type"


def test_values_and_quality() -> None:
    assert to_value(3) == 3.0 and to_value(2.5) == 2.5
    assert to_value(True) == 1.0 and to_value(False) == 0.0
    assert to_value(" 12.5 ") == 12.5 and to_value("1e3") == 1000.0
    assert to_value(None) is None
    for bad in ("on", "nan", "inf", [1], {"v": 1}):
        with pytest.raises(Bad) as e:
            to_value(bad)
        assert e.value.reason == "wrong_type"
    assert parse_quality("GOOD") is Quality.GOOD and parse_quality(1) is Quality.UNCERTAIN
    assert parse_quality("bad") is Quality.BAD and parse_quality("2") is Quality.BAD
    assert parse_quality(0x40000000) is Quality.UNCERTAIN and parse_quality(0x80350000) is Quality.BAD
    with pytest.raises(Bad):
        parse_quality("meh")


# -- payload formats ------------------------------------------------------------------------


def test_batch_format_as_the_simulator_publishes_it() -> None:
    pm, rejects = make({"topic": "plantguard/DEMO/+/telemetry", "format": "batch"})
    payload = js({"ts": T0_US, "readings": {"ST-P01-HP": 12.5, "ST-P01-OT": 41}})
    out = pm.extract("plantguard/DEMO/EQ-ST-001/telemetry", payload, RX)
    assert out == [
        Extracted("ST-P01-HP", T0_US, 12.5, Quality.GOOD),
        Extracted("ST-P01-OT", T0_US, 41.0, Quality.GOOD),
    ]
    assert rejects.items == []
    readings = pm.readings("plantguard/DEMO/EQ-ST-001/telemetry", payload, RX)
    assert [(r.point_id, r.ts, r.value, r.quality, r.source) for r in readings] == [
        (1, T0, 12.5, Quality.GOOD, "mqtt:TEST"),
        (2, T0, 41.0, Quality.GOOD, "mqtt:TEST"),
    ]
    assert pm.extract("plantguard/OTHER/EQ/telemetry", payload, RX) == []  # no rule: reported once
    assert rejects.reasons == ["unmapped_topic"]
    pm.extract("plantguard/OTHER/EQ/telemetry", payload, RX)
    assert rejects.reasons == ["unmapped_topic"]


def test_bad_readings_are_rejected_and_good_ones_in_the_same_message_pass() -> None:
    pm, rejects = make({"topic": "plantguard/DEMO/+/telemetry", "format": "batch"})
    payload = js({
        "ts": "2024-05-01T08:00:00Z",
        "readings": {
            "ST-P01-HP": "12.5",  # numeric text: accepted
            "ST-P01-OT": "hot",  # wrong type
            "NOPE-1": 3.0,  # not a point of the enterprise
            "ST-P02-HP": True,  # boolean: 1.0
            "AC-C01-P": None,  # no value: bad quality
            "WD-R01-I": {"value": 7, "quality": "uncertain", "ts": T0_US + 1},
        },
    })
    readings = pm.readings("plantguard/DEMO/X/telemetry", payload, RX)
    assert [(r.point_id, r.value, r.quality) for r in readings] == [
        (1, 12.5, Quality.GOOD), (3, 1.0, Quality.GOOD), (4, None, Quality.BAD), (5, 7.0, Quality.UNCERTAIN)
    ]
    assert readings[-1].ts == datetime(2024, 5, 1, 8, 0, 0, 1, tzinfo=UTC)
    assert sorted((r, code) for r, _, _, code in rejects.items) == [
        ("unknown_point", "NOPE-1"), ("wrong_type", "ST-P01-OT")
    ]
    wrong = next(i for i in rejects.items if i[0] == "wrong_type")
    assert "value" in wrong[1] and "hot" in wrong[2]  # the detail names the field, raw shows the input


def test_malformed_payloads_are_rejected_whole() -> None:
    pm, rejects = make({"topic": "t/+", "format": "batch"})
    assert pm.extract("t/a", b"{not json", RX) == []
    assert pm.extract("t/a", js({"ts": 1, "readings": [1, 2]}), RX) == []
    assert pm.extract("t/a", js({"ts": "soon", "readings": {"ST-P01-HP": 1}}), RX) == []
    assert rejects.reasons == ["malformed", "malformed", "malformed"]
    assert "not JSON" in rejects.items[0][1] and rejects.items[0][2] == "{not json"
    assert pm.extract("t/a", b"", RX) == [] and len(rejects.items) == 3  # clearing a retained message: no data


def test_batch_without_ts_uses_arrival_time_and_template_maps_short_keys() -> None:
    pm, rejects = make({"topic": "plant/{equipment}/telemetry", "format": "batch", "point": "{equipment}-{key}",
                        "field": "data.values", "scale": 0.1, "offset": 1})
    out = pm.extract("plant/ST-P01/telemetry", js({"data": {"values": {"HP": 100, "OT": 200}}}), RX)
    assert out == [Extracted("ST-P01-HP", RX, 11.0, Quality.GOOD), Extracted("ST-P01-OT", RX, 21.0, Quality.GOOD)]
    assert rejects.items == []


def test_array_format() -> None:
    pm, rejects = make({"topic": "gw/+/readings", "format": "array", "field": "items", "ts": "sent"})
    payload = js({"sent": T0_US, "items": [
        {"point": "ST-P01-HP", "value": 1.5},
        {"point": "ST-P01-OT", "value": "2", "ts": "2024-05-01T08:00:01Z", "quality": "bad"},
        {"point": "ST-P02-HP"},  # no value
        "junk",
        {"value": 3},  # no point
        {"point": "AC-C01-P", "value": [1]},
    ]})
    assert pm.extract("gw/1/readings", payload, RX) == [
        Extracted("ST-P01-HP", T0_US, 1.5, Quality.GOOD),
        Extracted("ST-P01-OT", T0_US + 1_000_000, 2.0, Quality.BAD),
    ]
    assert rejects.reasons == ["malformed", "malformed", "malformed", "wrong_type"]
    pm2, rejects2 = make({"topic": "gw/list", "format": "array"})  # the list is the whole payload
    out = pm2.extract("gw/list", js([{"point": "WD-R01-I", "ts": 1714550400, "value": 4}]), RX)
    assert out == [Extracted("WD-R01-I", 1714550400_000_000, 4.0, Quality.GOOD)] and rejects2.items == []
    pm2.extract("gw/list", js({"not": "a list"}), RX)
    assert rejects2.reasons == ["malformed"]


def test_value_rules_with_named_levels_paths_and_payload_templates() -> None:
    pm, rejects = make(
        {"topic": "plant/{equipment}/telemetry", "field": "readings.HP", "point": "{equipment}-HP", "ts": "time"},
        {"topic": "plant/{equipment}/telemetry", "field": "readings.OT", "point": "{equipment}-OT", "ts": "time",
         "quality": "q"},
        {"topic": "plant/+/telemetry", "field": "data[1].value", "point": "{$meta.unit}-P"},
    )
    payload = js({"time": "2024-05-01T08:00:00Z", "q": 1, "readings": {"HP": 3.25, "OT": 70},
                  "meta": {"unit": "AC-C01"}, "data": [{"value": 0}, {"value": "8.5"}]})
    assert pm.extract("plant/ST-P01/telemetry", payload, RX) == [
        Extracted("ST-P01-HP", T0_US, 3.25, Quality.GOOD),
        Extracted("ST-P01-OT", T0_US, 70.0, Quality.UNCERTAIN),
        Extracted("AC-C01-P", RX, 8.5, Quality.GOOD),
    ]
    assert rejects.items == []
    # a message without one of the fields: that rule is rejected, the others still read
    out = pm.extract("plant/ST-P01/telemetry", js({"time": T0_US, "q": 0, "readings": {"HP": 1}}), RX)
    assert out == [Extracted("ST-P01-HP", T0_US, 1.0, Quality.GOOD)]
    assert rejects.reasons == ["malformed", "malformed"]
    assert "readings.OT" in rejects.items[0][1] and "{$meta.unit}" in rejects.items[1][1]


def test_whole_payload_is_the_value() -> None:
    pm, rejects = make({"topic": "sensors/+/{sensor}", "point": "{sensor}"})
    assert pm.extract("sensors/x/ST-P01-HP", b"23.5", RX) == [Extracted("ST-P01-HP", RX, 23.5, Quality.GOOD)]
    assert pm.extract("sensors/x/ST-P01-HP", b'"23.5"', RX) == [Extracted("ST-P01-HP", RX, 23.5, Quality.GOOD)]
    assert pm.extract("sensors/x/ST-P01-HP", b"true", RX) == [Extracted("ST-P01-HP", RX, 1.0, Quality.GOOD)]
    readings = pm.readings("sensors/x/NOT-A-POINT", b"1", RX)
    assert readings == [] and rejects.items[0][0] == "unknown_point" and rejects.items[0][3] == "NOT-A-POINT"


def test_mapping_rate_for_100_reading_batches() -> None:
    """The benchmark needs 50,000 readings/s end to end; mapping must be a small part of it."""
    codes = {f"EQ{e:03d}-P{i:02d}": e * 100 + i + 1 for e in range(50) for i in range(100)}
    got = Collected()
    pm = PointMap([MqttPoint(topic="plantguard/DEMO/+/telemetry", format="batch")], codes, Rejects(got), "mqtt:B")
    msgs = [
        (f"plantguard/DEMO/EQ{e:03d}/telemetry",
         js({"ts": T0_US + e, "readings": {f"EQ{e:03d}-P{i:02d}": 20.0 + i * 0.37 for i in range(100)}}))
        for e in range(50)
    ]
    n, start = 0, time.perf_counter()
    for _ in range(10):
        for topic, payload in msgs:
            n += len(pm.readings(topic, payload, RX))
    rate = n / (time.perf_counter() - start)
    assert n == 50_000 and got.items == []
    assert rate > 100_000, f"{rate:,.0f} readings/s"
