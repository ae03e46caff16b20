"""Where the edge forwards to: an MQTT broker or the PlantGuard server's HTTP API.

An uplink sends one message (a batch of readings, or of signals) and returns only when the
other side has confirmed it: the broker's PUBACK (QoS 1) / PUBCOMP (QoS 2), or an HTTP 2xx.
Only then does the caller delete the batch from the buffer. It raises
:class:`UplinkUnavailable` for anything worth retrying (no connection, no acknowledgement in
time, HTTP 5xx/429/408/401/403/404), and :class:`UplinkRefused` when the server answered that
these readings will never be accepted (other HTTP 4xx, e.g. 422 "every reading refused": the
server has quarantined them, retrying would block everything behind them forever). Alarm signals
are only ever refused for 413; any other 4xx on the alarm endpoint is retried.

Every message carries ``edge`` and ``seq`` = [first, last] buffer sequence numbers: a message
re-sent after a lost acknowledgement has the same ``seq``, so a receiver can drop duplicates
(the server's store is idempotent on point and timestamp anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Protocol

import orjson

from plantguard.edge.config import EdgeConfig, HttpUpstream, MqttUpstream, secret

log = logging.getLogger("plantguard.edge")


class UplinkUnavailable(Exception):
    """Not delivered; keep it and retry later."""


class UplinkRefused(Exception):
    """Delivered, and refused for good; drop it (and say so in the log)."""


class Uplink(Protocol):
    async def start(self) -> None: ...

    async def send_readings(self, rows: list[dict[str, Any]], seq: tuple[int, int]) -> None: ...

    async def send_signals(self, signals: list[dict[str, Any]], seq: tuple[int, int]) -> None: ...

    async def close(self) -> None: ...


def make_uplink(cfg: EdgeConfig) -> Uplink:
    up = cfg.upstream
    if isinstance(up, MqttUpstream):
        return MqttUplink(up, cfg.edge_id, cfg.enterprise_id)
    return HttpUplink(up, cfg.edge_id, cfg.enterprise_id)


class MqttUplink:
    """paho-mqtt with its own network thread and automatic reconnection; a publish counts as
    delivered when ``MQTTMessageInfo.is_published()`` (the broker's acknowledgement arrived)."""

    def __init__(self, cfg: MqttUpstream, edge_id: str, enterprise_id: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.cfg = cfg
        self.edge_id, self.enterprise_id = edge_id, enterprise_id
        self.topic_readings = f"{cfg.topic_prefix}/{edge_id}/readings"
        self.topic_alarms = f"{cfg.topic_prefix}/{edge_id}/alarms"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id or f"plantguard-edge-{edge_id}",
                                  protocol=mqtt.MQTTv311, clean_session=True)
        self.client.reconnect_delay_set(1, 30)
        user = secret(cfg.username_env)
        if user:
            self.client.username_pw_set(user, secret(cfg.password_env))
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._started = False

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.warning("edge uplink: broker %s:%d refused the connection: %s", self.cfg.host, self.cfg.port, rc)
            return
        log.info("edge uplink: connected to %s:%d", self.cfg.host, self.cfg.port)
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if self.connected.is_set():
            log.warning("edge uplink: lost the broker %s:%d (%s)", self.cfg.host, self.cfg.port, rc)
        self.connected.clear()

    async def start(self) -> None:
        # connect_async + loop_start: paho's thread keeps trying until the broker is there, so an
        # edge box that boots before the network comes up just buffers.
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        self._started = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(self.connected.wait, 3.0), timeout=4.0)

    async def _publish(self, topic: str, payload: bytes) -> None:
        import paho.mqtt.client as mqtt

        if not self.connected.is_set():
            raise UplinkUnavailable(f"not connected to the broker {self.cfg.host}:{self.cfg.port}")
        info = self.client.publish(topic, payload, qos=self.cfg.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise UplinkUnavailable(f"publish failed: {mqtt.error_string(info.rc)}")

        def wait() -> bool:
            # Give up early when the session drops: paho re-sends the message itself after it
            # reconnects, and so do we (from the buffer); the receiver sees the same ``seq`` twice.
            deadline = time.monotonic() + self.cfg.ack_timeout_s
            while time.monotonic() < deadline and self.connected.is_set():
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(0.1)
                if info.is_published():
                    return True
            return info.is_published()

        if not await asyncio.to_thread(wait):
            raise UplinkUnavailable(f"no acknowledgement from the broker {self.cfg.host}:{self.cfg.port}")

    async def send_readings(self, rows: list[dict[str, Any]], seq: tuple[int, int]) -> None:
        await self._publish(self.topic_readings, orjson.dumps(
            {"edge": self.edge_id, "enterprise_id": self.enterprise_id, "seq": list(seq), "readings": rows}))

    async def send_signals(self, signals: list[dict[str, Any]], seq: tuple[int, int]) -> None:
        await self._publish(self.topic_alarms, orjson.dumps(
            {"edge": self.edge_id, "enterprise_id": self.enterprise_id, "seq": list(seq), "signals": signals}))

    async def close(self) -> None:
        if self._started:
            self.connected.clear()  # a disconnect we asked for is not worth a warning
            with contextlib.suppress(Exception):
                self.client.disconnect()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.client.loop_stop)


