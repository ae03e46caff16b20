"""The running simulator: the plant model on a simulated clock, served as Modbus TCP and OPC UA
on loopback (and published to MQTT when a broker URL is given), with faults started and
cleared in-process or through the control directory (:mod:`plantguard.simulator.control`).

::

    sim = build_simulator(seed=7, speed=10.0, modbus_port=0, opcua_port=0)
    await sim.start()
    sim.trigger("micro-leak")            # on the first stamping press
    ...
    await sim.stop()

Every tick (``tick_s`` wall seconds, default 1) samples the model at the simulated time and
pushes the snapshot to the servers. ``tick_s=None`` leaves ticking to the caller
(:meth:`Simulator.tick`), which tests use to compare what is served with what was sampled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from plantguard.simulator.control import Command, ControlDir
from plantguard.simulator.faults import FAULTS, ActiveFault, FaultBook, FaultError, check_scale
from plantguard.simulator.model import PlantModel, Snapshot
from plantguard.simulator.plant import Plant, load_demo_plant
from plantguard.simulator.protocols import ModbusFace, MqttFace, OpcUaFace, iso_utc
from plantguard.simulator.signals import SimClock

log = logging.getLogger(__name__)

DEFAULT_MODBUS_PORT = 5020
DEFAULT_OPCUA_PORT = 4840
STATUS_INTERVAL_S = 1.0


class Simulator:
    """The demo plant on the wire. Use from one event loop; ``trigger``/``clear`` are plain
    methods so that code already on the loop (a web route, a test) can call them directly."""

    def __init__(
        self,
        model: PlantModel,
        clock: SimClock,
        *,
        host: str = "127.0.0.1",
        modbus_port: int | None = DEFAULT_MODBUS_PORT,
        opcua_port: int | None = DEFAULT_OPCUA_PORT,
        mqtt_url: str | None = None,
        control: ControlDir | None = None,
        tick_s: float | None = 1.0,
        fault_time_scale: float = 1.0,
    ) -> None:
        if tick_s is not None and not tick_s > 0:
            raise ValueError("tick_s: must be positive (or None for manual ticks)")
        check_scale(fault_time_scale)
        # The clock speed of faults started without one (the demo's `plantguard run --simulate`
        # runs them accelerated so that a slow fault shows within a minute or two).
        self.fault_time_scale = float(fault_time_scale)
        self.model = model
        self.plant: Plant = model.plant
        self.clock = clock
        self.faults = FaultBook(self.plant, model.seed)
        self.host = host
        self.tick_s = tick_s
        self.control = control
        self.modbus = ModbusFace(self.plant, host, modbus_port) if modbus_port is not None else None
        self.opcua = OpcUaFace(self.plant, host, opcua_port) if opcua_port is not None else None
        self.mqtt = MqttFace(self.plant, mqtt_url) if mqtt_url else None
        self.snapshot: Snapshot | None = None
        self.ticks = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._status_at = 0.0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if self.control is not None:
            self.control.acquire()
        try:
            if self.modbus is not None:
                await self.modbus.start()
            if self.opcua is not None:
                await self.opcua.start()
            if self.mqtt is not None:
                self.mqtt.start()
        except BaseException:
            await self._shutdown_faces()
            if self.control is not None:
                self.control.release()
            raise
        self._started = True
        await self.tick()
        if self.tick_s is not None:
            self._tasks.append(asyncio.create_task(self._ticker(self.tick_s), name="simulator-tick"))
        if self.control is not None:
            self._tasks.append(asyncio.create_task(self._control_loop(), name="simulator-control"))
        log.info("simulator started: %d points, Modbus %s, OPC UA %s, MQTT %s", len(self.plant.points),
                 self.modbus_port, self.opcua_endpoint, self.mqtt.url if self.mqtt else "off")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._shutdown_faces()
        if self.control is not None:
            self.control.release()
        self._started = False

    async def _shutdown_faces(self) -> None:
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.opcua is not None:
            await self.opcua.stop()
        if self.modbus is not None:
            await self.modbus.stop()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- ports -----------------------------------------------------------------------------

    @property
    def modbus_port(self) -> int | None:
        return self.modbus.port if self.modbus is not None else None

    @property
    def opcua_port(self) -> int | None:
        return self.opcua.port if self.opcua is not None else None

    @property
    def opcua_endpoint(self) -> str | None:
        return self.opcua.endpoint if self.opcua is not None else None

    # --- ticking ---------------------------------------------------------------------------

    async def tick(self) -> Snapshot:
        """Sample the plant at the current simulated time and serve it."""
        snap = self.model.sample(self.clock.now(), self.faults)
        self.snapshot = snap
        self.ticks += 1
        if self.modbus is not None:
            self.modbus.update(snap)
        if self.opcua is not None:
            await self.opcua.update(snap)
        if self.mqtt is not None:
            self.mqtt.update(snap)
        if self.control is not None and time.monotonic() - self._status_at >= STATUS_INTERVAL_S:
            self._write_status()
        return snap

    async def _ticker(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                await self.tick()
            except Exception:  # a failing face must not stop the plant
                log.exception("simulator tick failed")
            if loop.time() - next_at > 5 * interval:  # fell far behind (suspended machine): resync
                next_at = loop.time()

    # --- faults ----------------------------------------------------------------------------

    def trigger(self, fault: str, target: str | None = None, *, at: float | None = None,
                scale: float = 1.0) -> ActiveFault:
        """Start a fault now (or at simulated time ``at``), its clock ``scale`` times the plant's;
        it shows from the next tick. Raises :class:`FaultError` naming the problem."""
        t = self.clock.now() if at is None else at
        started = self.faults.trigger(self.model, fault, target, t, scale)
        self._on_fault_change()
        log.info("fault %s started on %s", started.kind, started.target)
        return started

    def clear(self, fault: str | None = None, target: str | None = None) -> list[ActiveFault]:
        """End matching faults (all when both are ``None``)."""
        ended = self.faults.clear(fault, target)
        self._on_fault_change()
        return ended

    def _on_fault_change(self) -> None:
        if self.modbus is not None:  # a dropout silences Modbus at once, not at the next tick
            self.modbus.set_offline(self.faults.offline(float("inf")))
        self._status_at = 0.0

    # --- control channel -------------------------------------------------------------------

    def apply(self, command: Command) -> dict[str, Any]:
        """Carry out one control command; the result is what the sender reads back."""
        try:
            if command.action == "trigger":
                if not command.fault:
                    raise FaultError(f"fault: name one of {', '.join(FAULTS)}")
                scale = self.fault_time_scale if command.time_scale is None else command.time_scale
                started = self.trigger(command.fault, command.target, scale=scale)
                return {"ok": True, "started": [started.to_dict(self.clock.now())]}
            ended = self.clear(command.fault, command.target)
            return {"ok": True, "cleared": [f.to_dict() for f in ended]}
        except FaultError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # answer the sender rather than leave it waiting
            log.exception("simulator command %s failed", command.id)
            return {"ok": False, "error": f"the simulator failed: {exc}"}

    async def _control_loop(self) -> None:
        from plantguard.simulator.control import POLL_INTERVAL_S

        assert self.control is not None
        while True:
            applied = False
            try:
                for command, cid, error in self.control.pending():
                    if command is None or error:
                        self.control.reply(cid, {"ok": False, "error": error})
                        continue
                    self.control.reply(cid, self.apply(command))
                    applied = True
                if applied:
                    await self.tick()
                    self._write_status()
            except Exception:  # a broken file or disk must not stop the channel for good
                log.exception("simulator control channel failed")
            await asyncio.sleep(POLL_INTERVAL_S)

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "pid": os.getpid(),
            "seed": self.model.seed,
            "speed": self.clock.speed,
            "fault_time_scale": self.fault_time_scale,
            "sim_time": iso_utc(now),
            "updated_at": time.time(),
            "points": len(self.plant.points),
            "host": self.host,
            "modbus_port": self.modbus_port,
            "opcua_endpoint": self.opcua_endpoint,
            "mqtt": None if self.mqtt is None else {"url": self.mqtt.url, "connected": self.mqtt.connected(),
                                                     "published": self.mqtt.published},
            "faults": [f.to_dict(now) for f in self.faults.active],
        }

    def _write_status(self) -> None:
        if self.control is None:
            return
        try:
            self.control.write_status(self.status())
        except OSError:
            log.exception("cannot write the simulator status")
        self._status_at = time.monotonic()


def build_simulator(
    seed: int = 0,
    speed: float = 1.0,
    *,
    start: datetime | float | None = None,
    host: str = "127.0.0.1",
    modbus_port: int | None = DEFAULT_MODBUS_PORT,
    opcua_port: int | None = DEFAULT_OPCUA_PORT,
    mqtt_url: str | None = None,
    control_dir: Path | str | None = None,
    tick_s: float | None = 1.0,
    plant: Plant | None = None,
    fault_time_scale: float = 1.0,
) -> Simulator:
    """The demo plant's simulator. ``start`` is the simulated start time (default: the fixed
    :data:`~plantguard.simulator.signals.DEFAULT_START`, so runs are reproducible); a port of
    ``0`` binds a free port, ``None`` does not serve that protocol; ``control_dir`` enables the
    control channel (the CLI uses ``<var dir>/simulator``)."""
    model = PlantModel(plant or load_demo_plant(), seed)
    clock = SimClock(start, speed)
    control = ControlDir(control_dir) if control_dir is not None else None
    return Simulator(model, clock, host=host, modbus_port=modbus_port, opcua_port=opcua_port,
                     mqtt_url=mqtt_url, control=control, tick_s=tick_s, fault_time_scale=fault_time_scale)


async def serve(sim: Simulator, *, ready: Any = None) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly. ``ready`` is called once serving."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await sim.start()
    try:
        if ready is not None:
            ready(sim)
        await stop.wait()
    finally:
        await sim.stop()
