"""OPC UA: subscriptions (default) or polling, and browsing a server to propose points."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plantguard.core.i18n import N_
from plantguard.ingest.manifest import Manifest


class OpcUaConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(pattern=r"^opc\.tcp://", max_length=500)
    mode: Literal["subscribe", "poll"] = "subscribe"
    publishing_interval_ms: int = Field(500, ge=10, le=3_600_000)
    timeout_s: float = Field(4.0, gt=0, le=120)
    # Monitored items per subscription request: servers cap them, so large maps are chunked.
    max_items_per_request: int = Field(500, ge=1, le=10_000)
    username: str | None = Field(None, max_length=200)
    password_env: str | None = Field(None, max_length=100)  # name of an environment variable, never the secret


class OpcUaPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: str = Field(min_length=1, max_length=60)
    node: str = Field(min_length=1, max_length=500)  # a NodeId string, e.g. "ns=2;s=ST-P01.HP"
    scale: float = 1.0
    offset: float = 0.0


MANIFEST = Manifest(
    protocol="opcua",
    name=N_("OPC UA"),
    mode="push",
    config_model=OpcUaConnection,
    point_model=OpcUaPoint,
    connector="plantguard.ingest.connectors.opcua.connector:OpcUaConnector",
    requirements=("asyncua",),
)
