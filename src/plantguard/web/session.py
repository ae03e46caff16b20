"""The console's sign-in: a session cookie (HttpOnly, SameSite=Lax) naming a server-side
session, and a per-session CSRF token that every form and htmx request echoes."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from plantguard.api.deps import SESSION_COOKIE, _resolve
from plantguard.core.errors import NotAuthenticated
from plantguard.core.permissions import Actor
from plantguard.tenancy.auth import Resolved

LOGIN_CSRF_COOKIE = "plantguard_login_csrf"

# Path and query numbers of console pages: bounded like the API's, so that no URL reaches the
# database with an integer it cannot hold (an out-of-range id is simply "not found").
WebId = Annotated[int, Path(ge=1, le=2**62)]
WebOffset = Annotated[int, Query(ge=0, le=10**9)]


def clean_text(value: str) -> str:
    """Free text from a URL or form, minus what no database column can hold (NUL)."""
    return value.replace("\x00", "")


def web_auth(request: Request) -> Resolved | None:
    if request.headers.get("authorization"):
        return None  # the console is cookie-only; bearer tokens are for the API
    return _resolve(request)


def require_web_actor(request: Request) -> Actor:
    resolved = web_auth(request)
    if resolved is None:
        raise NotAuthenticated()
    return resolved.actor


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        resp = Response(status_code=204)
        resp.headers["HX-Redirect"] = f"/login?next={quote(target)}"
        return resp
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def safe_next(value: str | None) -> str:
    """Only local paths: an open redirect after sign-in is a phishing tool."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_session_cookie(resp: Response, token: str, max_age: int, secure: bool) -> None:
    resp.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure,
                    path="/")
