"""The MQTT connector: paho-mqtt's network thread receives, the asyncio side maps and emits.

Why paho and not an asyncio client: paho's own thread reads the socket and decodes packets
at several times the rate of the asyncio clients (stack notes: 14–22k msg/s against ~4k),
and the event loop is left for mapping and the pipeline.

Nothing published at QoS 1 may be lost, whether our process, the network or the broker goes
away:

* the session is persistent (fixed client id, clean start off, MQTT 5 session expiry), so
  the broker keeps our subscriptions and queues what arrives while we are away;
* messages are acknowledged by hand (``manual_ack``), and only after their readings were
  handed to ``emit`` (the pipeline's durable buffer): a message we had not passed on when we
  crashed is unacknowledged, and the broker delivers it again;
* a redelivery of a message we did pass on (we emitted it, then the connection dropped before
  the acknowledgement left) carries the DUP flag and the same packet id; such a message is
  recognised and only acknowledged. Readings keep their payload timestamps, and the store's
  (point, time) key makes any other repeat idempotent.

Connection loss: paho's automatic reconnect is off. When the session drops, what was
already received is emitted, then ``run`` raises :class:`ConnectionLost`; the coordinator
marks the device unavailable, backs off and calls ``connect`` again, the same way as for
every other protocol. The broker keeps queuing for the persistent session meanwhile.

Between the threads: paho's callback appends to a deque (bounded by a semaphore, so a slow
pipeline slows the network thread and TCP pushes back on the broker) and wakes the event loop
with ``call_soon_threadsafe`` only when it is not already woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections import OrderedDict, deque
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from plantguard.ingest.connector import ConnectionLost, DeviceConfigError, DeviceSpec, Emit, PushConnector, Rejects
from plantguard.ingest.connectors.mqtt.manifest import MqttConnection, MqttPoint
from plantguard.ingest.connectors.mqtt.mapping import PointMap, known_codes
from plantguard.ingest.reading import ReadingBatch

MAX_READINGS_PER_EMIT = 5000
_RECENT_PER_CLIENT = 8192
# CONNACK reasons that retrying will not cure: the configuration must change.
_CONFIG_REFUSALS = {
    "Unsupported protocol version", "Client identifier not valid", "Bad user name or password",
    "Not authorized", "Bad authentication method", "Banned",
}


class _Message(NamedTuple):
    client: mqtt.Client
    mid: int
    qos: int
    dup: bool
    topic: str
    payload: bytes
    received_us: int


class _Lost(NamedTuple):
    reason: str


# What each client id last emitted: packet id -> fingerprint of (topic, payload). Kept per
# process and client id (not per connector object) because the coordinator may build a new
# connector for the reconnect, and the redelivery belongs to the session, not the object.
_recent: dict[str, OrderedDict[int, int]] = {}
_recent_lock = threading.Lock()


def default_client_id(enterprise_id: int, device_code: str) -> str:
    return "plantguard-" + re.sub(r"[^\x21-\x7e]", "_", f"{enterprise_id}-{device_code}")[:100]


class MqttConnector(PushConnector[MqttConnection, MqttPoint]):
    def __init__(self, device: DeviceSpec[MqttConnection, MqttPoint], reject: Rejects) -> None:
        super().__init__(device, reject)
        cfg = device.connection
        self.client_id = cfg.client_id or default_client_id(device.enterprise_id, device.code)
        self.map = PointMap(
            [bp.spec for bp in device.points], known_codes(device.points, device.known_points), reject, device.source
        )
        self.session_present = False  # of the last connect: False means the broker had nothing queued for us
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: deque[_Message | _Lost] = deque()
        self._slots = threading.Semaphore(cfg.inflight)
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._closing = threading.Event()
        self._connack: asyncio.Future[tuple[ReasonCode, bool]] | None = None
        self._suback: asyncio.Future[list[ReasonCode]] | None = None
        with _recent_lock:
            self._recent = _recent.setdefault(self.client_id, OrderedDict())

    # -- session ---------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.close()
        cfg = self.device.connection
        loop = self._loop = asyncio.get_running_loop()
        self._inbox.clear()
        self._slots = threading.Semaphore(cfg.inflight)
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._closing.clear()
        self._connack = loop.create_future()
        self._suback = loop.create_future()
        client = self._new_client(cfg)
        props: Properties | None = None
        if cfg.mqtt_version == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0 if cfg.clean_start else cfg.session_expiry_s
            props.ReceiveMaximum = cfg.inflight
        try:
            await asyncio.to_thread(
                client.connect, cfg.host, cfg.effective_port, cfg.keepalive,
                clean_start=cfg.clean_start if cfg.mqtt_version == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=props,
            )
        except (OSError, ValueError) as e:  # refused, unreachable, TLS failure, bad host
            raise ConnectionLost(f"{cfg.host}:{cfg.effective_port}: {e}") from e
        self._client = client
        client.loop_start()
        try:
            async with asyncio.timeout(cfg.timeout_s):
                rc, self.session_present = await self._connack
                if rc.is_failure:
                    if rc.getName() in _CONFIG_REFUSALS:
                        raise DeviceConfigError(f"the broker refused the connection: {rc.getName()}")
                    raise ConnectionLost(f"the broker refused the connection: {rc.getName()}")
                granted = await self._suback
        except TimeoutError:
            await self.close()
            raise ConnectionLost(f"no answer from {cfg.host}:{cfg.effective_port} within {cfg.timeout_s} s") from None
        except BaseException:
            await self.close()
            raise
        refused = [f for f, rc in zip(self.map.subscriptions, granted, strict=False) if rc.is_failure]
        if refused:
            await self.close()
            raise DeviceConfigError(f"the broker refused the subscription to {', '.join(refused)}")

    def _new_client(self, cfg: MqttConnection) -> mqtt.Client:
        v5 = cfg.mqtt_version == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if v5 else cfg.clean_start,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            reconnect_on_failure=False,  # the coordinator reconnects (see the module docstring)
            manual_ack=True,
        )
        client.connect_timeout = cfg.timeout_s
        if cfg.username:
            password = None
            if cfg.password_env:
                password = os.environ.get(cfg.password_env)
                if password is None:
                    raise DeviceConfigError(f"password_env: the environment variable {cfg.password_env} is not set")
            client.username_pw_set(cfg.username, password)
        if cfg.tls:
            try:
                client.tls_set(ca_certs=cfg.ca_file)
            except (OSError, ValueError) as e:
                raise DeviceConfigError(f"ca_file: {e}") from e
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._closing.set()

        def shut() -> None:
            with contextlib.suppress(Exception):
                client.disconnect()
            with contextlib.suppress(Exception):
                client.loop_stop()

        with contextlib.suppress(Exception):
            await asyncio.to_thread(shut)

    async def forget_session(self) -> None:
        """Have the broker drop our persistent session and its queue (a device deleted or
        disabled for good): otherwise the broker keeps queuing for it until the session
        expires, with MQTT 3.1.1 never. Raises :class:`ConnectionLost` if the broker is away."""
        await self.close()
        cfg = self.device.connection
        v5 = cfg.mqtt_version == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=None if v5 else True,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, reconnect_on_failure=False,
        )
        client.connect_timeout = cfg.timeout_s
        if cfg.username:
            client.username_pw_set(cfg.username, os.environ.get(cfg.password_env) if cfg.password_env else None)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.ca_file)
        done = threading.Event()
        client.on_connect = lambda *_: done.set()

        def forget() -> bool:
            props = None
            if v5:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = 0
            clean: Any = True if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY  # 3.1.1: clean_session above
            client.connect(cfg.host, cfg.effective_port, cfg.keepalive, clean_start=clean, properties=props)
            client.loop_start()
            try:
                return done.wait(cfg.timeout_s)
            finally:
                client.disconnect()
                client.loop_stop()

        try:
            answered = await asyncio.to_thread(forget)
        except (OSError, ValueError) as e:
            raise ConnectionLost(f"{cfg.host}:{cfg.effective_port}: {e}") from e
        if not answered:
            raise ConnectionLost(f"no answer from {cfg.host}:{cfg.effective_port} within {cfg.timeout_s} s")
        with _recent_lock:
            _recent.pop(self.client_id, None)
            self._recent = _recent.setdefault(self.client_id, OrderedDict())

    # -- receiving -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        if self._client is None:
            raise ConnectionLost("not connected")
        inbox = self._inbox
        while True:
            if not inbox:
                self._ready.clear()
                if not inbox:
                    await self._ready.wait()
                    continue
            batch = ReadingBatch(self.device.enterprise_id)
            done: list[_Message] = []
            lost: _Lost | None = None
            while inbox and len(batch) < MAX_READINGS_PER_EMIT:
                item = inbox.popleft()
                if isinstance(item, _Lost):
                    lost = item
                    break
                self._slots.release()
                done.append(item)
                if item.dup and item.qos and self._seen(item):
                    continue  # a redelivery of what we already emitted: acknowledge only
                self.map.into(batch, item.topic, item.payload, item.received_us)
            if len(batch):
                await emit(batch)
            self._acknowledge(done)
            # emit need not suspend: without this, a connector that never finds its inbox empty
            # (input faster than the loop) starves the forwarder, and the buffer overflows.
            await asyncio.sleep(0)
            if lost is not None:
                raise ConnectionLost(lost.reason)

    def _seen(self, m: _Message) -> bool:
        fingerprint = self._recent.get(m.mid)
        return fingerprint is not None and fingerprint == hash((m.topic, m.payload))

    def _acknowledge(self, done: list[_Message]) -> None:
        current = self._client
        recent = self._recent
        for m in done:
            if not m.qos:
                continue
            recent[m.mid] = hash((m.topic, m.payload))
            recent.move_to_end(m.mid)
            if m.client is current:  # a packet id means nothing on another connection
                m.client.ack(m.mid, m.qos)
        while len(recent) > _RECENT_PER_CLIENT:
            recent.popitem(last=False)

    # -- paho's thread ---------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: Any) -> None:
        if not rc.is_failure:
            v5 = self.device.connection.mqtt_version == "5"
            qos = self.device.connection.qos
            filters = self.map.subscriptions
            # MQTT 5: retained messages only when the subscription is new, not again on every
            # reconnection of the persistent session (they would repeat old values).
            new_only = SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
            topics: Any = [(f, SubscribeOptions(qos=qos, retainHandling=new_only)) if v5 else (f, qos) for f in filters]
            if topics:
                client.subscribe(topics)
            else:
                self._call(_resolve, self._suback, [])
        self._call(_resolve, self._connack, (rc, flags.session_present))

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self._call(_resolve, self._suback, list(codes))

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        while not self._slots.acquire(timeout=0.5):
            if self._closing.is_set():
                return  # not acknowledged: the broker delivers it again
        self._inbox.append(
            _Message(client, msg.mid, msg.qos, bool(msg.dup), msg.topic, bytes(msg.payload), time.time_ns() // 1000)
        )
        self._wake()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        reason = f"disconnected from the broker: {rc.getName() if isinstance(rc, ReasonCode) else rc}"
        self._call(_fail, self._connack, ConnectionLost(reason))
        self._inbox.append(_Lost(reason))
        self._wake()

    def _wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            self._call(self._woken)

    def _woken(self) -> None:
        self._wake_pending = False
        self._ready.set()


def _resolve(fut: asyncio.Future[Any] | None, value: Any) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)


def _fail(fut: asyncio.Future[Any] | None, exc: BaseException) -> None:
    if fut is not None and not fut.done():
        fut.set_exception(exc)
