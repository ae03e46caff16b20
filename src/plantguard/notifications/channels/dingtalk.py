"""DingTalk (钉钉) custom robot with 加签 (request signing).

Signing per DingTalk's robot documentation: ``string_to_sign = f"{timestamp}\\n{secret}"``
(timestamp in **milliseconds**), ``sign = urlencode(base64(HMAC-SHA256(key=secret,
msg=string_to_sign)))``; both go into the webhook URL's query (``&timestamp=…&sign=…``).
The server refuses a timestamp more than an hour off.

Body: ``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles": [...],
"isAtAll": false}}``; mentioned mobiles must also appear in the text as ``@mobile``.
Answer: ``{"errcode": 0, "errmsg": "ok"}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, ClassVar

from plantguard.notifications.channels.base import (
    ChannelConfig,
    DeliveryError,
    OutMessage,
    check_errcode,
    markdown_text,
    post_json,
)


def sign(timestamp_ms: int, secret: str) -> str:
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    if not secret:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={timestamp_ms}&sign={sign(timestamp_ms, secret)}"


def payload(message: OutMessage) -> dict[str, Any]:
    text = markdown_text(message)
    if message.mobiles:
        text += "\n\n" + " ".join(f"@{m}" for m in message.mobiles)
    return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text},
            "at": {"atMobiles": list(message.mobiles), "isAtAll": False}}


class DingTalkChannel:
    kind: ClassVar[str] = "dingtalk"

    def __init__(self, config: ChannelConfig, clock_ms: Callable[[], int] | None = None) -> None:
        self.url = str(config.settings.get("url") or "")
        self.secret = config.secret
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        if not self.url:
            raise DeliveryError("DingTalk robot has no webhook URL", permanent=True)

    def send(self, message: OutMessage) -> None:
        check_errcode(post_json(signed_url(self.url, self.secret, self.clock_ms()), payload(message)))
