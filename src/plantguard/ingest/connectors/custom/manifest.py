"""Custom line protocols: what a device's ``connection`` and point-map entries look like.

For devices that speak a private, line-oriented text protocol over TCP (a tank gauge
printing ``TANK3 FS_HI=0 FS_LO=1 T=21.50`` once a second, a gas panel's serial-to-Ethernet
converter). PlantGuard either connects to the device and reads what it prints
(``tcp-client``) or listens and lets devices connect and push lines (``tcp-server``). What
a line means is said by the device's parser ``rules`` (see :mod:`plantguard.ingest.rules`);
the point map lists the measurement points those rules may feed::

    - code: TANK-FARM-GAUGE
      protocol: custom
      connection: {mode: tcp-client, host: 10.0.8.21, port: 4001, encoding: utf-8, line_terminator: "\\r\\n"}
      points:
        - {point: TK-1-LVLSTATE}
        - {point: TK-1-TEMP}
      rules:
        - name: tank-level
          match: '^TANK(?P<tank>\\d+) FS_HI=(?P<hi>[01]) FS_LO=(?P<lo>[01]) T=(?P<temp>-?\\d+\\.\\d+)$'
          outputs:
            - {point: 'TK-{tank}-LVLSTATE', value: '2 if hi == 1 else (1 if lo == 1 else 0)'}
            - {point: 'TK-{tank}-TEMP', value: 'float(temp)'}
"""

from __future__ import annotations

import codecs
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plantguard.core.i18n import N_
from plantguard.ingest.manifest import Manifest


class CustomConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # tcp-client: PlantGuard connects to host:port and reads; tcp-server: it listens on
    # host:port (host "" = every interface) and devices connect and push lines.
    mode: Literal["tcp-client", "tcp-server"] = "tcp-client"
    host: str = Field("", max_length=255)
    port: int = Field(ge=0, le=65535)  # 0 only for tcp-server: any free port (tests)
    encoding: str = Field("utf-8", min_length=1, max_length=40)  # e.g. utf-8, gb18030, latin-1
    line_terminator: str = Field("\n", min_length=1, max_length=4)  # "\n" also accepts "\r\n"
    max_line_bytes: int = Field(4096, ge=16, le=65_536)  # longer lines are quarantined, not parsed
    timeout_s: float = Field(5.0, gt=0, le=120)  # connecting (tcp-client)
    # No data for this long: the connection is taken as lost (tcp-client, reconnected by the
    # coordinator) or closed (tcp-server, the device reconnects). None: wait forever.
    idle_timeout_s: float | None = Field(None, gt=0, le=86_400)
    max_clients: int = Field(16, ge=1, le=1024)  # tcp-server: connections accepted at once

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            info = codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}") from None
        if not getattr(info, "_is_text_encoding", True):
            raise ValueError(f"{v!r} is not a text encoding")
        # Lines are split on the terminator's bytes, which needs an ASCII-compatible encoding.
        try:
            ascii_compatible = "AZaz09\n\r =.:,;".encode(info.name) == b"AZaz09\n\r =.:,;"
        except (UnicodeError, LookupError):  # pragma: no cover - a text codec encodes ASCII
            ascii_compatible = False
        if not ascii_compatible:
            raise ValueError(f"{v!r} is not ASCII-compatible (use e.g. utf-8, gb18030, gbk or latin-1)")
        return info.name

    @model_validator(mode="after")
    def _mode_needs(self) -> CustomConnection:
        if self.mode == "tcp-client":
            if not self.host.strip():
                raise ValueError("tcp-client needs the device's host")
            if self.port == 0:
                raise ValueError("tcp-client needs the device's port (1-65535)")
        try:
            self.line_terminator.encode(self.encoding)
        except UnicodeEncodeError:
            raise ValueError(f"the line terminator cannot be written in {self.encoding}") from None
        return self


class CustomPoint(BaseModel):
    """A measurement point the device's rules may feed; outputs naming any other point are
    quarantined as ``unknown_point``."""

    model_config = ConfigDict(extra="forbid")

    point: str = Field(min_length=1, max_length=60)


MANIFEST = Manifest(
    protocol="custom",
    name=N_("Custom line protocol (TCP)"),
    mode="push",
    config_model=CustomConnection,
    point_model=CustomPoint,
    connector="plantguard.ingest.connectors.custom.connector:CustomConnector",
    documentation=__doc__ or "",
)
