"""The device configuration that makes PlantGuard ingest the simulator.

``plantguard simulate device-config > sim.yaml && plantguard devices import sim.yaml`` binds
every simulated point to a device. The register map and node ids come from the same
:class:`~plantguard.simulator.plant.Station` objects the servers are built from, so the two
cannot drift apart.

Layouts (a point fed by two devices would be ingested twice, so the default feeds each point
once):

``split`` (default)
    the paint shop and the paint-mixing room (areas ``PT`` and ``PM``) through the OPC UA server,
    as a paint line's SCADA would expose them; every other area through its own Modbus device
    (one per area: ``SIM-MB-<area>``, unit id = the station's).
``modbus`` / ``opcua``
    everything through one protocol.
``mqtt``
    everything through the broker the simulator publishes to (``--mqtt-url``): one device
    ``SIM-MQTT`` with one rule in the connector's ``batch`` format (the payload's
    ``readings`` are keyed by point code, ``ts`` is ISO-8601). The simulator publishes at
    QoS 0, so the device asks for QoS 0 and a clean session.
``both``
    every point on both Modbus and OPC UA (for trying connectors side by side, not for
    production).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlparse

import yaml

from plantguard.simulator.plant import Plant, Station
from plantguard.simulator.protocols import OPCUA_PATH

Layout = Literal["split", "modbus", "opcua", "mqtt", "both"]
LAYOUTS: tuple[str, ...] = ("split", "modbus", "opcua", "mqtt", "both")
OPCUA_AREAS = frozenset({"PT", "PM"})
OPCUA_DEVICE_CODE = "SIM-OPCUA"
MQTT_DEVICE_CODE = "SIM-MQTT"


def modbus_device_code(station: Station) -> str:
    return f"SIM-MB-{station.area}"


def _modbus_points(station: Station) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in station.analog:
        out.append({"point": p.code, "table": "holding", "address": station.register_address(p.code),
                    "type": "float32", "byte_order": "big", "word_order": "big", "scale": 1.0, "offset": 0.0})
    for p in station.digital:
        out.append({"point": p.code, "table": "coil", "address": station.coil_address(p.code), "type": "bool"})
    return out


def _modbus_device(station: Station, host: str, port: int, poll_interval_s: float) -> dict[str, Any]:
    return {
        "code": modbus_device_code(station),
        "name": f"{station.name} PLC（模拟）",
        "protocol": "modbus",
        "enabled": True,
        "poll_interval_s": poll_interval_s,
        "connection": {"host": host, "port": port, "unit_id": station.unit_id},
        "points": _modbus_points(station),
    }


def _opcua_device(stations: Iterable[Station], host: str, port: int) -> dict[str, Any]:
    return {
        "code": OPCUA_DEVICE_CODE,
        "name": "涂装 SCADA OPC UA 服务器（模拟）",
        "protocol": "opcua",
        "enabled": True,
        "connection": {"endpoint": f"opc.tcp://{host}:{port}{OPCUA_PATH}", "mode": "subscribe",
                       "publishing_interval_ms": 500},
        "points": [{"point": p.code, "node": f"ns=2;s={p.code}"} for st in stations for p in st.points],
    }


def _mqtt_device(plant: Plant, mqtt_url: str) -> dict[str, Any]:
    parsed = urlparse(mqtt_url)
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError("mqtt_url: expected mqtt://host:port")
    return {
        "code": MQTT_DEVICE_CODE,
        "name": "模拟器 MQTT 遥测",
        "protocol": "mqtt",
        "enabled": True,
        "connection": {"host": parsed.hostname, "port": parsed.port or 1883, "qos": 0, "clean_start": True,
                       "session_expiry_s": 0},
        "points": [{"topic": f"plantguard/{plant.enterprise}/+/telemetry", "format": "batch"}],
    }


def device_config(
    plant: Plant,
    *,
    host: str = "127.0.0.1",
    modbus_port: int = 5020,
    opcua_port: int = 4840,
    mqtt_url: str | None = None,
    layout: str = "split",
    poll_interval_s: float = 1.0,
) -> dict[str, Any]:
    """The ``{"devices": [...]}`` mapping for ``plantguard devices import``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: must be one of {', '.join(LAYOUTS)}")
    if layout == "mqtt":
        if not mqtt_url:
            raise ValueError("mqtt_url: the mqtt layout needs the broker URL the simulator publishes to")
        return {"devices": [_mqtt_device(plant, mqtt_url)]}
    if layout == "split":
        via_opcua = [st for st in plant.stations if st.area in OPCUA_AREAS]
        via_modbus = [st for st in plant.stations if st.area not in OPCUA_AREAS]
    else:
        via_opcua = list(plant.stations) if layout in ("opcua", "both") else []
        via_modbus = list(plant.stations) if layout in ("modbus", "both") else []
    devices = [_modbus_device(st, host, modbus_port, poll_interval_s) for st in via_modbus]
    if via_opcua:
        devices.append(_opcua_device(via_opcua, host, opcua_port))
    return {"devices": devices}


def device_config_yaml(plant: Plant, **options: Any) -> str:
    header = (
        "# PlantGuard devices for the plant simulator (plantguard simulate device-config).\n"
        "# Import with: plantguard devices import <this file>\n"
    )
    body = yaml.safe_dump(device_config(plant, **options), allow_unicode=True, sort_keys=False, width=200)
    return header + body