RETRY_STATUS = {401, 403, 404, 408, 425, 429}


class HttpUplink:
    """POSTs JSON with the stdlib's ``urllib`` (one request per batch, in a worker thread).

    Readings go to the server's ``POST /api/v1/ingest`` in its JSON format
    (``{"readings": [{"point", "ts", "value", "quality"}]}``) with the token of an HTTP device
    whose point map lists the edge's points; signals to ``POST /api/v1/alarm-signals`` as
    ``{"signals": [ConditionSignal.to_dict(), ...]}``. 401/403/404 are retried, not dropped: a
    wrong token or an older server is a configuration problem to fix, not data to lose.
    """

    def __init__(self, cfg: HttpUpstream, edge_id: str, enterprise_id: int) -> None:
        self.cfg = cfg
        self.edge_id, self.enterprise_id = edge_id, enterprise_id
        base = cfg.url.rstrip("/")
        self.readings_url = base + cfg.readings_path
        self.alarms_url = base + cfg.alarms_path

    async def start(self) -> None:
        if not secret(self.cfg.token_env):
            log.warning("edge uplink: %s is not set; the server will refuse the requests", self.cfg.token_env)

    def _post(self, url: str, body: bytes, seq: tuple[int, int], keep_4xx: bool = False) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-PlantGuard-Edge": self.edge_id, "Idempotency-Key": f"{self.edge_id}:{url}:{seq[0]}-{seq[1]}"}
        token = secret(self.cfg.token_env)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode("utf-8", "replace")
            if exc.code >= 500 or exc.code in RETRY_STATUS or (keep_4xx and exc.code != 413):
                raise UplinkUnavailable(f"{url} answered {exc.code}: {detail}") from None
            raise UplinkRefused(f"{url} answered {exc.code}: {detail}") from None
        except (OSError, ValueError) as exc:  # URLError, refused, timeout, reset
            raise UplinkUnavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None
        try:
            doc = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            doc = {}
        return doc if isinstance(doc, dict) else {}

    async def send_readings(self, rows: list[dict[str, Any]], seq: tuple[int, int]) -> None:
        doc = await asyncio.to_thread(self._post, self.readings_url, orjson.dumps({"readings": rows}), seq)
        refused = doc.get("refused")
        if isinstance(refused, int) and refused:
            log.warning("edge uplink: the server refused %d of %d readings (see its quarantine): %s",
                        refused, len(rows), str(doc.get("errors", ""))[:300])

    async def send_signals(self, signals: list[dict[str, Any]], seq: tuple[int, int]) -> None:
        # Alarm signals are never dropped for a server's answer: a 4xx there means a server that
        # does not (yet) understand them, which an upgrade fixes.
        await asyncio.to_thread(self._post, self.alarms_url, orjson.dumps({"signals": signals}), seq, True)

    async def close(self) -> None:
        return None
