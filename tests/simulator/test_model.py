"""The simulated plant's signals and fault scenarios, without any server.

Everything here is a pure function of (seed, simulated time), so the tests sample at chosen
instants rather than waiting for a clock.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import pytest
import yaml

from plantguard.demo.seed import load_plant, point_specs
from plantguard.ingest.connectors.modbus.manifest import ModbusConnection, ModbusPoint
from plantguard.ingest.connectors.mqtt.manifest import MqttConnection, MqttPoint
from plantguard.ingest.connectors.opcua.manifest import OpcUaConnection, OpcUaPoint
from plantguard.simulator.deviceconfig import device_config, device_config_yaml
from plantguard.simulator.faults import FaultBook, FaultError, default_target
from plantguard.simulator.model import PlantModel
from plantguard.simulator.plant import Plant, load_demo_plant, plant_from_data
from plantguard.simulator.signals import DEFAULT_START, LOCAL_OFFSET_S, SimClock, production_on

T0 = DEFAULT_START.timestamp()  # Monday 08:00 in Suzhou
HOUR = 3600.0
MIN = 60.0


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_demo_plant()


@pytest.fixture(scope="module")
def model(plant: Plant) -> PlantModel:
    return PlantModel(plant, seed=11)


def local(day: int, hour: float) -> float:
    """Epoch seconds for local (Suzhou) ``hour`` on ``day`` days after the default start."""
    midnight = T0 + LOCAL_OFFSET_S - (T0 + LOCAL_OFFSET_S) % 86_400 - LOCAL_OFFSET_S
    return float(midnight + day * 86_400 + hour * HOUR)


# --- the plant ---------------------------------------------------------------------------


def test_the_simulator_serves_every_demo_point_with_its_thresholds(plant: Plant) -> None:
    data = load_plant()
    expected = {p["code"]: p for item in data["equipment"] for p in point_specs(item, data["point_templates"])}
    served = {p.code: p for p in plant.points}
    assert len(served) >= 200
    assert set(served) == {c for c, p in expected.items() if p["enabled"]}
    hp = served["ST-P01-HP"]
    assert (hp.quantity, hp.unit, hp.range_low, hp.range_high) == ("pressure", "MPa", 0.0, 40.0)
    assert (hp.low_alarm, hp.low_warning, hp.high_warning, hp.high_alarm) == (18.0, 20.0, 28.0, 30.0)
    assert served["ST-P01-TON"].high_alarm == 20000.0  # the per-equipment override
    # Every point belongs to exactly one station, unit ids are 1..n.
    assert sorted(p.code for st in plant.stations for p in st.points) == sorted(served)
    assert [st.unit_id for st in plant.stations] == list(range(1, len(plant.stations) + 1))


# --- determinism and the clock ---------------------------------------------------------


def series(model: PlantModel, times: list[float]) -> list[dict[str, float]]:
    return [model.sample(t).values for t in times]


def test_the_same_seed_gives_identical_series_and_another_seed_does_not(plant: Plant) -> None:
    times = [T0 + 17.0 * i for i in range(60)]
    a = series(PlantModel(plant, seed=5), times)
    b = series(PlantModel(plant, seed=5), times)
    c = series(PlantModel(plant, seed=6), times)
    assert a == b
    differing = sum(1 for x, y in zip(a, c, strict=True) for code in x if x[code] != y[code])
    assert differing > len(times) * 100


def test_a_value_does_not_depend_on_how_often_the_plant_was_sampled(plant: Plant) -> None:
    dense = PlantModel(plant, seed=2)
    for i in range(120):  # tick every second for two minutes
        dense.sample(T0 + i)
    sparse = PlantModel(plant, seed=2)
    assert dense.sample(T0 + 119).values == sparse.sample(T0 + 119).values


def test_the_clock_runs_at_the_speed_factor_and_advances_on_demand() -> None:
    wall = [100.0]
    clock = SimClock(DEFAULT_START, speed=60.0, monotonic=lambda: wall[0])
    assert clock.now() == T0
    wall[0] += 10.0
    assert clock.now() == pytest.approx(T0 + 600.0)
    clock.advance(30.0)
    assert clock.now() == pytest.approx(T0 + 630.0)
    assert clock.now_dt().timestamp() == pytest.approx(T0 + 630.0)
    slow = SimClock(DEFAULT_START, speed=0.5, monotonic=lambda: wall[0])
    wall[0] += 4.0
    assert slow.now() == pytest.approx(T0 + 2.0)
    with pytest.raises(ValueError, match="speed"):
        SimClock(speed=0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


# --- a healthy plant -------------------------------------------------------------------


@pytest.mark.parametrize("day", [0, 50, 230], ids=["june", "july", "january"])
def test_a_healthy_plant_stays_inside_every_range_and_warning_band(model: PlantModel, day: int) -> None:
    start = local(day, 6.0)
    for i in range(150):  # 06:00 to about 10:00, through the 07:50 hand-over
        t = start + i * 97.0
        snap = model.sample(t).values
        for p in model.plant.points:
            v = snap[p.code]
            assert p.range_low is None or v >= p.range_low, (p.code, v)
            assert p.range_high is None or v <= p.range_high, (p.code, v)
            for limit in (p.low_warning, p.low_alarm):
                assert limit is None or v >= limit, (p.code, t, v, limit)
            for limit in (p.high_warning, p.high_alarm):
                assert limit is None or v <= limit, (p.code, t, v, limit)


def values(model: PlantModel, code: str, start: float, seconds: int, step: float = 1.0) -> list[float]:
    p = model.plant.point(code)
    assert p is not None
    return [model.value(p, start + i * step) for i in range(int(seconds / step))]


def test_presses_stroke_while_producing_and_rest_in_breaks(model: PlantModel) -> None:
    working = local(0, 9.5)
    assert production_on(working)
    ton = values(model, "ST-P02-TON", working, 300)
    rated = 9000.0  # high_warning of the 1000 t presses
    strokes = [v for v in ton if v > 0.3 * rated]
    assert 0.1 * len(ton) < len(strokes) < 0.5 * len(ton)  # pulses, not a constant
    assert max(ton) < rated and min(ton) < 0.01 * rated
    lunch = local(0, 11.75)
    assert not production_on(lunch)
    assert max(values(model, "ST-P02-TON", lunch, 120)) < 0.01 * rated
    # The oil cools a little over lunch, and the standby press stays near ambient.
    assert statistics.mean(values(model, "ST-P02-OT", lunch + 25 * MIN, 60)) < statistics.mean(
        values(model, "ST-P02-OT", lunch - 30 * MIN, 60))
    assert max(values(model, "ST-P07-OT", working, 60)) < 30.0


def test_welding_current_comes_in_welds_and_booth_solvent_vapour_stays_low(model: PlantModel) -> None:
    cur = values(model, "WD-R01-CUR", local(0, 9.0), 180)
    assert min(cur) > 8.0 and max(cur) < 12.0  # inside the weld-current window (kA)
    changes = sum(1 for a, b in itertools.pairwise(cur) if a != b)
    held = sum(1 for a, b in itertools.pairwise(cur) if a == b)
    assert changes > 60 and held > 20  # a fresh weld each second, held between stations
    lel = values(model, "PT-B01-LEL", local(0, 9.0), 600, step=5.0)
    assert max(lel) < 5.0 and statistics.pstdev(lel) > 0.05
    flow = values(model, "PT-RB01-FLW", local(0, 9.0), 300)
    assert sum(1 for v in flow if v == 0.0) > 30 and max(flow) > 250.0  # sprays per car body


def test_ambient_temperature_follows_the_day_and_the_season(model: PlantModel) -> None:
    def mean_at(day: int, hour: float) -> float:
        return statistics.mean(values(model, "WH-ENV-TMP", local(day, hour), 1200, step=60.0))

    assert mean_at(0, 14.0) > mean_at(0, 4.5) + 0.8
    assert mean_at(50, 14.0) > mean_at(230, 14.0) + 5.0  # July afternoons are warmer than January's
    rh = values(model, "WH-ENV-RH", local(0, 4.0), 24 * 60, step=60.0)
    assert min(rh) > 40.0 and max(rh) < 80.0


# --- faults ----------------------------------------------------------------------------


def healthy_and_faulty(model: PlantModel, book: FaultBook, code: str, t: float) -> tuple[float, float]:
    p = model.plant.point(code)
    assert p is not None
    healthy = model.value(p, t)
    return healthy, book.apply(model, p, t, healthy)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_micro_leak_decays_pressure_and_heats_oil_before_the_low_alarm_trips(plant: Plant, seed: int) -> None:
    model = PlantModel(plant, seed)
    book = FaultBook(plant, seed)
    start = local(0, 8.5) + seed * 611.0
    fault = book.trigger(model, "micro-leak", None, start)
    assert fault.target == "EQ-ST-001" and fault.points == ("ST-P01-HP", "ST-P01-OT")
    hp = plant.point("ST-P01-HP")
    assert hp is not None and hp.low_alarm == 18.0
    crossed = None
    for s in range(0, 35 * 60, 5):
        _, v = healthy_and_faulty(model, book, "ST-P01-HP", start + s)
        if v < hp.low_alarm:
            crossed = s
            break
    assert crossed is not None and 20 * 60 <= crossed <= 30 * 60, crossed
    # Ten and fifteen minutes in, the trend is there to see, and the alarm has not tripped.
    for minutes, min_drop, min_rise in ((10, 0.8, 2.5), (15, 1.8, 4.5)):
        t = start + minutes * MIN
        drop = [a - b for a, b in (healthy_and_faulty(model, book, "ST-P01-HP", t + i) for i in range(30))]
        rise = [b - a for a, b in (healthy_and_faulty(model, book, "ST-P01-OT", t + i) for i in range(30))]
        assert min(drop) > min_drop and min(rise) > min_rise, (minutes, min(drop), min(rise))
        assert min(healthy_and_faulty(model, book, "ST-P01-HP", t + i)[1] for i in range(30)) > hp.low_alarm
    # Clearing is a repair: the press reads healthy again.
    book.clear("micro-leak")
    t = start + 40 * MIN
    assert model.sample(t, book).values["ST-P01-HP"] == model.sample(t).values["ST-P01-HP"] > 20.0


def test_bearing_wear_trends_vibration_up_past_the_alarm_over_hours(model: PlantModel) -> None:
    book = FaultBook(model.plant, model.seed)
    start = local(0, 9.0)
    fault = book.trigger(model, "bearing-wear", None, start)
    assert fault.target == default_target(model.plant, "bearing-wear") == "EQ-PM-002"
    vib = model.plant.point("PM-EF01-VIB")
    assert vib is not None and vib.high_alarm is not None and vib.high_warning is not None

    def mean_vib(hours: float) -> float:
        return statistics.mean(healthy_and_faulty(model, book, "PM-EF01-VIB", start + hours * HOUR + i * 7)[1]
                               for i in range(60))

    trend = [mean_vib(h) for h in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)]
    assert trend == sorted(trend)
    assert trend[0] < vib.high_warning and trend[-1] > vib.high_alarm
    healthy_bt, faulty_bt = healthy_and_faulty(model, book, "PM-EF01-BT", start + 2 * HOUR)
    assert faulty_bt > healthy_bt + 10.0


def test_a_gas_leak_raises_the_mixing_room_lel_past_the_alarm_within_minutes(model: PlantModel) -> None:
    book = FaultBook(model.plant, model.seed)
    start = local(0, 10.0)
    assert model.sample(start).values["PM-MX01-LEL"] < 5.0
    fault = book.trigger(model, "gas-leak", None, start)
    assert fault.points == ("PM-MX01-LEL",)
    lel = [model.sample(start + s, book).values["PM-MX01-LEL"] for s in range(0, 8 * 60, 10)]
    assert lel[0] < 10.0
    assert max(lel[: 6 * 6]) > 25.0  # past high_alarm (25 %LEL) within six minutes
    # On a detection system with two heads, the second sees less, later.
    book.trigger(model, "gas-leak", "HC-GD01-LEL1", start)
    snap = model.sample(start + 8 * MIN, book).values
    assert snap["HC-GD01-LEL1"] > 50.0  # this detector's alarm level
    assert snap["HC-GD01-LEL1"] > snap["HC-GD01-LEL2"] > 10.0


def test_a_stuck_sensor_freezes_and_a_dropout_silences_a_station(model: PlantModel) -> None:
    book = FaultBook(model.plant, model.seed)
    start = local(0, 9.0)
    fault = book.trigger(model, "sensor-stuck", "PT-B02-RH", start)
    frozen = model.sample(start).values["PT-B02-RH"]
    assert fault.frozen == {"PT-B02-RH": frozen}
    stuck = {model.sample(start + s, book).values["PT-B02-RH"] for s in range(0, 600, 13)}
    live = {model.sample(start + s).values["PT-B02-RH"] for s in range(0, 600, 13)}
    assert stuck == {frozen} and len(live) > 20
    # Naming an equipment item freezes all of its readings.
    whole = book.trigger(model, "sensor-stuck", "ST-ENV", start)
    assert whole.points == ("ST-ENV-TMP", "ST-ENV-RH")
    drop = book.trigger(model, "dropout", "ST-P03-HP", start)  # a point names its station
    assert drop.area == "ST" and "ST-P01-HP" in drop.points
    assert model.sample(start + 5, book).offline == frozenset({"ST"})
    assert book.trigger(model, "dropout", "ST", start + 99) is drop  # already active: unchanged
    assert {f.kind for f in book.clear(target="ST-ENV-TMP")} == {"sensor-stuck", "dropout"}
    assert [f.target for f in book.active] == ["PT-B02-RH"]
    assert model.sample(start + 5, book).offline == frozenset()


def test_fault_targets_are_checked_and_named_in_the_error(model: PlantModel) -> None:
    book = FaultBook(model.plant, model.seed)
    with pytest.raises(FaultError, match="fault: unknown fault 'fire'"):
        book.trigger(model, "fire", None, T0)
    with pytest.raises(FaultError, match="target: no equipment or point 'NOPE'"):
        book.trigger(model, "gas-leak", "NOPE", T0)
    with pytest.raises(FaultError, match="target: ST-P01-OT is not a pressure point"):
        book.trigger(model, "micro-leak", "ST-P01-OT", T0)
    with pytest.raises(FaultError, match="target: EQ-WD-001 has no flammable-gas"):
        book.trigger(model, "gas-leak", "EQ-WD-001", T0)
    with pytest.raises(FaultError, match="target: EQ-WD-001 has no vibration point"):
        book.trigger(model, "bearing-wear", "EQ-WD-001", T0)
    # Tags, codes and point codes all work, on any stamping press with a protected pressure.
    assert book.trigger(model, "micro-leak", "ST-P05", T0).target == "EQ-ST-005"
    assert book.trigger(model, "micro-leak", "ST-P06-HP", T0).points == ("ST-P06-HP", "ST-P06-OT")
    assert book.active == [f for f in book.active if f.kind == "micro-leak"] and len(book.active) == 2
    assert book.active[0].to_dict(T0 + 90)["elapsed_s"] == 90.0
    assert book.active[0].to_dict()["started_at"] == "2025-06-02T00:00:00Z"


# --- device configuration --------------------------------------------------------------


def test_the_device_config_binds_every_point_once_to_a_valid_register_or_node(plant: Plant) -> None:
    doc = yaml.safe_load(device_config_yaml(plant, modbus_port=5999, opcua_port=4999))
    devices: list[dict[str, Any]] = doc["devices"]
    bound: list[str] = []
    for dev in devices:
        if dev["protocol"] == "modbus":
            conn = ModbusConnection.model_validate(dev["connection"])
            assert conn.port == 5999
            station = next(st for st in plant.stations if st.unit_id == conn.unit_id)
            assert dev["code"] == f"SIM-MB-{station.area}"
            addresses = set()
            for entry in dev["points"]:
                mp = ModbusPoint.model_validate(entry)
                assert (mp.table, mp.type, mp.byte_order, mp.word_order) == ("holding", "float32", "big", "big")
                assert mp.address == station.register_address(mp.point) and mp.address % 2 == 0
                addresses.add(mp.address)
                bound.append(mp.point)
            assert len(addresses) == len(dev["points"])
        else:
            assert dev["protocol"] == "opcua" and dev["code"] == "SIM-OPCUA"
            assert OpcUaConnection.model_validate(dev["connection"]).endpoint == "opc.tcp://127.0.0.1:4999/plantguard/"
            for entry in dev["points"]:
                op = OpcUaPoint.model_validate(entry)
                assert op.node == f"ns=2;s={op.point}" and op.point.startswith(("PT-", "PM-"))
                bound.append(op.point)
    assert sorted(bound) == sorted(p.code for p in plant.points)  # each point exactly once
    both = device_config(plant, layout="both")["devices"]
    assert sum(len(d["points"]) for d in both) == 2 * len(plant.points)
    with pytest.raises(ValueError, match="layout"):
        device_config(plant, layout="zigbee")
    with pytest.raises(ValueError, match="mqtt_url"):
        device_config(plant, layout="mqtt")
    (mqtt,) = device_config(plant, layout="mqtt", mqtt_url="mqtt://10.0.0.5:1884")["devices"]
    conn = MqttConnection.model_validate(mqtt["connection"])
    assert (conn.host, conn.port, conn.qos) == ("10.0.0.5", 1884, 0)
    (rule,) = [MqttPoint.model_validate(entry) for entry in mqtt["points"]]
    assert (rule.topic, rule.format) == ("plantguard/DEMO/+/telemetry", "batch")


def test_on_off_points_become_read_only_coils() -> None:
    data = {
        "enterprise": {"code": "T"},
        "areas": [{"code": "A", "name": "一车间", "kind": "production"}],
        "point_templates": {"pump": [
            {"suffix": "RUN", "name": "运行", "quantity": "state", "unit": "", "range": [0, 1]},
            {"suffix": "P", "name": "压力", "quantity": "pressure", "unit": "MPa", "range": [0, 1]},
        ]},
        "equipment": [{"code": "EQ-A-1", "tag": "A-P1", "area": "A", "name": "泵", "type": "pump"},
                      {"code": "EQ-A-2", "tag": "A-X", "area": "A", "name": "无测点", "type": "grinder"}],
    }
    small = plant_from_data(data)
    assert [eq.code for eq in small.equipment] == ["EQ-A-1"]  # no points, not simulated
    (station,) = small.stations
    assert [p.code for p in station.digital] == ["A-P1-RUN"] and station.coil_address("A-P1-RUN") == 0
    entries = device_config(small)["devices"][0]["points"]
    assert {"point": "A-P1-RUN", "table": "coil", "address": 0, "type": "bool"} in entries
    assert ModbusPoint.model_validate(entries[-1]).table == "coil"
