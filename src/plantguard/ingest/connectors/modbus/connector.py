"""Modbus TCP polling: one plan of merged reads per device, executed once per poll.

The client never reconnects by itself (pymodbus would, silently, behind our back): a
dropped connection or an unanswered request raises :class:`ConnectionLost` and the
coordinator reconnects with its back-off, so every protocol recovers the same way.

A Modbus exception response (illegal address, device failure) is about the points of that
request, not the connection: those points come back ``Quality.BAD`` and the rest of the
poll is unaffected. A merged request the device refuses is split (adjacent runs, then one
point each) and the split is kept, so a refused gap register costs one extra round trip
once, not on every poll.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from plantguard.ingest.connector import (
    BoundPoint,
    ConnectionLost,
    DeviceSpec,
    PollingConnector,
    Rejects,
)
from plantguard.ingest.connectors.modbus import codec
from plantguard.ingest.connectors.modbus.manifest import ModbusConnection, ModbusPoint
from plantguard.ingest.reading import Quality, Reading

FLOAT_TYPES = frozenset({"float32", "float64"})


class ModbusConnector(PollingConnector[ModbusConnection, ModbusPoint]):
    def __init__(self, device: DeviceSpec[ModbusConnection, ModbusPoint], reject: Rejects) -> None:
        super().__init__(device, reject)
        self._specs: list[ModbusPoint] = [bp.spec for bp in device.points]
        conn = device.connection
        self.requests: list[codec.ReadRequest] = codec.plan(
            self._specs, max_gap=conn.max_gap, max_registers=conn.max_registers_per_request)
        self._client: AsyncModbusTcpClient | None = None

    async def connect(self) -> None:
        conn = self.device.connection
        await self.close()
        # retries=0 and reconnect_delay=0: no hidden retry or reconnect inside pymodbus; the
        # coordinator owns both.
        client = AsyncModbusTcpClient(conn.host, port=conn.port, timeout=conn.timeout_s, retries=0,
                                      reconnect_delay=0, name=self.device.source)
        try:
            ok = await client.connect()
        except (OSError, ModbusException) as exc:
            client.close()
            raise ConnectionLost(f"cannot connect to {conn.host}:{conn.port}: {exc}") from exc
        if not ok or not client.connected:
            client.close()
            raise ConnectionLost(f"cannot connect to {conn.host}:{conn.port}")
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing must not raise; the socket is gone either way
                client.close()

    async def read(self) -> Sequence[Reading]:
        ts = datetime.now(UTC)
        values: dict[int, tuple[float | None, Quality]] = {}
        pending = list(self.requests)
        kept: list[codec.ReadRequest] = []
        while pending:
            req = pending.pop(0)
            response = await self._execute(req)
            if response.isError():
                parts = codec.split(req, self._specs)
                if len(parts) > 1:
                    pending[:0] = parts  # read the parts now, keep them for later polls
                    continue
                kept.append(req)
                for i in req.points:
                    values[i] = (None, Quality.BAD)
                continue
            kept.append(req)
            self._decode(req, response, values)
        self.requests = kept
        source = self.device.source
        out: list[Reading] = []
        for i, bp in enumerate(self.device.points):
            value, quality = values.get(i, (None, Quality.BAD))
            out.append(Reading(bp.point_id, ts, value, quality, source))
        return out

    async def _execute(self, req: codec.ReadRequest) -> ModbusPDU:
        client = self._client
        if client is None or not client.connected:
            raise ConnectionLost("not connected")
        unit = self.device.connection.unit_id
        calls: dict[str, Any] = {
            "holding": client.read_holding_registers, "input": client.read_input_registers,
            "coil": client.read_coils, "discrete": client.read_discrete_inputs,
        }
        try:
            response: ModbusPDU = await calls[req.table](req.address, count=req.count, device_id=unit)
        except (ModbusIOException, ConnectionException, OSError, TimeoutError) as exc:
            await self.close()
            raise ConnectionLost(f"{req.table} {req.address}+{req.count}: {exc}") from exc
        except ModbusException as exc:  # a frame pymodbus could not make sense of
            await self.close()
            raise ConnectionLost(f"{req.table} {req.address}+{req.count}: {exc}") from exc
        return response

    def _decode(self, req: codec.ReadRequest, response: ModbusPDU,
                values: dict[int, tuple[float | None, Quality]]) -> None:
        bits = req.table in codec.BIT_TABLES
        data: Sequence[int] | Sequence[bool] = response.bits if bits else response.registers
        for i in req.points:
            bp: BoundPoint[ModbusPoint] = self.device.points[i]
            values[i] = self._value(bp, req, data, bits)

    def _value(self, bp: BoundPoint[ModbusPoint], req: codec.ReadRequest,
               data: Sequence[int] | Sequence[bool], bits: bool) -> tuple[float | None, Quality]:
        p = bp.spec
        start = p.address - req.address
        n = codec.span(p)
        chunk = list(data[start: start + n])
        if len(chunk) != n:
            self.reject("malformed", f"{req.table} {req.address}+{req.count}: {len(data)} values in the response",
                        point_code=bp.code)
            return None, Quality.BAD
        if bits:
            raw = 1.0 if chunk[0] else 0.0
        else:
            try:
                raw = codec.decode([int(v) for v in chunk], p.type, p.byte_order, p.word_order)
            except codec.CodecError as exc:
                self.reject("malformed", str(exc), codec.registers_to_hex([int(v) for v in chunk]), bp.code)
                return None, Quality.BAD
            if p.type in FLOAT_TYPES and not math.isfinite(raw):
                self.reject("wrong_type", f"{p.type} at {p.table} {p.address} is {raw}",
                            codec.registers_to_hex([int(v) for v in chunk]), bp.code)
                return None, Quality.BAD
        value = codec.to_engineering(raw, p.scale, p.offset)
        if not math.isfinite(value):
            self.reject("wrong_type", f"{raw} * {p.scale} + {p.offset} is not finite", str(raw), bp.code)
            return None, Quality.BAD
        return value, Quality.GOOD
