"""WeCom (企业微信) group robot: POST JSON to the robot's webhook URL (``…/cgi-bin/webhook/
send?key=…``); no signing, the key in the URL is the credential.

Format per WeCom's group-robot documentation: ``{"msgtype": "markdown", "markdown":
{"content": "…"}}``. Markdown messages cannot mention people, so when mobiles are configured
a ``text`` message is sent instead with ``mentioned_mobile_list``. Answer: ``{"errcode": 0}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from plantguard.notifications.channels.base import (
    ChannelConfig,
    DeliveryError,
    OutMessage,
    check_errcode,
    markdown_text,
    post_json,
)

MAX_MARKDOWN_BYTES = 4096


def payload(message: OutMessage) -> dict[str, Any]:
    if message.mobiles:
        text = "\n".join([message.title, message.level, *message.body.splitlines(), message.link])
        return {"msgtype": "text", "text": {"content": "\n".join(t for t in text.splitlines() if t.strip()),
                                            "mentioned_mobile_list": list(message.mobiles)}}
    content = markdown_text(message)
    while len(content.encode("utf-8")) > MAX_MARKDOWN_BYTES:
        content = content[: len(content) * 9 // 10]
    return {"msgtype": "markdown", "markdown": {"content": content}}


class WeComChannel:
    kind: ClassVar[str] = "wecom"

    def __init__(self, config: ChannelConfig) -> None:
        self.url = str(config.settings.get("url") or "")
        if not self.url:
            raise DeliveryError("WeCom robot has no webhook URL", permanent=True)

    def send(self, message: OutMessage) -> None:
        check_errcode(post_json(self.url, payload(message)))
