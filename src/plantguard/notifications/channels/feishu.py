"""Feishu/Lark (飞书) custom bot with 签名校验.

Signing per Feishu's custom-bot documentation, which differs from DingTalk's on purpose of
the reader: the timestamp is in **seconds**, ``string_to_sign = f"{timestamp}\\n{secret}"``
is the HMAC-SHA256 **key** and the message is empty; ``sign = base64(digest)`` (no URL
encoding), and ``timestamp`` (a string) and ``sign`` go into the JSON body.

Body: ``msg_type: "post"`` (rich text: a title, and lines of ``text`` and ``a`` elements,
under the ``zh_cn`` or ``en_us`` key). Answer: ``{"code": 0, "msg": "success"}`` (older
deployments: ``{"StatusCode": 0}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, ClassVar

from plantguard.notifications.channels.base import (
    ChannelConfig,
    DeliveryError,
    OutMessage,
    check_errcode,
    post_json,
)


def sign(timestamp_s: int, secret: str) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def payload(message: OutMessage, secret: str = "", timestamp_s: int | None = None) -> dict[str, Any]:
    lines: list[list[dict[str, str]]] = []
    if message.level:
        lines.append([{"tag": "text", "text": message.level}])
    lines.extend([{"tag": "text", "text": line}] for line in message.body.splitlines() if line.strip())
    if message.link:
        lines.append([{"tag": "a", "text": message.link_label, "href": message.link}])
    lang = "zh_cn" if message.locale.startswith("zh") else "en_us"
    body: dict[str, Any] = {"msg_type": "post",
                            "content": {"post": {lang: {"title": message.title, "content": lines}}}}
    if secret:
        ts = int(time.time()) if timestamp_s is None else timestamp_s
        body = {"timestamp": str(ts), "sign": sign(ts, secret), **body}
    return body


class FeishuChannel:
    kind: ClassVar[str] = "feishu"

    def __init__(self, config: ChannelConfig, clock_s: Callable[[], int] | None = None) -> None:
        self.url = str(config.settings.get("url") or "")
        self.secret = config.secret
        self.clock_s = clock_s or (lambda: int(time.time()))
        if not self.url:
            raise DeliveryError("Feishu bot has no webhook URL", permanent=True)

    def send(self, message: OutMessage) -> None:
        answer = post_json(self.url, payload(message, self.secret, self.clock_s()))
        check_errcode(answer, "code" if "code" in answer else "StatusCode")
