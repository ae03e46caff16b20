"""The contract every channel meets, and the one HTTP helper the robots share.

A channel gets a rendered :class:`OutMessage` (already in the recipient's language) and a
:class:`ChannelConfig` (the enterprise's settings and secret) and either returns (delivered)
or raises :class:`DeliveryError`. ``permanent`` errors (a robot refusing a bad key, an email
address the server rejects) go straight to the dead letter; others are retried with back-off.

Why stdlib ``urllib`` and not an HTTP client library: the channels run in the dispatcher's
worker thread, send one small JSON body each and need nothing else; the runtime keeps no
extra dependency for it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

HTTP_TIMEOUT_S = 10.0


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class OutMessage:
    title: str
    body: str  # plain lines; robots render them as markdown
    link: str = ""  # absolute URL of the console page
    level: str = ""  # translated severity/priority label
    locale: str = "zh_CN"
    to: str = ""  # email address (email channel)
    mobiles: tuple[str, ...] = ()  # phone numbers to mention (DingTalk/WeCom)
    link_label: str = "Open"


@dataclass(frozen=True)
class ChannelConfig:
    settings: dict[str, Any] = field(default_factory=dict)
    secret: str = ""


class Channel(Protocol):
    kind: ClassVar[str]

    def __init__(self, config: ChannelConfig) -> None: ...

    def send(self, message: OutMessage) -> None:
        """Deliver or raise :class:`DeliveryError`."""


def markdown_text(message: OutMessage) -> str:
    """The shared markdown body of the robots: bold title, level, lines, link."""
    lines = [f"**{message.title}**"]
    if message.level:
        lines.append(f"> {message.level}")
    lines.extend(line for line in message.body.splitlines() if line.strip())
    if message.link:
        lines.append(f"[{message.link_label}]({message.link})")
    return "\n\n".join(lines)


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` as UTF-8 JSON; a non-2xx answer or a network failure is a DeliveryError
    (4xx other than 408/429 permanent). Returns the decoded JSON answer ({} if none)."""
    if not url.startswith(("http://", "https://")):
        raise DeliveryError("webhook URL must be http(s)", permanent=True)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
        raise DeliveryError(f"HTTP {exc.code}", permanent=permanent) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DeliveryError(f"network: {type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
    if not raw.strip():
        return {}
    try:
        out = json.loads(raw)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def check_errcode(answer: dict[str, Any], key: str = "errcode") -> None:
    """WeCom and DingTalk answer 200 with ``errcode`` != 0 on refusal (bad key, bad sign,
    rate limit 45009/130101). Rate limits are retried; other refusals are permanent."""
    code = answer.get(key, 0)
    if code in (0, None):
        return
    msg = str(answer.get("errmsg") or answer.get("msg") or "")[:200]
    rate_limited = code in (45009, 130101, 9499, 11232)
    raise DeliveryError(f"{key} {code}: {msg}", permanent=not rate_limited)
