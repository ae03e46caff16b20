"""OPC UA: a subscription with monitored items for every mapped node, or batched reads.

Why it recovers after a PLC restart without restarting PlantGuard: the session's health is
watched (asyncua's keep-alive probe and the socket), a loss raises :class:`ConnectionLost`,
and the coordinator calls ``connect`` and ``run`` again, which build a *new* session and a
*new* subscription from the point map. Nothing of the old session is reused, so a server
that lost its subscriptions (or renumbered its namespaces) is handled like a first start.
asyncua's own auto-reconnect is left off on purpose: reconnecting is the coordinator's job,
the same for every protocol, with its back-off and availability reporting.

Large maps (thousands of nodes): monitored items are created in chunks of
``max_items_per_request``, lowered to the server's advertised ``MaxMonitoredItemsPerCall``
and halved again if the server still refuses a call as too large; nodes the server will not
monitor for lack of capacity (``BadTooManyMonitoredItems``) are polled instead of dropped;
reads go in chunks bounded by ``MaxNodesPerRead``. An unknown node is reported as an unknown
point and the others keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from asyncua import ua
from asyncua.client.client import Client
from asyncua.client.ua_client import UaClientState
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif, Subscription
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError, UaStringParsingError

from plantguard.ingest.connector import (
    BoundPoint,
    ConnectionLost,
    DeviceConfigError,
    DeviceSpec,
    Emit,
    PushConnector,
    Rejects,
)
from plantguard.ingest.connectors.opcua.manifest import OpcUaConnection, OpcUaPoint
from plantguard.ingest.reading import Quality, Reading

log = logging.getLogger(__name__)
T = TypeVar("T")

WATCHDOG_S = 1.0  # how often an idle session is probed (asyncua's keep-alive read)
SESSION_TIMEOUT_MS = 60_000  # a session we abandoned is freed by the server after a minute
KEEPALIVE_MS = 10_000  # an idle subscription still answers this often
LIFETIME_KEEPALIVES = 3  # the server drops a subscription nobody reads after 3 keep-alives (the minimum)
LOOP_TICK_S = 0.5  # how often the receive loop looks at the session's health
MAX_BATCH = 5000  # readings per emit
EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)  # before this a timestamp is "not set" (OPC UA uses 1601)
LIMIT_NODES_PER_READ = ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead
LIMIT_ITEMS_PER_CALL = ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall

Bound = BoundPoint[OpcUaPoint]
# A CreateMonitoredItems call refused as a whole for its size: retried in halves.
TOO_MANY = frozenset({StatusCodes.BadTooManyOperations, StatusCodes.BadTooManyMonitoredItems})
# Items refused for lack of server capacity: polled instead of monitored.
CAPACITY = frozenset({StatusCodes.BadTooManyMonitoredItems, StatusCodes.BadResourceUnavailable,
                      StatusCodes.BadOutOfMemory, StatusCodes.BadTooManyOperations})


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i: i + max(1, size)]


def quality_of(status: ua.StatusCode | None) -> Quality:
    if status is None or status.is_good():
        return Quality.GOOD
    if status.is_uncertain():
        return Quality.UNCERTAIN
    return Quality.BAD


def timestamp_of(dv: ua.DataValue, fallback: datetime) -> datetime:
    """The source timestamp, else the server's, else when we received it; always UTC."""
    for ts in (dv.SourceTimestamp, dv.ServerTimestamp):
        if ts is None:
            continue
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        if ts >= EARLIEST:
            return ts
    return fallback


