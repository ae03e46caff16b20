"""OPC UA: subscriptions (default) or polling, and browsing a server to propose points."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plantguard.core.i18n import N_
from plantguard.ingest.manifest import Manifest

# The OPC UA node id string forms (Part 6, 5.3.1.10): an optional namespace, by index or by
# URI, then a numeric, string, GUID or opaque identifier.
NODE_ID = re.compile(
    r"^(?:(?:ns=\d{1,5}|nsu=[^;]+);)?"
    r"(?:i=\d{1,10}|s=.+|g=[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}|b=[A-Za-z0-9+/=]+)$",
    re.DOTALL,
)


def check_endpoint(value: str) -> str:
    """An ``opc.tcp://host[:port][/path]`` address, or ValueError saying what is wrong."""
    value = value.strip()
    parsed = urlparse(value)
    if parsed.scheme != "opc.tcp" or not parsed.hostname or any(c.isspace() for c in value):
        raise ValueError("not an opc.tcp:// address with a host name, e.g. opc.tcp://192.168.1.10:4840")
    try:
        port = parsed.port
    except ValueError:
        port = 0
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the port is not a number between 1 and 65535")
    return value


class OpcUaConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=1, max_length=500)
    mode: Literal["subscribe", "poll"] = "subscribe"
    publishing_interval_ms: int = Field(500, ge=10, le=3_600_000)
    timeout_s: float = Field(4.0, gt=0, le=120)
    # Monitored items per subscription request: servers cap them, so large maps are chunked.
    max_items_per_request: int = Field(500, ge=1, le=10_000)
    username: str | None = Field(None, max_length=200)
    password_env: str | None = Field(None, max_length=100)  # name of an environment variable, never the secret

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_endpoint(value)


class OpcUaPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: str = Field(min_length=1, max_length=60)
    node: str = Field(min_length=1, max_length=500)  # a NodeId string, e.g. "ns=2;s=ST-P01.HP"
    scale: float = 1.0
    offset: float = 0.0

    @field_validator("node")
    @classmethod
    def _node(cls, value: str) -> str:
        value = value.strip()
        if not NODE_ID.match(value):
            raise ValueError("not an OPC UA node id, e.g. ns=2;s=Press01.HP, i=2258 or nsu=<namespace URI>;s=...")
        return value


MANIFEST = Manifest(
    protocol="opcua",
    name=N_("OPC UA"),
    mode="push",
    config_model=OpcUaConnection,
    point_model=OpcUaPoint,
    connector="plantguard.ingest.connectors.opcua.connector:OpcUaConnector",
    requirements=("asyncua",),
)
