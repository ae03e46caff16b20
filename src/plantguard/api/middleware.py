"""Pure ASGI middleware: request id and locale for every request.

The locale is chosen from ``?lang=``, then the ``plantguard_lang`` cookie, then
``Accept-Language``, then zh_CN; the chosen one is echoed in ``Content-Language``.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plantguard.core.context import locale_var, new_request_id, request_id_var
from plantguard.core.i18n import negotiate

LANG_COOKIE = "plantguard_lang"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        rid = headers.get("x-request-id", "")[:64] or new_request_id()
        if not rid.replace("-", "").isalnum():
            rid = new_request_id()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        requested = (query.get("lang") or [None])[0]
        if not requested and "cookie" in headers:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(headers["cookie"])
                if LANG_COOKIE in cookie:
                    requested = cookie[LANG_COOKIE].value
            except Exception:  # a malformed cookie header is the client's problem, not ours
                requested = None
        locale = negotiate(requested, headers.get("accept-language"))
        scope.setdefault("state", {})["locale"] = locale
        t1 = request_id_var.set(rid)
        t2 = locale_var.set(locale)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                hdrs: list[Any] = list(message.get("headers", []))
                hdrs.append((b"x-request-id", rid.encode()))
                hdrs.append((b"content-language", locale.replace("_", "-").encode()))
                message["headers"] = hdrs
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            request_id_var.reset(t1)
            locale_var.reset(t2)
