"""The OPC UA connector and discovery against a real asyncua server.

One server per module (start-up loads the standard address space, about a second) holds a
small plant with engineering units and ranges, and 2,100 bulk variables for the
monitored-item limits. The restart test has a server of its own, stopped and started again
on the same port while the connector runs under a reconnect loop like the coordinator's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua import Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.utils import ServiceError

from plantguard.ingest.connector import BoundPoint, ConnectionLost, DeviceSpec, Rejects
from plantguard.ingest.connectors.opcua import discovery
from plantguard.ingest.connectors.opcua.connector import OpcUaConnector
from plantguard.ingest.connectors.opcua.manifest import OpcUaConnection, OpcUaPoint
from plantguard.ingest.reading import Quality, Reading
from tests.ingest.test_modbus_connector import LoopThread, Rejected, free_port

NS_URI = "urn:plantguard:test"
BULK = 2100
LIMIT_ITEMS = ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall


class UaPlant:
    """An asyncua server with a press, a pump station with Chinese names, and bulk variables."""

    def __init__(self, loop: LoopThread, port: int | None = None, bulk: int = 0, hp: float = 12.5) -> None:
        self.loop = loop
        self.port = port or free_port()
        self.bulk = bulk
        self.hp = hp
        self.server: Server | None = None
        self.ns = 0
        self.items_per_call: list[int] = []

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/plantguard/"

    def node(self, ident: str) -> str:
        return f"ns={self.ns};s={ident}"

    def start(self) -> None:
        self.server = self.loop.run(self._build())

    async def _build(self) -> Server:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("PlantGuard test PLC")
        ns = self.ns = await server.register_namespace(NS_URI)

        def nid(ident: str) -> ua.NodeId:
            return ua.NodeId(ident, ns)

        async def analog(parent: Any, ident: str, name: str, value: float, vtype: ua.VariantType,
                         unit: str | None = None, rng: tuple[float, float] | None = None, desc: str = "") -> Any:
            var = await parent.add_variable(nid(ident), ua.QualifiedName(name, ns), value, vtype)
            if unit is not None:
                await var.add_property(nid(ident + ".EU"), "EngineeringUnits",
                                       ua.EUInformation(DisplayName=ua.LocalizedText(unit), UnitId=ua.Int32(1)))
            if rng is not None:
                await var.add_property(nid(ident + ".EURange"), "EURange", ua.Range(Low=rng[0], High=rng[1]))
            if desc:
                await var.write_attribute(ua.AttributeIds.Description,
                                          ua.DataValue(ua.Variant(ua.LocalizedText(desc))))
            return var

        plant = await server.nodes.objects.add_folder(nid("Plant"), ua.QualifiedName("Plant", ns))
        press = await plant.add_object(nid("Press01"), ua.QualifiedName("Press01", ns))
        await analog(press, "Press01.HP", "HydraulicPressure", self.hp, ua.VariantType.Double, "MPa", (0, 35),
                     "Main cylinder pressure")
        await analog(press, "Press01.OilT", "OilTemperature", 41.0, ua.VariantType.Float, "°C", (-20, 120))
        await analog(press, "Press01.Run", "Running", True, ua.VariantType.Boolean)
        await analog(press, "Press01.Strokes", "Strokes", 1000, ua.VariantType.UInt32)
        await analog(press, "Press01.Recipe", "Recipe", "A-12", ua.VariantType.String)
        await analog(press, "Press01.Profile", "Profile", [1.0, 2.0], ua.VariantType.Double)
        press2 = await plant.add_object(nid("Press02"), ua.QualifiedName("Press02", ns))
        await analog(press2, "Press02.HP", "HydraulicPressure", 8.0, ua.VariantType.Double, "MPa", (0, 35))
        pumps = await plant.add_object(nid("Pumps"), ua.QualifiedName("泵站", ns))
        await analog(pumps, "Pumps.P", "出口压力", 0.6, ua.VariantType.Double, "MPa", (0, 1.6))
        if self.bulk:
            # In folders of 100: asyncua checks a new node's name against each of its siblings, so
            # 2,100 in one folder take tens of seconds and in groups about one. The node ids stay
            # ``Bulk.{i}``; only the browse tree has one more level.
            folder = await server.nodes.objects.add_folder(nid("Bulk"), ua.QualifiedName("Bulk", ns))
            group = folder
            for i in range(self.bulk):
                if i % 100 == 0:
                    group = await folder.add_folder(nid(f"Bulk/{i // 100}"), ua.QualifiedName(f"G{i // 100:02d}", ns))
                await group.add_variable(nid(f"Bulk.{i}"), ua.QualifiedName(f"B{i:04d}", ns), float(i),
                                         ua.VariantType.Double)

        def created(event: ServerItemCallback, _dispatcher: Any) -> None:
            self.items_per_call.append(len(event.request_params.ItemsToCreate))

        server.subscribe_server_callback(CallbackType.ItemSubscriptionCreated, created)
        await server.start()
        return server

    def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            self.loop.run(server.stop())

    def write(self, ident: str, value: Any, vtype: ua.VariantType, status: int = ua.StatusCodes.Good,
              source_ts: datetime | None = None) -> None:
        assert self.server is not None
        server = self.server
        dv = ua.DataValue(ua.Variant(value, vtype), StatusCode=ua.StatusCode(status), SourceTimestamp=source_ts,
                          ServerTimestamp=datetime.now(UTC))
        self.loop.run(server.write_attribute_value(ua.NodeId(ident, self.ns), dv))

    def restrict(self, per_call: int, per_subscription: int) -> None:
        """Behave like a PLC with small limits it does not advertise: a CreateMonitoredItems
        call with more than ``per_call`` items fails as a whole (BadTooManyOperations), and
        a subscription holds at most ``per_subscription`` items (the rest get
        BadTooManyMonitoredItems)."""
        assert self.server is not None
        service = self.server.iserver.subscription_service
        original = service.create_monitored_items
        held: dict[int, int] = {}

        async def limited(params: ua.CreateMonitoredItemsParameters) -> list[ua.MonitoredItemCreateResult]:
            if len(params.ItemsToCreate) > per_call:
                raise ServiceError(ua.StatusCodes.BadTooManyOperations)
            room = max(0, per_subscription - held.get(params.SubscriptionId, 0))
            items, rest = params.ItemsToCreate[:room], params.ItemsToCreate[room:]
            params.ItemsToCreate = items
            results = list(await original(params)) if items else []
            held[params.SubscriptionId] = held.get(params.SubscriptionId, 0) + len(items)
            full = ua.StatusCode(ua.StatusCodes.BadTooManyMonitoredItems)
            return results + [ua.MonitoredItemCreateResult(StatusCode=full) for _ in rest]

        service.create_monitored_items = limited  # type: ignore[method-assign]

    def unrestrict(self) -> None:
        assert self.server is not None
        vars(self.server.iserver.subscription_service).pop("create_monitored_items", None)

    def set_item_limit(self, n: int) -> None:
        assert self.server is not None
        node = self.server.get_node(ua.NodeId(LIMIT_ITEMS))
        self.loop.run(node.write_value(ua.Variant(n, ua.VariantType.UInt32)))


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="module")
def plant(loop_thread: LoopThread) -> Iterator[UaPlant]:
    server = UaPlant(loop_thread, bulk=BULK)
    server.start()
    yield server
    server.stop()


def device(endpoint: str, points: Sequence[tuple[str, str] | OpcUaPoint], poll_s: float = 0.2,
           **conn: Any) -> DeviceSpec[OpcUaConnection, OpcUaPoint]:
    specs = [p if isinstance(p, OpcUaPoint) else OpcUaPoint(point=p[0], node=p[1]) for p in points]
    bound = tuple(BoundPoint(point_id=1000 + i, code=s.point, spec=s) for i, s in enumerate(specs))
    connection = OpcUaConnection(endpoint=endpoint, **{"publishing_interval_ms": 50, "timeout_s": 2.0, **conn})
    return DeviceSpec(device_id=7, enterprise_id=1, code="UA-T", protocol="opcua", connection=connection,
                      points=bound, poll_interval_s=poll_s)


@dataclass
class Collector:
    readings: list[Reading] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, batch: Sequence[Reading]) -> None:
        self.readings.extend(batch)
        self.changed.set()

    async def until(self, test: Callable[[list[Reading]], bool], timeout: float = 10.0) -> None:
        async def wait() -> None:
            while not test(self.readings):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def latest(self) -> dict[int, Reading]:
        return {r.point_id: r for r in self.readings}


async def running(connector: OpcUaConnector,
                  emit: Callable[[Sequence[Reading]], Awaitable[None]]) -> asyncio.Task[None]:
    await connector.connect()
    return asyncio.create_task(connector.run(emit))


async def stop(task: asyncio.Task[None], connector: OpcUaConnector) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await connector.close()


def test_subscription_delivers_values_quality_and_source_time(plant: UaPlant) -> None:
    rejected = Rejected()
    dev = device(plant.endpoint, [
        ("HP", plant.node("Press01.HP")),
        ("OILT", plant.node("Press01.OilT")),
        ("RUN", plant.node("Press01.Run")),
        ("STROKES", plant.node("Press01.Strokes")),
        ("RECIPE", plant.node("Press01.Recipe")),  # text: wrong type
        ("GONE", plant.node("Press01.Nope")),  # unknown node
        OpcUaPoint.model_construct(point="GARBAGE", node="not a node id", scale=1.0, offset=0.0),  # an old config
        ("OBJECT", plant.node("Press01")),  # an object, not a variable
        OpcUaPoint(point="HP-KPA", node=f"nsu={NS_URI};s=Press01.HP", scale=1000.0),  # by namespace URI
    ])
    connector = OpcUaConnector(dev, Rejects(rejected))
    out = Collector()

    async def go() -> None:
        task = await running(connector, out)
        try:
            await out.until(lambda rs: {r.point_id for r in rs} >= {1000, 1001, 1002, 1003, 1004, 1008})
            latest = out.latest()
            assert latest[1000].value == 12.5 and latest[1000].quality == Quality.GOOD
            assert latest[1001].value == 41.0 and latest[1002].value == 1.0 and latest[1003].value == 1000.0
            assert latest[1008].value == 12500.0
            assert (latest[1004].value, latest[1004].quality) == (None, Quality.BAD)
            assert latest[1000].source == "opcua:UA-T" and latest[1000].ts.tzinfo is not None
            assert connector.monitored == 5  # HP once for its two points, OILT, RUN, STROKES, RECIPE

            stamp = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
            await asyncio.to_thread(plant.write, "Press01.HP", 20.0, ua.VariantType.Double,
                                    ua.StatusCodes.UncertainLastUsableValue, stamp)
            await asyncio.to_thread(plant.write, "Press01.Strokes", 1001, ua.VariantType.UInt32,
                                    ua.StatusCodes.BadSensorFailure)
            await out.until(lambda rs: any(r.point_id == 1000 and r.value == 20.0 for r in rs)
                            and any(r.point_id == 1003 and r.quality == Quality.BAD for r in rs))
            latest = out.latest()
            assert (latest[1000].quality, latest[1000].ts) == (Quality.UNCERTAIN, stamp)
            assert (latest[1003].value, latest[1003].quality) == (None, Quality.BAD)
        finally:
            await stop(task, connector)
            await asyncio.to_thread(plant.write, "Press01.HP", 12.5, ua.VariantType.Double)
            await asyncio.to_thread(plant.write, "Press01.Strokes", 1000, ua.VariantType.UInt32)

    asyncio.run(go())
    reasons = sorted((code, reason) for reason, _detail, _raw, code in rejected.items)
    assert reasons == [("GARBAGE", "unknown_point"), ("GONE", "unknown_point"), ("OBJECT", "unknown_point"),
                       ("RECIPE", "wrong_type")]


def test_poll_mode_reads_in_batches_with_source_timestamps(plant: UaPlant) -> None:
    stamp = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    plant.write("Press02.HP", 9.25, ua.VariantType.Double, source_ts=stamp)
    dev = device(plant.endpoint, [("HP2", plant.node("Press02.HP")), ("RUN", plant.node("Press01.Run")),
                                  ("GONE", plant.node("Nope"))], mode="poll", max_items_per_request=1)
    rejected = Rejected()
    connector = OpcUaConnector(dev, Rejects(rejected))
    out = Collector()

    async def go() -> None:
        task = await running(connector, out)
        try:
            await out.until(lambda rs: sum(r.point_id == 1000 for r in rs) >= 3)
        finally:
            await stop(task, connector)

    asyncio.run(go())
    hp = [r for r in out.readings if r.point_id == 1000]
    assert all((r.value, r.quality, r.ts) == (9.25, Quality.GOOD, stamp) for r in hp)
    assert {r.point_id for r in out.readings} == {1000, 1001}
    assert connector.chunk_size == 1
    assert [(r[0], r[3]) for r in rejected.items] == [("unknown_point", "GONE")]


def test_thousands_of_nodes_are_subscribed_in_chunks(plant: UaPlant) -> None:
    points = [(f"B{i:04d}", plant.node(f"Bulk.{i}")) for i in range(BULK)]

    async def subscribe_all(limit: int) -> OpcUaConnector:
        connector = OpcUaConnector(device(plant.endpoint, points, max_items_per_request=limit), Rejects(Rejected()))
        out = Collector()
        task = await running(connector, out)
        try:
            await out.until(lambda rs: len({r.point_id for r in rs}) == BULK, timeout=30)
        finally:
            await stop(task, connector)
        values = out.latest()
        assert all(values[1000 + i].value == float(i) for i in range(BULK))
        return connector

    plant.items_per_call.clear()
    connector = asyncio.run(subscribe_all(500))
    assert connector.monitored == BULK and connector.chunk_size == 500
    assert plant.items_per_call == [500, 500, 500, 500, 100]
    # A server that advertises a lower MaxMonitoredItemsPerCall is respected.
    plant.set_item_limit(300)
    plant.items_per_call.clear()
    try:
        connector = asyncio.run(subscribe_all(1000))
    finally:
        plant.set_item_limit(10000)
    assert connector.chunk_size == 300 and max(plant.items_per_call) == 300
    assert sum(plant.items_per_call) == BULK and len(plant.items_per_call) == 7


def test_a_server_with_smaller_hidden_limits_still_delivers_every_node(plant: UaPlant) -> None:
    """Calls refused as too large are halved; nodes beyond the subscription's capacity are polled."""
    points = [(f"B{i:04d}", plant.node(f"Bulk.{i}")) for i in range(BULK)]
    rejected = Rejected()
    connector = OpcUaConnector(device(plant.endpoint, points, max_items_per_request=500), Rejects(rejected))
    out = Collector()

    async def go() -> None:
        task = await running(connector, out)
        try:
            await out.until(lambda rs: len({r.point_id for r in rs}) == BULK, timeout=30)
            # Polled nodes keep coming: a second round of every one of them.
            await out.until(lambda rs: sum(r.point_id == 1000 + BULK - 1 for r in rs) >= 2, timeout=10)
        finally:
            await stop(task, connector)

    plant.restrict(per_call=150, per_subscription=1000)
    try:
        asyncio.run(go())
    finally:
        plant.unrestrict()
    assert connector.chunk_size == 125  # 500 -> 250 -> 125
    assert (connector.monitored, connector.polled) == (1000, BULK - 1000)
    values = out.latest()
    assert all(values[1000 + i].value == float(i) for i in range(BULK))
    assert rejected.items == []