def numeric(value: Any) -> float | None:
    """A number the point can store, or None for anything else (text, arrays, structures)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        f = float(value)
        return f if math.isfinite(f) else None
    return None


def subscription_parameters(publishing_interval_ms: int) -> ua.CreateSubscriptionParameters:
    """Keep-alive about every ``KEEPALIVE_MS`` whatever the publishing interval (asyncua's
    default derives it from the session timeout: minutes of silence before a dead
    subscription shows), and a short lifetime, so that a subscription left behind by a lost
    session is freed soon; reconnecting always creates a new one."""
    params = ua.CreateSubscriptionParameters()
    keepalive = max(3, math.ceil(KEEPALIVE_MS / publishing_interval_ms))
    params.RequestedPublishingInterval = ua.Double(publishing_interval_ms)
    params.RequestedMaxKeepAliveCount = ua.UInt32(keepalive)
    params.RequestedLifetimeCount = ua.UInt32(keepalive * LIFETIME_KEEPALIVES)
    params.MaxNotificationsPerPublish = ua.UInt32(10_000)
    params.PublishingEnabled = True
    params.Priority = ua.Byte(0)
    return params


def format_node(nid: ua.NodeId) -> str:
    return str(nid.to_string())


class OpcUaConnector(PushConnector[OpcUaConnection, OpcUaPoint]):
    def __init__(self, device: DeviceSpec[OpcUaConnection, OpcUaPoint], reject: Rejects) -> None:
        super().__init__(device, reject)
        self._client: Client | None = None
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._pending: list[tuple[Node, DataChangeNotif]] = []
        self._wake = asyncio.Event()
        self._status: ua.StatusCode | None = None
        # What the last session ended up with (diagnostics and tests): monitored items, items
        # per CreateMonitoredItems call, nodes polled because the server refused to monitor
        # them, nodes per Read call.
        self.monitored = 0
        self.chunk_size = device.connection.max_items_per_request
        self.polled = 0
        self.read_chunk = device.connection.max_items_per_request

    # -- session -------------------------------------------------------------------------

    async def connect(self) -> None:
        conn = self.device.connection
        await self.close()
        client = Client(conn.endpoint, timeout=conn.timeout_s, watchdog_intervall=WATCHDOG_S)
        client.session_timeout = SESSION_TIMEOUT_MS
        if conn.username:
            client.set_user(conn.username)
        if conn.password_env:
            password = os.environ.get(conn.password_env)
            if password is None:
                raise DeviceConfigError(f"environment variable {conn.password_env} is not set")
            client.set_password(password)
        self._lost = asyncio.Event()
        self._lost_reason = ""

        async def on_lost(exc: Exception) -> None:
            self._lost_reason = repr(exc)
            self._lost.set()

        client.connection_lost_callback = on_lost
        try:
            await asyncio.wait_for(client.connect(), timeout=2 * conn.timeout_s + 1)
        except asyncio.CancelledError:
            client.disconnect_socket()
            raise
        except Exception as exc:  # asyncua raises OSError, TimeoutError, UaError and its many subclasses
            client.disconnect_socket()
            raise ConnectionLost(f"cannot connect to {conn.endpoint}: {exc!r}") from exc
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await asyncio.wait_for(client.disconnect(), timeout=self.device.connection.timeout_s)
        except Exception:  # closing must not raise; the socket goes either way
            client.disconnect_socket()
        except asyncio.CancelledError:
            client.disconnect_socket()
            raise

    def _session(self) -> Client:
        client = self._client
        if client is None:
            raise ConnectionLost("not connected")
        if self._lost.is_set():
            raise ConnectionLost(f"session lost: {self._lost_reason}")
        if client.uaclient.state is not UaClientState.CONNECTED:
            raise ConnectionLost(f"session state {client.uaclient.state.value}")
        return client

    # -- run -----------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        try:
            nodes = await self._resolve()
            if self.device.connection.mode == "subscribe":
                await self._subscribe(nodes, emit)
            else:
                await self._poll(nodes, emit)
        except (OSError, TimeoutError, UaError) as exc:  # a service call failed mid-session: the session is gone
            raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc

    async def _limits(self, client: Client) -> tuple[int, int]:
        """(nodes per read, items per call): the configured chunk, lowered to what the server
        advertises (0 or unreadable means no advertised limit)."""
        size = self.device.connection.max_items_per_request
        found = [size, size]
        try:
            dvs = await client.read_attributes(
                [client.get_node(ua.NodeId(ua.Int32(LIMIT_NODES_PER_READ))),
                 client.get_node(ua.NodeId(ua.Int32(LIMIT_ITEMS_PER_CALL)))])
        except UaStatusCodeError:
            return size, size
        for i, dv in enumerate(dvs):
            value = dv.Value.Value if dv.Value is not None and quality_of(dv.StatusCode) == Quality.GOOD else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                found[i] = min(size, value)
        return found[0], found[1]

    async def _resolve(self) -> dict[ua.NodeId, list[Bound]]:
        """Mapped nodes that exist and are variables; the others are reported once."""
        client = self._session()
        namespaces: list[str] | None = None
        out: dict[ua.NodeId, list[Bound]] = {}
        for bp in self.device.points:
            text = bp.spec.node.strip()
            try:
                nid = ua.NodeId.from_string(text)
            except (UaStringParsingError, ValueError) as exc:
                self.reject("unknown_point", f"not a node id: {exc}", text, bp.code)
                continue
            if isinstance(nid, ua.ExpandedNodeId) and nid.NamespaceUri:
                namespaces = namespaces or list(await client.get_namespace_array())
                if nid.NamespaceUri not in namespaces:
                    self.reject("unknown_point", f"the server has no namespace {nid.NamespaceUri}", text, bp.code)
                    continue
                nid = ua.NodeId(nid.Identifier, ua.Int16(namespaces.index(nid.NamespaceUri)), nid.NodeIdType)
            out.setdefault(nid, []).append(bp)
        per_read, _ = await self._limits(client)
        ids = list(out)
        for part in chunks(ids, per_read):
            dvs = await client.read_attributes([client.get_node(n) for n in part], AttributeIds.NodeClass)
            for nid, dv in zip(part, dvs, strict=True):
                value = dv.Value.Value if dv.Value is not None else None
                problem = ""
                if dv.StatusCode is not None and not dv.StatusCode.is_good():
                    problem = dv.StatusCode.name
                elif value != ua.NodeClass.Variable:
                    problem = f"not a variable ({getattr(value, 'name', value)})"
                if problem:
                    for bp in out.pop(nid):
                        self.reject("unknown_point", f"{format_node(nid)}: {problem}", bp.spec.node, bp.code)
        return out

    def _readings(self, bps: Sequence[Bound], dv: ua.DataValue, received: datetime) -> list[Reading]:
        quality = quality_of(dv.StatusCode)
        ts = timestamp_of(dv, received)
        raw = dv.Value.Value if dv.Value is not None else None
        source = self.device.source
        out: list[Reading] = []
        for bp in bps:
            if quality == Quality.BAD:
                out.append(Reading(bp.point_id, ts, None, quality, source))
                continue
            value = numeric(raw)
            if value is None:
                self.reject("wrong_type", f"{bp.spec.node}: {type(raw).__name__} value is not a finite number",
                            repr(raw), bp.code)
                out.append(Reading(bp.point_id, ts, None, Quality.BAD, source))
                continue
            value = value * bp.spec.scale + bp.spec.offset
            out.append(Reading(bp.point_id, ts, value, quality, source))
        return out

    # -- subscription --------------------------------------------------------------------

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        """asyncua's handler callback: queue it; the receive loop converts and emits."""
        self._pending.append((node, data))
        self._wake.set()

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        self._status = status.Status
        self._wake.set()

    async def _monitor(self, sub: Subscription, client: Client, nodes: dict[ua.NodeId, list[Bound]],
                       per_call: int) -> dict[ua.NodeId, list[Bound]]:
        """Create the monitored items in chunks; a chunk the server refuses as too large is
        retried in halves. Returns the nodes the server would not monitor for lack of
        capacity (they are polled instead); unknown nodes are reported."""
        interval = ua.Double(self.device.connection.publishing_interval_ms)
        ids = list(nodes)
        refused: dict[ua.NodeId, list[Bound]] = {}
        self.monitored = 0
        i = 0
        while i < len(ids):
            part = ids[i: i + per_call]
            try:
                results = await sub.subscribe_data_change([client.get_node(n) for n in part],
                                                          sampling_interval=interval)
            except UaStatusCodeError as exc:
                if exc.code in TOO_MANY and per_call > 1:
                    per_call = max(1, per_call // 2)
                    continue
                raise
            for nid, result in zip(part, results, strict=True):
                if not isinstance(result, ua.StatusCode):
                    self.monitored += 1
                elif result.value in CAPACITY:
                    refused[nid] = nodes[nid]
                else:
                    for bp in nodes[nid]:
                        self.reject("unknown_point", f"{format_node(nid)}: {result.name}", bp.spec.node, bp.code)
            i += len(part)
        self.chunk_size = per_call
        return refused

    async def _subscribe(self, nodes: dict[ua.NodeId, list[Bound]], emit: Emit) -> None:
        client = self._session()
        conn = self.device.connection
        _, per_call = await self._limits(client)
        self._pending = []
        self._wake = asyncio.Event()
        self._status = None
        sub: Subscription = await client.create_subscription(subscription_parameters(conn.publishing_interval_ms),
                                                             self)
        refused = await self._monitor(sub, client, nodes, per_call)
        self.polled = len(refused)
        log.info("%s: %d monitored items in chunks of %d, %d polled (refused by the server)", self.device.source,
                 self.monitored, self.chunk_size, self.polled)
        # Nodes beyond the server's monitored-item capacity are read instead: slower, not lost.
        poller = asyncio.create_task(self._poll(refused, emit)) if refused else None
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=LOOP_TICK_S)
                self._wake.clear()
                if self._pending:
                    pending, self._pending = self._pending, []
                    received = datetime.now(UTC)
                    batch: list[Reading] = []
                    for node, data in pending:
                        bps = nodes.get(node.nodeid)
                        if bps:
                            batch.extend(self._readings(bps, data.monitored_item.Value, received))
                    for part_readings in chunks(batch, MAX_BATCH):
                        await emit(part_readings)
                if self._status is not None and not self._status.is_good():
                    raise ConnectionLost(f"subscription status {self._status.name}")
                if poller is not None and poller.done():
                    poller.result()  # its ConnectionLost (or error) ends the session here too
                    raise ConnectionLost("the polling of refused nodes ended")
                self._session()
        finally:
            if poller is not None:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)

    # -- polling -------------------------------------------------------------------------

    async def _poll(self, nodes: dict[ua.NodeId, list[Bound]], emit: Emit) -> None:
        client = self._session()
        per_read, _ = await self._limits(client)
        self.read_chunk = per_read
        ids = list(nodes)
        interval = self.device.poll_interval_s
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            received = datetime.now(UTC)
            batch: list[Reading] = []
            for part in chunks(ids, per_read):
                params = ua.ReadParameters()
                params.TimestampsToReturn = ua.TimestampsToReturn.Both
                for nid in part:
                    rv = ua.ReadValueId()
                    rv.NodeId = nid
                    rv.AttributeId = AttributeIds.Value
                    params.NodesToRead.append(rv)
                dvs = await self._session().uaclient.read(params)
                for nid, dv in zip(part, dvs, strict=True):
                    batch.extend(self._readings(nodes[nid], dv, received))
            for part_readings in chunks(batch, MAX_BATCH):
                await emit(part_readings)
            delay = max(0.0, interval - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=delay)
            self._session()
