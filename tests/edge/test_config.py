"""edge.yaml validation: every error names its field; the CLI prints them and exits 2."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from plantguard.cli.main import app
from plantguard.edge.config import EdgeConfigError, load_config, parse_config, point_id
from plantguard.edge.devices import build_specs

GOOD: dict[str, Any] = {
    "edge_id": "line-3",
    "enterprise_id": 1,
    "upstream": {"kind": "mqtt", "host": "127.0.0.1"},
    "points": [{"code": "PT-1", "range_low": 0, "range_high": 25}, {"code": "TT-9"}],
    "devices": [{"code": "PLC-1", "protocol": "modbus", "connection": {"host": "10.0.0.2"},
                 "points": [{"point": "PT-1", "address": 0, "type": "float32"}, {"point": "TT-2", "address": 2}]}],
    "rules": [{"name": "pt-high", "points": ["PT-1"], "detector": "threshold",
               "params": {"conditions": [{"signal": "value", "limit": 20}]}}],
}


def fields(mutate: Any) -> list[str]:
    doc = copy.deepcopy(GOOD)
    mutate(doc)
    with pytest.raises(EdgeConfigError) as exc:
        parse_config(doc)
    return [f for f, _ in exc.value.errors]


def test_the_example_and_a_good_file_load() -> None:
    cfg = parse_config(copy.deepcopy(GOOD))
    (spec,) = build_specs(cfg)
    assert [(p.code, p.point_id) for p in spec.points] == [("PT-1", point_id("PT-1")), ("TT-2", point_id("TT-2"))]
    assert spec.points[0].range_high == 25 and set(spec.known_points) == {"PT-1", "TT-2", "TT-9"}
    assert point_id("PT-1") == point_id("PT-1") > 0  # stable across processes: a hash, not a counter
    load_config(Path(__file__).parents[2] / "docs" / "edge.example.yaml")


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d.pop("edge_id"), "edge_id"),
    (lambda d: d["upstream"].update(port=70000), "upstream.port"),
    (lambda d: d["upstream"].update(kind="amqp"), "upstream"),
    (lambda d: d.update(upstream={"kind": "http", "url": "ftp://x"}), "upstream.url"),
    (lambda d: d["upstream"].update(qos=0), "upstream.qos"),
    (lambda d: d["buffer"] if "buffer" in d else d.update(buffer={"max_readings": 5}), "buffer.max_readings"),
    (lambda d: d["devices"][0].update(protocol="profibus"), "devices.0.protocol"),
    (lambda d: d["devices"][0].update(protocol="http", connection={}, points=[]), "devices.0.protocol"),
    (lambda d: d["devices"][0]["connection"].pop("host"), "devices.0.connection.host"),
    (lambda d: d["devices"][0]["points"][1].update(address=-1), "devices.0.points.1.address"),
    (lambda d: d["devices"][0]["points"][1].update(point="PT-1"), "devices.0.points.1.point"),
    (lambda d: d["devices"][0].update(poll_interval_s=0), "devices.0.poll_interval_s"),
    (lambda d: d["points"][0].update(range_low=30), "points.0"),
    (lambda d: d["rules"][0].update(detector="magic"), "rules.0.detector"),
    (lambda d: d["rules"][0].update(points=["NOPE"]), "rules.0.points.0"),
    (lambda d: d["rules"][0].update(threshold=1.5), "rules.0.threshold"),
    (lambda d: d["rules"][0].update(off_threshold=0.9), "rules.0"),
    (lambda d: d["rules"][0].update(severity="apocalyptic"), "rules.0.severity"),
    (lambda d: d["rules"][0].update(detector="robust_z", params={"window": 1}), "rules.0.params.window"),
    (lambda d: d["rules"][0]["params"]["conditions"][0].update(signal="XX-1"), "rules.0.params"),
    (lambda d: d["rules"].append(dict(d["rules"][0])), "rules.1.name"),
    (lambda d: d["rules"][0].update(actions=["email"]), "rules.0.actions"),
])
def test_errors_name_the_field(mutate: Any, field: str) -> None:
    assert field in fields(mutate)


def test_all_errors_of_a_file_at_once() -> None:
    def two(d: dict[str, Any]) -> None:
        d["devices"][0]["connection"]["port"] = 0
        d["devices"][0]["points"][0]["type"] = "float128"

    assert fields(two) == ["devices.0.connection.port", "devices.0.points.0.type"]


def test_the_cli_names_the_field_and_exits_2(tmp_path: Path) -> None:
    doc = copy.deepcopy(GOOD)
    doc["devices"][0]["points"][0]["address"] = "forty"
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["edge", "--config", str(path)])
    assert result.exit_code == 2
    assert "devices.0.points.0.address:" in result.output
    path.write_text("edge_id: [unclosed\n")
    result = CliRunner().invoke(app, ["edge", "--config", str(path), "--check"])
    assert result.exit_code == 2 and "not valid YAML at line" in result.output
    path.write_text(yaml.safe_dump(GOOD))
    result = CliRunner().invoke(app, ["edge", "--config", str(path), "--check"])
    assert result.exit_code == 0 and "valid (1 devices, 3 points, 1 rules, upstream mqtt)" in result.output