def test_absent_server_raises_connection_lost() -> None:
    connector = OpcUaConnector(device(f"opc.tcp://127.0.0.1:{free_port()}/", [("X", "ns=2;s=X")]),
                               Rejects(Rejected()))
    with pytest.raises(ConnectionLost):
        asyncio.run(connector.connect())


def test_data_flows_again_after_the_server_restarts(loop_thread: LoopThread) -> None:
    """The field complaint: no data until restart after a PLC reconnect."""
    plc = UaPlant(loop_thread)
    plc.start()
    node = plc.node("Press01.HP")
    connector = OpcUaConnector(device(plc.endpoint, [("HP", node)]), Rejects(Rejected()))
    out = Collector()
    events: list[str] = []

    async def coordinator(stop_: asyncio.Event) -> None:
        """What the coordinator does, minus its back-off: connect, run, on loss retry."""
        while not stop_.is_set():
            try:
                await connector.connect()
                events.append("connected")
                await connector.run(out)
            except ConnectionLost as exc:
                events.append(f"lost: {exc}")
            finally:
                await connector.close()
            await asyncio.sleep(0.2)

    async def go() -> None:
        stop_ = asyncio.Event()
        task = asyncio.create_task(coordinator(stop_))
        try:
            await out.until(lambda rs: any(r.value == 12.5 for r in rs))
            await asyncio.to_thread(plc.stop)
            for _ in range(100):  # the loss is seen within a watchdog period
                if any(e.startswith("lost") for e in events):
                    break
                await asyncio.sleep(0.1)
            assert any(e.startswith("lost") for e in events), events
            plc.hp = 33.0
            await asyncio.to_thread(plc.start)  # same port, a new server: no session survives
            await out.until(lambda rs: any(r.value == 33.0 for r in rs), timeout=20)
        finally:
            stop_.set()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await connector.close()

    try:
        asyncio.run(go())
    finally:
        plc.stop()
    assert events.count("connected") >= 2
    after = [r for r in out.readings if r.value == 33.0]
    assert after and after[-1].quality == Quality.GOOD


