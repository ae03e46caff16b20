"""A connector's manifest: what it is, how it runs, what configuration it takes.

Built-in connectors and those of separate packages register the same way, through the
``plantguard.connectors`` entry-point group, each naming a :class:`Manifest` object::

    [project.entry-points."plantguard.connectors"]
    modbus = "plantguard.ingest.connectors.modbus.manifest:MANIFEST"
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

from pydantic import BaseModel

ENTRY_POINT_GROUP = "plantguard.connectors"
log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Manifest:
    protocol: str  # the key devices use: "modbus", "opcua", ...
    name: str  # shown in the console (a catalogue message id)
    mode: Literal["poll", "push", "api"]  # "api": data arrives through PlantGuard's own API (HTTP ingest)
    config_model: type[BaseModel]  # the device's ``connection`` settings
    point_model: type[BaseModel]  # one entry of the device's point map
    connector: str  # "module:Class", imported only when a device of this protocol runs
    requirements: tuple[str, ...] = ()  # Python distributions it needs (declared in pyproject extras)
    documentation: str = ""

    def connector_class(self) -> Any:
        module, _, cls = self.connector.partition(":")
        mod = __import__(module, fromlist=[cls])
        return getattr(mod, cls)

class UnknownProtocol(LookupError):
    pass

_cache: dict[str, Manifest] | None = None

def manifests(reload: bool = False) -> dict[str, Manifest]:
    """Every registered connector by protocol, read from the entry points once."""
    global _cache
    if _cache is None or reload:
        found: dict[str, Manifest] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                m = ep.load()
            except Exception:  # one broken plug-in must not take the others down
                log.exception("connector entry point %s could not be loaded", ep.value)
                continue
            if isinstance(m, Manifest):
                found[m.protocol] = m
            else:
                log.error("connector entry point %s is not a Manifest", ep.value)
        _cache = found
    return _cache

def register(manifest: Manifest) -> None:
    """Add a manifest at run time (tests, embedding); packages should use entry points."""
    manifests()[manifest.protocol] = manifest

def get(protocol: str) -> Manifest:
    try:
        return manifests()[protocol]
    except KeyError:
        raise UnknownProtocol(protocol) from None
