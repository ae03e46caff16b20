"""Modbus TCP: polled holding/input registers, coils and discrete inputs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plantguard.core.i18n import N_
from plantguard.ingest.manifest import Manifest

DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool"]
REGISTER_WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4, "bool": 1}


class ModbusConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255)
    timeout_s: float = Field(2.0, gt=0, le=60)
    # Registers closer than this are read in one request (gaps are read and discarded).
    max_gap: int = Field(8, ge=0, le=100)
    max_registers_per_request: int = Field(120, ge=1, le=125)


class ModbusPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: str = Field(min_length=1, max_length=60)  # measurement point code
    table: Literal["holding", "input", "coil", "discrete"] = "holding"
    address: int = Field(ge=0, le=65535)  # 0-based protocol address
    type: DataType = "uint16"
    byte_order: Literal["big", "little"] = "big"  # within each 16-bit register
    word_order: Literal["big", "little"] = "big"  # most significant register first ("big")
    scale: float = 1.0
    offset: float = 0.0  # value = raw * scale + offset

    @model_validator(mode="after")
    def _bits_are_bool(self) -> ModbusPoint:
        if self.table in ("coil", "discrete") and self.type != "bool":
            self.type = "bool"
        if self.address + REGISTER_WIDTH[self.type] - 1 > 65535:
            raise ValueError("address + width beyond 65535")
        return self


MANIFEST = Manifest(
    protocol="modbus",
    name=N_("Modbus TCP"),
    mode="poll",
    config_model=ModbusConnection,
    point_model=ModbusPoint,
    connector="plantguard.ingest.connectors.modbus.connector:ModbusConnector",
    requirements=("pymodbus",),
)