def test_discovery_proposes_names_units_and_ranges(plant: UaPlant) -> None:
    proposals = asyncio.run(discovery.browse(plant.endpoint, root=f"nsu={NS_URI};s=Plant"))
    by_path = {p.browse_path: p for p in proposals}
    assert set(by_path) == {
        "Press01/HydraulicPressure", "Press01/OilTemperature", "Press01/Running", "Press01/Strokes",
        "Press02/HydraulicPressure", "泵站/出口压力",
    }  # no text, no arrays, no EngineeringUnits/EURange properties
    hp = by_path["Press01/HydraulicPressure"]
    assert (hp.node, hp.name, hp.code) == (f"nsu={NS_URI};s=Press01.HP", "Press01 HydraulicPressure",
                                           "HydraulicPressure")
    assert (hp.unit, hp.range_low, hp.range_high, hp.data_type) == ("MPa", 0.0, 35.0, "Double")
    assert hp.description == "Main cylinder pressure"
    oil = by_path["Press01/OilTemperature"]
    assert (oil.unit, oil.range_low, oil.range_high, oil.data_type) == ("°C", -20.0, 120.0, "Float")
    assert by_path["Press01/Running"].data_type == "Boolean" and by_path["Press01/Running"].unit == ""
    assert by_path["Press02/HydraulicPressure"].code == "Press02-HydraulicPressure"  # made unique
    pump = by_path["泵站/出口压力"]
    assert pump.name == "泵站 出口压力" and pump.code.startswith("OPC-") and len(pump.code) == 14
    codes = [p.code for p in proposals]
    assert len(set(codes)) == len(codes)
    assert all(len(c) <= 60 and discovery.sanitize_code(c) == c for c in codes)

    # Accepted proposals become a point map the connector reads.
    point_map, fields = discovery.proposals_to_points(proposals, {"HydraulicPressure", "Strokes"})
    assert point_map == [{"point": "HydraulicPressure", "node": f"nsu={NS_URI};s=Press01.HP"},
                         {"point": "Strokes", "node": f"nsu={NS_URI};s=Press01.Strokes"}]
    assert fields[0] == {"code": "HydraulicPressure", "name": "Press01 HydraulicPressure", "unit": "MPa",
                         "range_low": 0.0, "range_high": 35.0}
    connector = OpcUaConnector(device(plant.endpoint, [OpcUaPoint(**e) for e in point_map], mode="poll"),
                               Rejects(Rejected()))
    out = Collector()

    async def go() -> None:
        task = await running(connector, out)
        try:
            await out.until(lambda rs: {r.point_id for r in rs} == {1000, 1001})
        finally:
            await stop(task, connector)

    asyncio.run(go())
    assert out.latest()[1000].value == 12.5


