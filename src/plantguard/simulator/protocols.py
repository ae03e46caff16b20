"""The simulator's faces on the wire: a Modbus TCP server, an OPC UA server, an MQTT publisher.

Each face takes a :class:`~plantguard.simulator.model.Snapshot` per tick and shows it the way
a real device would:

* Modbus TCP (pymodbus ``SimDevice``/``SimData``): one unit id per station; every analogue
  point is a read-only float32 in two holding registers (big-endian bytes, most significant
  word first), in plant order from address 0; input registers mirror the holding registers;
  on/off points are read-only coils. A silent station (dropout) never answers: requests to
  its unit id time out, as behind a gateway whose serial slave has gone.
* OPC UA (asyncua): every point is a Double variable ``ns=2;s=<point code>`` under
  ``Objects/PlantGuard/<area>/<equipment>``, with the simulated time as source timestamp;
  a silent station's values turn ``BadCommunicationError`` (last value kept).
* MQTT (paho): one JSON message per equipment per tick on
  ``plantguard/<enterprise>/<equipment code>/telemetry``:
  ``{"ts": "<ISO-8601 UTC>", "readings": {"<point code>": value, ...}}``; a silent station's
  equipment publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import orjson

from plantguard.simulator.model import Snapshot
from plantguard.simulator.plant import Plant, Station

log = logging.getLogger(__name__)

OPCUA_NAMESPACE = "urn:plantguard:simulator"
OPCUA_PATH = "/plantguard/"
_BIT_FCS = frozenset({1, 2, 5, 15})


def float_registers(value: float) -> tuple[int, int]:
    """A float32 as two 16-bit registers, big-endian bytes, most significant word first."""
    raw = struct.pack(">f", value)
    return int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")


def iso_utc(t: float) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``: ``2025-06-02T00:00:01.000Z``."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Modbus TCP


class ModbusFace:
    def __init__(self, plant: Plant, host: str, port: int) -> None:
        self.plant = plant
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._server: Any = None
        self._registers: dict[int, list[int]] = {}
        self._coils: dict[int, list[int]] = {}
        self._offline: set[int] = set()
        self._stalled: set[asyncio.Future[None]] = set()
        self._primed = False  # no plant image yet: answer nothing rather than zeros

    def _device(self, station: Station) -> Any:
        from functools import partial

        from pymodbus.simulator import DataType, SimData, SimDevice

        analog, digital = station.analog, station.digital
        self._registers[station.unit_id] = [0] * (2 * len(analog))
        self._coils[station.unit_id] = [0] * ((len(digital) + 15) // 16)
        holding = (
            [SimData(address=0, values=[0.0] * len(analog), datatype=DataType.FLOAT32, readonly=True)]
            if analog else [SimData(address=0, values=0, datatype=DataType.REGISTERS, readonly=True)]
        )
        action = partial(self._action, station.unit_id)
        if not digital:
            return SimDevice(id=station.unit_id, simdata=holding, action=action)
        coils = [SimData(address=0, values=[False] * len(digital), datatype=DataType.BITS, readonly=True)]
        mirror = [SimData(address=0, values=[0.0] * len(analog), datatype=DataType.FLOAT32, readonly=True)] \
            if analog else [SimData(address=0, values=0, datatype=DataType.REGISTERS, readonly=True)]
        bits = [SimData(address=0, values=[False] * len(digital), datatype=DataType.BITS, readonly=True)]
        return SimDevice(id=station.unit_id, simdata=(coils, bits, holding, mirror), action=action)

    async def _action(self, unit_id: int, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: Any) -> None:
        """Called by pymodbus before it answers a request: copy the latest image in, or, for a
        silent station, never return (the client times out). Until the first image is in (the
        OPC UA face may still be starting), requests wait: a PLC that reads 0.0 MPa for a press
        would be a false low-pressure alarm."""
        while not self._primed:
            await asyncio.sleep(0.01)
        if unit_id in self._offline:
            stall: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._stalled.add(stall)
            try:
                await stall
            finally:
                self._stalled.discard(stall)
        image = self._coils[unit_id] if function_code in _BIT_FCS and self._coils[unit_id] else self._registers[unit_id]
        registers[: len(image)] = image

    async def start(self) -> None:
        from pymodbus.server import ModbusTcpServer

        devices = [self._device(st) for st in self.plant.stations]
        self._server = ModbusTcpServer(devices, address=(self.host, self.requested_port))
        await self._server.serve_forever(background=True)
        sockets = getattr(self._server.transport, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.requested_port

    async def stop(self) -> None:
        for stall in list(self._stalled):
            stall.cancel()
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    def update(self, snap: Snapshot) -> None:
        for station in self.plant.stations:
            regs = self._registers[station.unit_id]
            for i, p in enumerate(station.analog):
                regs[2 * i], regs[2 * i + 1] = float_registers(snap.values[p.code])
            if station.digital:
                words = self._coils[station.unit_id]
                for w in range(len(words)):
                    words[w] = 0
                for i, p in enumerate(station.digital):
                    if snap.values[p.code] >= 0.5:
                        words[i // 16] |= 1 << (i % 16)
        self.set_offline(snap.offline)
        self._primed = True

    def set_offline(self, areas: frozenset[str]) -> None:
        """Silence (or revive) stations at once, without waiting for the next tick."""
        self._offline = {st.unit_id for st in self.plant.stations if st.area in areas}


# ---------------------------------------------------------------------------------------------
# OPC UA


def _nid(ns: int, text: str) -> Any:
    """A string NodeId ``ns=<ns>;s=<text>``."""
    from asyncua import ua

    return ua.NodeId.from_string(f"ns={ns};s={text}")


class OpcUaFace:
    def __init__(self, plant: Plant, host: str, port: int) -> None:
        self.plant = plant
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._server: Any = None
        self._nodes: dict[str, Any] = {}
        self._bad: set[str] = set()

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port or self.requested_port}{OPCUA_PATH}"

    async def start(self) -> None:
        from asyncua import ua
        from asyncua.server.server import Server
        from asyncua.ua.attribute_ids import AttributeIds
        from asyncua.ua.status_codes import StatusCodes

        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{self.requested_port}{OPCUA_PATH}")
        server.set_server_name("PlantGuard plant simulator")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace(OPCUA_NAMESPACE)
        if ns != 2:  # the device configuration names nodes ns=2;s=<code>
            raise RuntimeError(f"OPC UA namespace index is {ns}, expected 2")
        top = await server.nodes.objects.add_folder(_nid(ns, "PlantGuard"), ua.QualifiedName("PlantGuard", ns))
        for station in self.plant.stations:
            area = await top.add_folder(_nid(ns, f"area:{station.area}"),
                                        ua.QualifiedName(f"{station.area} {station.name}", ns))
            for code in station.equipment:
                eq = self.plant.equipment_of(code)
                assert eq is not None
                folder = await area.add_folder(_nid(ns, eq.code), ua.QualifiedName(f"{eq.tag} {eq.name}", ns))
                for p in eq.points:
                    vtype = ua.VariantType.Boolean if p.is_bool else ua.VariantType.Double
                    initial: Any = False if p.is_bool else 0.0
                    var = await folder.add_variable(_nid(ns, p.code), ua.QualifiedName(p.code, ns), initial,
                                                    varianttype=vtype)
                    # Until the first tick there is no value: say so, rather than a "good" zero.
                    await var.write_attribute(AttributeIds.Value, ua.DataValue(
                        ua.Variant(initial, vtype),
                        StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.BadWaitingForInitialData))))
                    await var.write_attribute(
                        AttributeIds.Description,
                        ua.DataValue(ua.Variant(ua.LocalizedText(f"{p.name} ({p.unit})" if p.unit else p.name))),
                    )
                    self._nodes[p.code] = var.nodeid
        await server.start()
        self._server = server
        self.port = int(server.bserver.port) if server.bserver is not None else self.requested_port

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()

    async def update(self, snap: Snapshot) -> None:
        from asyncua import ua
        from asyncua.ua.status_codes import StatusCodes

        if self._server is None:
            return
        source = ua.DateTime.fromtimestamp(snap.t, UTC)
        now = ua.DateTime.now(UTC)
        good = ua.StatusCode(ua.UInt32(StatusCodes.Good))
        bad = ua.StatusCode(ua.UInt32(StatusCodes.BadCommunicationError))
        for station in self.plant.stations:
            offline = station.area in snap.offline
            if offline and station.area in self._bad:
                continue  # already Bad: a silent device produces no updates
            status = bad if offline else good
            for p in station.points:
                v = snap.values[p.code]
                variant = ua.Variant(v >= 0.5, ua.VariantType.Boolean) if p.is_bool else ua.Variant(
                    float(v), ua.VariantType.Double)
                await self._server.write_attribute_value(
                    self._nodes[p.code],
                    ua.DataValue(Value=variant, StatusCode=status, SourceTimestamp=source, ServerTimestamp=now),
                )
            if offline:
                self._bad.add(station.area)
            else:
                self._bad.discard(station.area)


# ---------------------------------------------------------------------------------------------
# MQTT


class MqttFace:
    def __init__(self, plant: Plant, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "tcp", ""):
            raise ValueError(f"mqtt_url: unsupported scheme {parsed.scheme!r} (use mqtt://host:port)")
        if not parsed.hostname:
            raise ValueError("mqtt_url: no host (use mqtt://host:port)")
        self.plant = plant
        self.url = url
        self.host = parsed.hostname
        self.port = parsed.port or 1883
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.published = 0
        self._client: Any = None

    def topic(self, equipment_code: str) -> str:
        return f"plantguard/{self.plant.enterprise}/{equipment_code}/telemetry"

    def start(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"plantguard-simulator-{os.getpid()}")
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client

    def connected(self) -> bool:
        return bool(self._client is not None and self._client.is_connected())

    def stop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                client.disconnect()
            client.loop_stop()

    def update(self, snap: Snapshot) -> None:
        if self._client is None or not self._client.is_connected():
            return  # QoS 0 telemetry is not queued while the broker is away, as on a real gateway
        ts = iso_utc(snap.t)
        for eq in self.plant.equipment:
            if eq.area in snap.offline:
                continue
            readings = {p.code: (snap.values[p.code] >= 0.5 if p.is_bool else snap.values[p.code]) for p in eq.points}
            payload = orjson.dumps({"ts": ts, "readings": readings})
            self._client.publish(self.topic(eq.code), payload, qos=0)
            self.published += 1
