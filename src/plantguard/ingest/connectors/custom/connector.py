"""Custom line protocols over TCP: read lines, apply the device's parser rules, emit readings.

``tcp-client``: one connection to the device; the peer closing it, a socket error or (with
``idle_timeout_s``) silence raises :class:`ConnectionLost`, and the coordinator reconnects
with its back-off as for every protocol. ``tcp-server``: a listening socket that devices
connect to and push lines; a device disconnecting is normal (it will connect again) and
only ends that connection.

Bad input never stops the connector: a line over ``max_line_bytes``, bytes that are not
text in the configured encoding, a line no rule matches, an output whose expression fails
or whose value is not a number, an output naming a point outside the device's point map,
are each reported through ``self.reject`` (the pipeline quarantines and counts them) and
reading goes on with the next line.

Lines are split on the terminator's bytes by :class:`LineSplitter` rather than with
``StreamReader.readuntil``, so that an over-long line is reported once and skipped to its
end without the reader's buffer ever holding more than ``max_line_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from plantguard.ingest.connector import ConnectionLost, DeviceConfigError, DeviceSpec, Emit, PushConnector, Rejects
from plantguard.ingest.connectors.custom.manifest import CustomConnection, CustomPoint
from plantguard.ingest.reading import Quality, Reading
from plantguard.ingest.rules import MALFORMED, UNKNOWN_POINT, RuleSet, RulesInvalid

log = logging.getLogger("plantguard.ingest.custom")

READ_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class Overlong:
    """A line longer than the limit; ``head`` is its start, for the quarantine."""

    head: bytes


class LineSplitter:
    """Bytes in, complete lines out. Holds at most ``max_bytes`` (plus a partial terminator)
    of an unfinished line: past that the line is reported once as :class:`Overlong` and the
    rest of it, up to the next terminator, is dropped."""

    def __init__(self, terminator: bytes, max_bytes: int) -> None:
        self.terminator = terminator
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | Overlong]:
        out: list[bytes | Overlong] = []
        buf, term = self._buf, self.terminator
        buf += data
        while True:
            i = buf.find(term)
            if i < 0:
                keep = len(term) - 1  # a terminator may be split across reads
                if len(buf) > self.max_bytes + keep:
                    if not self._skipping:
                        out.append(Overlong(bytes(buf[:200])))
                        self._skipping = True
                    del buf[: len(buf) - keep]
                return out
            line = bytes(buf[:i])
            del buf[: i + len(term)]
            if self._skipping:  # the end of an over-long line
                self._skipping = False
            elif len(line) > self.max_bytes:
                out.append(Overlong(line[:200]))
            else:
                out.append(line)

    def flush(self) -> list[bytes | Overlong]:
        """What is left when the peer closes: a last line without its terminator."""
        rest, skipping = bytes(self._buf), self._skipping
        self._buf.clear()
        self._skipping = False
        if skipping or not rest:
            return []
        return [Overlong(rest[:200])] if len(rest) > self.max_bytes else [rest]


class CustomConnector(PushConnector[CustomConnection, CustomPoint]):
    def __init__(self, device: DeviceSpec[CustomConnection, CustomPoint], reject: Rejects) -> None:
        super().__init__(device, reject)
        if not device.rules:
            raise DeviceConfigError(f"{device.source}: a custom-protocol device needs parser rules")
        try:
            self.rules = RuleSet.from_raw(list(device.rules)).runner
        except RulesInvalid as exc:
            problems = "; ".join(f"{e.field}: {e.message % e.params if e.params else e.message}" for e in exc.errors)
            raise DeviceConfigError(f"{device.source}: invalid parser rules: {problems}") from None
        conn = device.connection
        self._points = {bp.code: bp for bp in device.points}
        self._terminator = conn.line_terminator.encode(conn.encoding)
        self._strip_cr = conn.line_terminator == "\n"
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._emit: Emit | None = None
        self._ready = asyncio.Event()
        self._failed: asyncio.Future[None] | None = None
        self.bound_port: int | None = None  # tcp-server: the port listened on (useful with port 0)

    # -- session ---------------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.close()
        conn = self.device.connection
        if conn.mode == "tcp-client":
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(conn.host, conn.port, limit=READ_CHUNK), timeout=conn.timeout_s)
            except (OSError, TimeoutError) as exc:
                raise ConnectionLost(f"cannot connect to {conn.host}:{conn.port}: {exc or 'timed out'}") from exc
            return
        try:
            self._server = await asyncio.start_server(self._serve, conn.host or None, conn.port,
                                                      reuse_address=True, limit=READ_CHUNK)
        except OSError as exc:
            raise ConnectionLost(f"cannot listen on {conn.host or '*'}:{conn.port}: {exc}") from exc
        self.bound_port = int(self._server.sockets[0].getsockname()[1])
        self._failed = asyncio.get_running_loop().create_future()

    async def run(self, emit: Emit) -> None:
        conn = self.device.connection
        if conn.mode == "tcp-client":
            if self._reader is None:
                raise ConnectionLost("not connected")
            peer = f"{conn.host}:{conn.port}"
            try:
                await self._read(self._reader, emit, peer)
            finally:
                await self.close()
            raise ConnectionLost(f"{peer} closed the connection")
        if self._server is None or self._failed is None:
            raise ConnectionLost("not listening")
        self._emit = emit
        self._ready.set()
        await self._failed  # until cancelled, or a handler hands on a failure of emit

    async def close(self) -> None:
        self._ready.clear()
        self._emit = None
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            await _close_writer(writer)
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for task, w in list(self._clients.items()):
                task.cancel()
                await _close_writer(w)
            self._clients.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=2)
        if self._failed is not None and not self._failed.done():
            self._failed.cancel()
        self._failed = None

    # -- tcp-server: one task per connected device --------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = writer.get_extra_info("peername")
        peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else str(addr)
        task = asyncio.current_task()
        if task is None or len(self._clients) >= self.device.connection.max_clients:
            log.warning("%s: refusing %s, already %d connections", self.device.source, peer, len(self._clients))
            await _close_writer(writer)
            return
        self._clients[task] = writer
        try:
            await self._ready.wait()
            emit = self._emit
            if emit is not None:
                await self._read(reader, emit, peer)
        except ConnectionLost as exc:  # this device went away or went quiet; it will connect again
            log.info("%s: %s", self.device.source, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # emit failed: hand it to run(), which the coordinator watches
            if self._failed is not None and not self._failed.done():
                self._failed.set_exception(exc)
        finally:
            self._clients.pop(task, None)
            await _close_writer(writer)

    # -- reading ------------------------------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader, emit: Emit, peer: str) -> None:
        """Until the peer closes: split, parse, emit once per chunk read."""
        conn = self.device.connection
        splitter = LineSplitter(self._terminator, conn.max_line_bytes)
        idle = conn.idle_timeout_s
        while True:
            try:
                data = await (asyncio.wait_for(reader.read(READ_CHUNK), idle) if idle else reader.read(READ_CHUNK))
            except TimeoutError:
                raise ConnectionLost(f"no data from {peer} for {idle:g} s") from None
            except (ConnectionError, OSError) as exc:
                raise ConnectionLost(f"{peer}: {exc}") from exc
            items = splitter.feed(data) if data else splitter.flush()
            if items:
                readings = self.parse(items, datetime.now(UTC), peer)
                if readings:
                    await emit(readings)
            if not data:
                return

    def parse(self, items: Sequence[bytes | Overlong], received_at: datetime, peer: str = "") -> list[Reading]:
        """Readings from split lines; everything unusable goes to ``self.reject``."""
        conn = self.device.connection
        source = self.device.source
        where = f" (from {peer})" if peer and conn.mode == "tcp-server" else ""
        out: list[Reading] = []
        for item in items:
            if isinstance(item, Overlong):
                self.reject(MALFORMED, f"line longer than {conn.max_line_bytes} bytes{where}", item.head)
                continue
            try:
                text = item.decode(conn.encoding)
            except UnicodeDecodeError as exc:
                self.reject(MALFORMED, f"not {conn.encoding} text: {exc.reason} at byte {exc.start}{where}", item)
                continue
            if self._strip_cr and text.endswith("\r"):
                text = text[:-1]
            if not text.strip():  # blank lines: keep-alives, not data
                continue
            result = self.rules.apply(text, received_at)
            for rej in result.rejections:
                self.reject(rej.reason, rej.english() + where, text, rej.point)
            for v in result.values:
                bp = self._points.get(v.point)
                if bp is None:
                    self.reject(UNKNOWN_POINT, f"rule {v.rule}, output {v.output + 1}: point {v.point} is not in "
                                               f"the device's point map{where}", text, v.point)
                    continue
                out.append(Reading(bp.point_id, v.ts, v.value, Quality.GOOD, source))
        return out


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), timeout=2)