def test_discovery_is_bounded_and_reports_unreachable_servers(plant: UaPlant) -> None:
    report = asyncio.run(discovery.browse_report(plant.endpoint, max_nodes=40))
    assert report.truncated and report.visited <= 40
    full = asyncio.run(discovery.browse_report(plant.endpoint, max_nodes=5000))
    assert not full.truncated and len(full.points) == BULK + 6
    with pytest.raises(discovery.DiscoveryError):
        asyncio.run(discovery.browse(f"opc.tcp://127.0.0.1:{free_port()}/", timeout=3))
    with pytest.raises(ValueError):
        asyncio.run(discovery.browse("http://example.com/"))


@pytest.mark.parametrize("node", ["ns=2;s=Press01.HP", "i=2258", "nsu=urn:plantguard:test;s=A B", "ns=3;i=7",
                                  "ns=1;g=72962b91-fa75-4ae6-8d28-b404dc7daf63", "ns=2;b=M/RbKBsRVkePCePcx24oRA=="])
def test_node_ids_are_checked_when_the_config_is_saved(node: str) -> None:
    assert OpcUaPoint(point="P", node=f" {node} ").node == node
    for bad in ("not a node id", "ns=x;s=1", "ns=2;q=1", "s=", "ns=2;"):
        with pytest.raises(ValueError, match="not an OPC UA node id"):
            OpcUaPoint(point="P", node=bad)
    for endpoint in ("http://h:4840/", "opc.tcp://", "opc.tcp://h:99999/", "opc.tcp://h x:4840"):
        with pytest.raises(ValueError):
            OpcUaConnection(endpoint=endpoint)


@pytest.mark.parametrize(("text", "code"), [
    ("HydraulicPressure", "HydraulicPressure"), ("Oil temp (°C)", "Oil-temp-C"), ("_x", "x"),
    ("Température", "Temperature"), ("液压", ""), ("a" * 80, "a" * 60), ("P01.HP-1_a", "P01.HP-1_a"),
])
def test_code_sanitising(text: str, code: str) -> None:
    assert discovery.sanitize_code(text) == code
