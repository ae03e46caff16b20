"""Real local receivers: a threaded HTTP server standing in for the WeCom / DingTalk / Feishu
robots (it can answer 503 for a while), and aiosmtpd's SMTP server for email."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Hit:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Receiver:
    url: str
    hits: list[Hit] = field(default_factory=list)  # accepted (200) requests only
    refused: int = 0
    fail_next: int = 0  # answer 503 to this many requests
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with rec.lock:
                if rec.fail_next > 0:
                    rec.fail_next -= 1
                    rec.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                rec.hits.append(Hit(self.path, json.loads(raw.decode("utf-8")), dict(self.headers)))
                out = json.dumps(rec.answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox("127.0.0.1", 0)

    class Store:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = message_from_bytes(envelope.original_content, policy=policy.default)
            box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(Store(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


class Clock:
    """An injected clock: tests move time by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _no_background_dispatcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps started by these tests do not dispatch on their own: each test drives its
    Dispatcher with an injected clock, so a background pass cannot race it."""
    monkeypatch.setenv("PLANTGUARD_NOTIFY_DISPATCH_S", "0")
