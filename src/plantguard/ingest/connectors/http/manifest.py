"""HTTP ingest: ``POST /api/v1/ingest`` with JSON or CSV batches and a per-device token.

There is nothing to connect to; the device calls us. Its point map is an optional allow-list:
empty means any measurement point of the enterprise may be named by code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from plantguard.core.i18n import N_
from plantguard.ingest.manifest import Manifest


class HttpConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_readings_per_request: int = Field(50_000, ge=1, le=200_000)


class HttpPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: str = Field(min_length=1, max_length=60)


MANIFEST = Manifest(
    protocol="http",
    name=N_("HTTP ingest"),
    mode="api",
    config_model=HttpConnection,
    point_model=HttpPoint,
    connector="",
)
