"""The simulated plant: equipment, measurement points and the stations that serve them.

Read from the demo plant (``plantguard/demo/plant.yaml``) through the demo seed's own template
expansion (:func:`plantguard.demo.seed.point_specs`), so the simulator serves exactly the
points the database holds after ``plantguard demo seed``: same codes, ranges and thresholds.
No database is needed.

A *station* is one simulated field controller per area (a workshop PLC or a SCADA node): the
unit of communication. It is one Modbus unit id on the simulator's Modbus TCP server (a
gateway with one slave per area), one folder on the OPC UA server, and the thing a
``dropout`` fault silences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Quantities served as on/off values (Modbus coils); none in today's demo plant, but a plant
# description may add them (e.g. a running signal or a door switch).
BOOL_QUANTITIES = frozenset({"state", "bool", "switch", "status"})


class PlantError(ValueError):
    """The plant description cannot be simulated (a missing field, an unknown reference)."""


@dataclass(frozen=True)
class SimPoint:
    code: str
    name: str
    quantity: str
    unit: str
    equipment: str  # equipment code, e.g. EQ-ST-001
    suffix: str
    index: int  # position in plant order; stable for a given plant.yaml
    range_low: float | None = None
    range_high: float | None = None
    low_alarm: float | None = None
    low_warning: float | None = None
    high_warning: float | None = None
    high_alarm: float | None = None

    @property
    def is_bool(self) -> bool:
        return self.quantity in BOOL_QUANTITIES

    def clamp(self, value: float) -> float:
        """Keep a value inside the point's range (a transmitter saturates at its span)."""
        if self.range_low is not None and value < self.range_low:
            return self.range_low
        if self.range_high is not None and value > self.range_high:
            return self.range_high
        return value


@dataclass(frozen=True)
class SimEquipment:
    code: str
    tag: str
    name: str
    type: str
    area: str
    status: str  # in_service, standby, maintenance
    points: tuple[SimPoint, ...]


@dataclass(frozen=True)
class Station:
    """One area's field controller: a Modbus unit id and an OPC UA folder."""

    area: str
    name: str  # the area's name, e.g. 冲压车间
    kind: str  # the area's kind (production, paint_mixing, electrical_room, ...)
    unit_id: int
    equipment: tuple[str, ...]
    points: tuple[SimPoint, ...]

    @property
    def analog(self) -> tuple[SimPoint, ...]:
        return tuple(p for p in self.points if not p.is_bool)

    @property
    def digital(self) -> tuple[SimPoint, ...]:
        return tuple(p for p in self.points if p.is_bool)

    def register_address(self, code: str) -> int:
        """Holding-register address of an analogue point: float32, two registers each, in plant
        order from 0."""
        for i, p in enumerate(self.analog):
            if p.code == code:
                return 2 * i
        raise KeyError(code)

    def coil_address(self, code: str) -> int:
        for i, p in enumerate(self.digital):
            if p.code == code:
                return i
        raise KeyError(code)


@dataclass(frozen=True)
class Plant:
    enterprise: str
    equipment: tuple[SimEquipment, ...]
    stations: tuple[Station, ...]
    _points: dict[str, SimPoint] = field(default_factory=dict, repr=False, compare=False)
    _by_equipment: dict[str, SimEquipment] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for eq in self.equipment:
            self._by_equipment[eq.code] = eq
            self._by_equipment.setdefault(eq.tag, eq)
            for p in eq.points:
                self._points[p.code] = p

    @property
    def points(self) -> tuple[SimPoint, ...]:
        return tuple(p for eq in self.equipment for p in eq.points)

    def point(self, code: str) -> SimPoint | None:
        return self._points.get(code)

    def equipment_of(self, code: str) -> SimEquipment | None:
        """Equipment by its code (``EQ-ST-001``) or its tag (``ST-P01``)."""
        return self._by_equipment.get(code)

    def owner(self, point: SimPoint) -> SimEquipment:
        return self._by_equipment[point.equipment]

    def station_of_area(self, area: str) -> Station | None:
        return next((s for s in self.stations if s.area == area), None)

    def station_of(self, point: SimPoint) -> Station:
        station = self.station_of_area(self.owner(point).area)
        if station is None:  # every point's area has a station by construction
            raise KeyError(point.code)
        return station


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def plant_from_data(data: Mapping[str, Any], *, include_disabled: bool = False) -> Plant:
    """Build the simulated plant from a parsed ``plant.yaml``-shaped mapping. Points disabled in
    the plant description are not served unless ``include_disabled``."""
    # Imported here: the demo seed pulls in the database models, which the control commands
    # (``plantguard simulate trigger``) do not need.
    from plantguard.demo.seed import point_specs

    try:
        templates: Mapping[str, Any] = data.get("point_templates") or {}
        area_specs: Sequence[Mapping[str, Any]] = data.get("areas") or []
        area_names = {str(a["code"]): str(a.get("name", a["code"])) for a in area_specs}
        area_kinds = {str(a["code"]): str(a.get("kind", "production")) for a in area_specs}
        enterprise = str((data.get("enterprise") or {}).get("code", "DEMO"))
        equipment: list[SimEquipment] = []
        index = 0
        for item in data.get("equipment") or []:
            code = str(item["code"])
            tag = str(item.get("tag") or code.removeprefix("EQ-"))
            area = str(item["area"])
            if area not in area_names:
                raise PlantError(f"{code}: unknown area {area!r}")
            points: list[SimPoint] = []
            for spec in point_specs(item, templates):
                if not spec.get("enabled", True) and not include_disabled:
                    continue
                suffix = str(spec["code"]).removeprefix(f"{tag}-")
                points.append(
                    SimPoint(
                        code=str(spec["code"]),
                        name=str(spec["name"]),
                        quantity=str(spec.get("quantity", "")),
                        unit=str(spec.get("unit", "")),
                        equipment=code,
                        suffix=suffix,
                        index=index,
                        range_low=_num(spec.get("range_low")),
                        range_high=_num(spec.get("range_high")),
                        low_alarm=_num(spec.get("low_alarm")),
                        low_warning=_num(spec.get("low_warning")),
                        high_warning=_num(spec.get("high_warning")),
                        high_alarm=_num(spec.get("high_alarm")),
                    )
                )
                index += 1
            if points:
                equipment.append(
                    SimEquipment(
                        code=code,
                        tag=tag,
                        name=str(item.get("name", code)),
                        type=str(item["type"]),
                        area=area,
                        status=str(item.get("status", "in_service")),
                        points=tuple(points),
                    )
                )
    except KeyError as exc:
        raise PlantError(f"plant description: missing field {exc.args[0]!r}") from None
    stations: list[Station] = []
    for area in area_names:  # areas in plant order; unit ids from 1
        members = [eq for eq in equipment if eq.area == area]
        if not members:
            continue
        stations.append(
            Station(
                area=area,
                name=area_names[area],
                kind=area_kinds[area],
                unit_id=len(stations) + 1,
                equipment=tuple(eq.code for eq in members),
                points=tuple(p for eq in members for p in eq.points),
            )
        )
    if len(stations) > 247:
        raise PlantError("more areas with points than Modbus unit ids (247)")
    for st in stations:
        if 2 * len(st.analog) > 65535:
            raise PlantError(f"area {st.area}: too many points for one Modbus unit")
    return Plant(enterprise=enterprise, equipment=tuple(equipment), stations=tuple(stations))


def load_demo_plant() -> Plant:
    """The demo plant as the simulator serves it."""
    from plantguard.demo.seed import load_plant

    return plant_from_data(load_plant())
