"""Publishing readings in the batch format at a high rate, with paho: for tests, the ingest
benchmark and anything that feeds PlantGuard over MQTT.

``{"ts": <epoch µs>, "readings": {"<point code>": value, ...}}`` is what a ``format: batch``
rule reads; microsecond timestamps keep two messages of the same point apart, which the
store's (point, time) key needs when it counts exactly.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


class BatchPublisher:
    """Publishes many readings per message at a high rate, in the batch format the connector's
    ``format: batch`` reads: ``{"ts": <epoch µs>, "readings": {"<point code>": value, ...}}``.

    paho's own thread sends; ``publish`` only queues. QoS 1 messages published while the
    broker is away are kept and sent on reconnection, and :meth:`flush` waits until the broker
    has acknowledged every one of them.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 1883, *, client_id: str = "", qos: int = 1,
        max_inflight: int = 1000, username: str | None = None, password: str | None = None,
    ) -> None:
        self.host, self.port, self.qos = host, port, qos
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.reconnect_delay_set(1, 2)
        if username:
            self.client.username_pw_set(username, password)
        self._pending = 0
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect

    def connect(self, timeout: float = 10.0) -> BatchPublisher:
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise ConnectionError(f"no CONNACK from {self.host}:{self.port}")
        return self

    def publish(
        self, topic: str, readings: Mapping[str, float | None], ts_us: int | None = None, qos: int | None = None
    ) -> mqtt.MQTTMessageInfo:
        """One message carrying ``readings`` (point code -> value) stamped ``ts_us`` (default: now)."""
        ts = time.time_ns() // 1000 if ts_us is None else ts_us
        return self.publish_raw(topic, orjson.dumps({"ts": ts, "readings": readings}), qos)

    def publish_raw(self, topic: str, payload: bytes, qos: int | None = None) -> mqtt.MQTTMessageInfo:
        with self._cond:
            self._pending += 1  # on_publish counts it off: QoS 0 once sent, QoS 1 once acknowledged
        return self.client.publish(topic, payload, qos=self.qos if qos is None else qos)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every message was sent (QoS 0) or acknowledged (QoS 1); TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending <= 0, timeout):
                raise TimeoutError(f"{self._pending} messages not acknowledged within {timeout} s")

    @property
    def pending(self) -> int:
        return self._pending

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        with contextlib.suppress(Exception):
            self.client.loop_stop()

    def __enter__(self) -> BatchPublisher:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if not rc.is_failure:
            self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()
