"""Request plumbing shared by the API and the web console: sessions, the caller, the
early permission check.

The permission pre-check runs in a custom route class, *before* FastAPI reads the body, so
a forbidden write is answered 403 even when its body is malformed: the caller learns
nothing about the endpoint's schema it may not use. The service layer checks again; the
pre-check is a courtesy, the service check is the rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.runtime import Runtime
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import NotAuthenticated, PlantGuardError
from plantguard.core.i18n import N_
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy import auth

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "plantguard_session"
CSRF_HEADER = "x-csrf-token"

F = TypeVar("F", bound=Callable[..., Any])


class CsrfFailed(PlantGuardError):
    status_code = 403
    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__(N_("The form has expired; reload the page and try again"))


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def db_session(request: Request) -> AsyncIterator[Session]:
    """A session for this request: read-only for safe methods, a writer otherwise.

    Opening a session does no I/O, so it happens on the event loop. Closing does too, on
    purpose: handing it to the (bounded) thread pool can deadlock under load, every thread
    waiting for a pooled connection that is only given back by a close queued behind them.
    The close is a rollback on an idle connection. Write endpoints commit explicitly before
    they answer, so a failed commit is an error response, never a success that did not stick.
    """
    rt = runtime(request)
    factory = rt.read_factory if request.method in SAFE_METHODS else rt.factory
    session = factory()
    try:
        yield session
    finally:
        _close(session)


async def writer_session(request: Request) -> AsyncIterator[Session]:
    """A writing session whatever the method: for the few reads that create a row on first
    use (a risk point's QR token, its generated checklist). On SQLite a read-only session
    cannot take the write lock mid-transaction; this one takes it up front (BEGIN IMMEDIATE)."""
    session = runtime(request).factory()
    try:
        yield session
    finally:
        _close(session)


def _close(session: Session) -> None:
    session.rollback()
    session.close()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _credentials(request: Request) -> tuple[str, tuple[str, ...]] | None:
    token = bearer_token(request)
    if token is not None:
        return token, ("api",)
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, ("web",)) if cookie else None


def _cached(request: Request) -> tuple[bool, auth.Resolved | None]:
    """(known, resolved) from the request or the process cache, without I/O."""
    state = getattr(request.state, "auth", None)
    if state is not None:
        return True, state
    creds = _credentials(request)
    if creds is None:
        return True, None
    hit = runtime(request).auth_cache.get(*creds)
    if hit is not None:
        request.state.auth = hit
        return True, hit
    return False, None


def _resolve(request: Request) -> auth.Resolved | None:
    """The caller behind the request's bearer token or session cookie (blocking)."""
    known, resolved = _cached(request)
    if known:
        return resolved
    creds = _credentials(request)
    assert creds is not None
    rt = runtime(request)
    with rt.read_factory() as session:
        resolved = auth.resolve(session, *creds)
    if resolved is not None:
        rt.auth_cache.put(*creds, resolved)
        request.state.auth = resolved
    return resolved


async def resolve_async(request: Request) -> auth.Resolved | None:
    known, resolved = _cached(request)
    if known:
        return resolved
    return await run_in_threadpool(_resolve, request)


def forget_token(request: Request, token: str) -> None:
    """A signed-out token stops working at once in this process."""
    runtime(request).auth_cache.forget(token)


def check_csrf(request: Request, resolved: auth.Resolved, form_token: str | None = None) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token (header or form)."""
    if resolved.kind != "web" or request.method in SAFE_METHODS:
        return
    sent = form_token or request.headers.get(CSRF_HEADER)
    if not sent or sent != resolved.csrf_token:
        raise CsrfFailed()


async def authenticate_request(request: Request) -> auth.Resolved:
    resolved = await resolve_async(request)
    if resolved is None:
        raise NotAuthenticated()
    return resolved


async def current_actor(request: Request) -> Actor:
    """Dependency: the signed-in caller (401 otherwise)."""
    resolved = await resolve_async(request)
    if resolved is None:
        raise NotAuthenticated()
    if bearer_token(request) is None and request.url.path.startswith("/api/"):
        check_csrf(request, resolved)
    return resolved.actor


def requires(perm: Perm) -> Callable[[F], F]:
    """Mark an endpoint with the permission its route class checks before the body."""

    def mark(fn: F) -> F:
        fn.__plantguard_perm__ = perm  # type: ignore[attr-defined]
        return fn

    return mark


PERMISSION_EXTENSION = "x-required-permission"


class GuardedRoute(APIRoute):
    """Checks the endpoint's permission before the body is read, and documents it in OpenAPI
    (``x-required-permission``), where the role-matrix test finds every write endpoint."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        perm: Perm | None = getattr(endpoint, "__plantguard_perm__", None)
        if perm is not None:
            kwargs["openapi_extra"] = {**(kwargs.get("openapi_extra") or {}), PERMISSION_EXTENSION: perm.value}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        perm: Perm | None = getattr(self.endpoint, "__plantguard_perm__", None)
        if perm is None:
            return handler

        async def guarded(request: Request) -> Response:
            resolved = await authenticate_request(request)
            resolved.actor.require(perm)
            return await handler(request)

        return guarded


def acting(session: Session, actor: Actor) -> Session:
    """Bind the caller to the session so that the ledger and events name them."""
    bind_actor(session, actor)
    return session
