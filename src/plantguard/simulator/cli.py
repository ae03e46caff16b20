"""``plantguard simulate``: run the plant simulator, start and clear faults, export devices.

Wired into the main command as ``app.add_typer(simulate_app, name="simulate")``; also runnable
on its own as ``python -m plantguard.simulator.cli``. Heavy imports stay inside the commands so
that ``plantguard --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

simulate_app = typer.Typer(
    help="The plant simulator: the demo plant served as Modbus TCP and OPC UA (and MQTT), with faults.",
    invoke_without_command=True,
)

Seed = Annotated[int, typer.Option(help="Random seed: the same seed and start time give the same readings")]
Speed = Annotated[float, typer.Option(help="Simulated seconds per wall-clock second")]
ModbusPort = Annotated[int, typer.Option(help="Modbus TCP port (0: any free port)")]
OpcUaPort = Annotated[int, typer.Option(help="OPC UA port (0: any free port)")]
MqttUrl = Annotated[str | None, typer.Option(help="Publish telemetry to this broker, e.g. mqtt://127.0.0.1:1883")]
Host = Annotated[str, typer.Option(help="Address the servers bind to")]
Start = Annotated[str | None, typer.Option(help="Simulated start time, ISO-8601 (default: now)")]
Tick = Annotated[float, typer.Option(help="Wall-clock seconds between samples")]
FaultScale = Annotated[float, typer.Option(
    help="Clock speed of faults triggered without --time-scale: 60 plays an hour of a fault in a minute "
         "(`plantguard run --simulate` uses 60; the plant's own clock is unchanged)")]


def _control() -> Any:
    from plantguard.simulator.control import default_control_dir

    return default_control_dir()


def _parse_start(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        typer.echo(f"--start: not an ISO-8601 time: {text!r}", err=True)
        raise typer.Exit(2) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _run(seed: int, speed: float, modbus_port: int, opcua_port: int, mqtt_url: str | None, host: str,
         start: str | None, tick: float, fault_time_scale: float = 1.0) -> None:
    from plantguard.simulator.control import ControlError
    from plantguard.simulator.servers import build_simulator, serve

    if not speed > 0:
        typer.echo("--speed: must be positive", err=True)
        raise typer.Exit(2)
    if not tick > 0:
        typer.echo("--tick: must be positive", err=True)
        raise typer.Exit(2)
    from plantguard.simulator.faults import MAX_TIME_SCALE

    if not 0 < fault_time_scale <= MAX_TIME_SCALE:
        typer.echo(f"--fault-time-scale: must be above 0 and at most {MAX_TIME_SCALE:g}", err=True)
        raise typer.Exit(2)
    from plantguard.core import logs

    logs.configure()
    for noisy in ("asyncua", "pymodbus"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    control = _control()
    try:
        sim = build_simulator(seed, speed, start=_parse_start(start), host=host, modbus_port=modbus_port,
                              opcua_port=opcua_port, mqtt_url=mqtt_url, control_dir=control.root, tick_s=tick,
                              fault_time_scale=fault_time_scale)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None

    def ready(s: Any) -> None:
        units = f"unit ids 1-{len(s.plant.stations)}"
        faster = f", faults x{fault_time_scale:g}" if fault_time_scale != 1.0 else ""
        typer.echo(f"plant simulator: {len(s.plant.points)} points, seed {seed}, speed x{speed:g}{faster}")
        typer.echo(f"  Modbus TCP  {host}:{s.modbus_port} ({units}, float32 holding registers)")
        typer.echo(f"  OPC UA      {s.opcua_endpoint} (ns=2;s=<point code>)")
        typer.echo(f"  MQTT        {mqtt_url or 'off'}")
        typer.echo(f"  control     {control.root} (plantguard simulate trigger|clear|status)")
        typer.echo("Ctrl+C to stop")

    try:
        asyncio.run(serve(sim, ready=ready))
    except ControlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except (OSError, RuntimeError) as exc:
        typer.echo(f"cannot start the simulator: {exc}", err=True)
        raise typer.Exit(1) from None


@simulate_app.callback()
def simulate(
    ctx: typer.Context,
    seed: Seed = 0,
    speed: Speed = 1.0,
    modbus_port: ModbusPort = 5020,
    opcua_port: OpcUaPort = 4840,
    mqtt_url: MqttUrl = None,
    host: Host = "127.0.0.1",
    start: Start = None,
    tick: Tick = 1.0,
    fault_time_scale: FaultScale = 1.0,
) -> None:
    """Run the simulator (the same as `plantguard simulate run`) unless a command is given."""
    if ctx.invoked_subcommand is None:
        _run(seed, speed, modbus_port, opcua_port, mqtt_url, host, start, tick, fault_time_scale)


@simulate_app.command("run")
def run(
    seed: Seed = 0,
    speed: Speed = 1.0,
    modbus_port: ModbusPort = 5020,
    opcua_port: OpcUaPort = 4840,
    mqtt_url: MqttUrl = None,
    host: Host = "127.0.0.1",
    start: Start = None,
    tick: Tick = 1.0,
    fault_time_scale: FaultScale = 1.0,
) -> None:
    """Serve the demo plant until Ctrl+C."""
    _run(seed, speed, modbus_port, opcua_port, mqtt_url, host, start, tick, fault_time_scale)


def _send(action: str, fault: str | None, target: str | None, time_scale: float | None = None) -> dict[str, Any]:
    from plantguard.simulator.control import Command, ControlError, NotRunning
    from plantguard.simulator.faults import FAULTS

    if fault is not None and fault not in FAULTS:
        typer.echo(f"fault: unknown fault {fault!r}; one of {', '.join(FAULTS)}", err=True)
        raise typer.Exit(2)
    try:
        return dict(_control().send(Command(action=action, fault=fault, target=target, time_scale=time_scale)))
    except NotRunning:
        typer.echo("no simulator is running: start one with `plantguard simulate`", err=True)
        raise typer.Exit(1) from None
    except ControlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@simulate_app.command("trigger")
def trigger(
    fault: Annotated[str, typer.Argument(help="micro-leak, bearing-wear, gas-leak, sensor-stuck or dropout")],
    target: Annotated[str | None, typer.Option(help="Equipment code or tag, point code, or area (dropout)")] = None,
    time_scale: Annotated[float | None, typer.Option(
        help="Run the fault's clock this many times faster than the plant's (default: the simulator's "
             "--fault-time-scale; 60 in `plantguard run --simulate`, where micro-leak alarms in about 1.5 min)",
    )] = None,
) -> None:
    """Start a fault in the running simulator."""
    from plantguard.simulator.faults import MAX_TIME_SCALE

    if time_scale is not None and not 0 < time_scale <= MAX_TIME_SCALE:
        typer.echo(f"--time-scale: must be above 0 and at most {MAX_TIME_SCALE:g}", err=True)
        raise typer.Exit(2)
    for f in _send("trigger", fault, target, time_scale).get("started", []):
        scale = f" at x{f['time_scale']:g}" if f.get("time_scale") else ""
        typer.echo(f"{f['fault']} on {f['target']} since {f['started_at']}{scale} "
                   f"(points: {', '.join(f['points'])})")


@simulate_app.command("clear")
def clear(
    fault: Annotated[str | None, typer.Argument(help="Only this fault (default: all)")] = None,
    target: Annotated[str | None, typer.Option(help="Only faults on this target")] = None,
) -> None:
    """End faults in the running simulator (all of them by default)."""
    ended = _send("clear", fault, target).get("cleared", [])
    if not ended:
        typer.echo("no matching fault was active")
    for f in ended:
        typer.echo(f"cleared {f['fault']} on {f['target']}")


@simulate_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print the raw status")] = False) -> None:
    """Whether a simulator is running, where it serves, and its active faults (exit 1 if none)."""
    data = _control().status()
    if data is None:
        typer.echo("no simulator is running")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(f"running (pid {data.get('pid')}), simulated time {data.get('sim_time')}, speed x{data.get('speed')}")
    typer.echo(f"  Modbus TCP port {data.get('modbus_port')}, OPC UA {data.get('opcua_endpoint')}")
    mqtt = data.get("mqtt")
    typer.echo(f"  MQTT {mqtt['url']} ({'connected' if mqtt['connected'] else 'not connected'})" if mqtt
               else "  MQTT off")
    faults = data.get("faults") or []
    if not faults:
        typer.echo("  no active faults")
    for f in faults:
        typer.echo(f"  fault {f['fault']} on {f['target']} for {f.get('elapsed_s', 0):g} s")


@simulate_app.command("faults")
def faults() -> None:
    """The fault scenarios and their default targets."""
    from plantguard.simulator.faults import FAULTS, default_target
    from plantguard.simulator.plant import load_demo_plant

    plant = load_demo_plant()
    for name, info in FAULTS.items():
        typer.echo(f"{name:<13} default target {default_target(plant, name):<10} {info.description}")


@simulate_app.command("device-config")
def device_config(
    output: Annotated[Path | None, typer.Option(help="Write to this file instead of printing")] = None,
    layout: Annotated[str, typer.Option(help="split (default), modbus, opcua, mqtt or both")] = "split",
    host: Host = "127.0.0.1",
    modbus_port: ModbusPort = 5020,
    opcua_port: OpcUaPort = 4840,
    mqtt_url: Annotated[str | None, typer.Option(help="Broker the simulator publishes to (mqtt layout)")] = None,
    poll_interval: Annotated[float, typer.Option(help="Modbus poll interval, seconds")] = 1.0,
) -> None:
    """The device configuration (YAML) that makes PlantGuard ingest the simulator."""
    from plantguard.simulator.deviceconfig import LAYOUTS, device_config_yaml
    from plantguard.simulator.plant import load_demo_plant

    if layout not in LAYOUTS:
        typer.echo(f"--layout: one of {', '.join(LAYOUTS)}", err=True)
        raise typer.Exit(2)
    if not poll_interval > 0:
        typer.echo("--poll-interval: must be positive", err=True)
        raise typer.Exit(2)
    try:
        text = device_config_yaml(load_demo_plant(), host=host, modbus_port=modbus_port, opcua_port=opcua_port,
                                  mqtt_url=mqtt_url, layout=layout, poll_interval_s=poll_interval)
    except ValueError as exc:
        typer.echo(str(exc).replace("mqtt_url:", "--mqtt-url:"), err=True)
        raise typer.Exit(2) from None
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


if __name__ == "__main__":
    simulate_app()
