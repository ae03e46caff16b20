"""Plant simulator: devices speaking real protocols, and a seeded production history.

The demo plant's equipment as real Modbus TCP and OPC UA servers on loopback (and MQTT
telemetry), with deterministic signals and fault scenarios; :mod:`.production` writes a
seeded production history (MES phases, PLC events, badge reads) for the alignment importers.

Modules: :mod:`.plant` (points and stations from ``plant.yaml``), :mod:`.signals` (noise,
working day, simulated clock), :mod:`.profiles` (how each point behaves), :mod:`.model` (what
each point reads at an instant), :mod:`.faults` (the five scenarios), :mod:`.protocols` (the
servers), :mod:`.servers` (:class:`Simulator`, :func:`build_simulator`), :mod:`.control`
(triggering faults from another process), :mod:`.deviceconfig` (the device YAML for
``plantguard devices import``), :mod:`.cli`.

The names below are imported lazily so that ``plantguard --help`` does not load the servers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plantguard.simulator.faults import FAULTS, FaultError
    from plantguard.simulator.servers import Simulator, build_simulator

__all__ = ["FAULTS", "FaultError", "Simulator", "build_simulator"]


def __getattr__(name: str) -> Any:
    if name in ("Simulator", "build_simulator"):
        from plantguard.simulator import servers

        return getattr(servers, name)
    if name in ("FAULTS", "FaultError"):
        from plantguard.simulator import faults

        return getattr(faults, name)
    raise AttributeError(name)
