"""A live PlantGuard and a real browser, for the browser tests of every package.

The server (``LiveApp``): the app factory on a copy of the migrated SQLite template, served by
uvicorn in a thread of the test process. It starts in well under a second (no demo seed), and a
test writes to the same database through the services and watches the page follow.

The browser: Debian's Chromium, headless, driven by Python Playwright (no browser download).
Every context is watched (``watch``): a console error, an uncaught page error, a failed
request, an unexpected 4xx/5xx answer from the app's own origin or a request to another origin
fails the test.

The fixtures built on these are in tests/conftest.py: ``live_app``, ``chromium`` and ``pages``.
tests/browser/test_console.py is the exception on purpose: it drives ``plantguard run`` itself,
the command an operator types.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
DESKTOP = {"width": 1366, "height": 900}
PHONE = "Pixel 7"  # Playwright's descriptor: 412x839, touch, a mobile user agent


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required for the browser tests (CI=true: not skipped)")
    pytest.skip(f"{what} is not available: install it to run the browser tests")


def require_browser() -> None:
    if not CHROMIUM.exists():
        _missing("Chromium (Debian package chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Python playwright (pip install playwright; no browser download needed)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- what went wrong in the browser ---------------------------------------------------------------


@dataclass
class Problems:
    """Everything that went wrong in the browser, as readable lines."""

    origin: str
    allowed: list[tuple[str, re.Pattern[str], int]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    offline: bool = False  # the test cut the network: requests failing for that are expected

    def allow(self, method: str, path_pattern: str, status: int) -> None:
        """An error answer the test provokes on purpose (e.g. 422 for a refused form)."""
        self.allowed.append((method, re.compile(path_pattern), status))

    def _intended(self, method: str, url: str, status: int) -> bool:
        path = url[len(self.origin):].split("?", 1)[0]
        return any(m == method and p.fullmatch(path) and s == status for m, p, s in self.allowed)

    def on_console(self, msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            # Chromium reports an error status of a page load as a console error too; those
            # answers are checked (and allowed, when intended) by on_response.
            if msg.text.startswith("Failed to load resource: the server responded with a status of"):
                return
            if self.offline and "ERR_INTERNET_DISCONNECTED" in msg.text:
                return
            self.seen.append(f"console error: {msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")

    def on_page_error(self, err: Any) -> None:
        self.seen.append(f"page error: {err}")

    def on_request(self, req: Any) -> None:
        # Everything is served by PlantGuard itself (vendored scripts, no CDN): plants are
        # often cut off from the internet.
        if not req.url.startswith((self.origin + "/", "data:", "blob:")):
            self.seen.append(f"request to another origin: {req.method} {req.url}")

    def on_request_failed(self, req: Any) -> None:
        if req.service_worker is not None and req.redirected_from is not None and req.failure == "net::ERR_ABORTED":
            # The worker fetches navigations with redirect "manual" and hands the redirect to
            # the page, which follows it itself (that request is watched); Chromium reports the
            # worker's side of the redirect as aborted.
            return
        if self.offline and req.failure == "net::ERR_INTERNET_DISCONNECTED":
            return
        if req.failure == "net::ERR_ABORTED" and req.resource_type in ("image", "manifest", "other", "xhr", "fetch"):
            # Chromium abandons an icon or manifest fetch, and the htmx requests of a page's
            # live panels, when the page navigates on (a click before the load finished): the
            # browser cancelled them, the server did not fail (a server failure is a status
            # >= 400, checked below, or a reset connection, which is not ERR_ABORTED).
            return
        self.seen.append(f"request failed: {req.method} {req.url}: {req.failure}")

    def on_response(self, resp: Any) -> None:
        if (resp.status >= 400 and resp.url.startswith(self.origin + "/")
                and not self._intended(resp.request.method, resp.url, resp.status)):
            self.seen.append(f"HTTP {resp.status}: {resp.request.method} {resp.url}")

    def assert_none(self) -> None:
        assert not self.seen, "browser problems:\n  " + "\n  ".join(self.seen)


def watch(context: Any, origin: str, *, requests: bool = True) -> Problems:
    """Collect the problems of every page of ``context``. ``requests=False`` leaves out the
    watch on requests and answers (the page's own error answers are then the test's to check)."""
    problems = Problems(origin)
    context.on("console", problems.on_console)
    context.on("page", lambda pg: pg.on("pageerror", problems.on_page_error))
    context.on("requestfailed", problems.on_request_failed)
    if requests:
        context.on("request", problems.on_request)
        context.on("response", problems.on_response)
    return problems


@dataclass
class Chromium:
    """One Chromium, and the device descriptor of the phone the phone pages are tested on."""

    browser: Any
    phone: dict[str, Any]


def log_in(page: Any, base: str, username: str, password: str, *, start: str = "/login",
           landing: str = r"/dashboard$", tap: bool = False) -> None:
    """Sign in on the login form reached from ``start`` and wait for ``landing`` (a regex)."""
    page.goto(base + start)
    page.fill("#username", username)
    page.fill("#password", password)
    button = page.locator("form[action='/login'] button[type=submit]")
    if tap:
        button.tap()
    else:
        button.click()
    page.wait_for_url(re.compile(landing))


# -- the server -------------------------------------------------------------------------------------


class LiveApp:
    """A migrated SQLite database (a copy of the template) and, inside ``serve()``, the app on it.

    Write the module's data through ``factory`` before or while the app is served: both use
    the same file.
    """

    def __init__(self, directory: Path, template: Path) -> None:
        from plantguard.core.db import make_engine, make_session_factory

        self.directory = directory
        self.path = directory / "plantguard.db"
        shutil.copy(template, self.path)
        self.database_url = f"sqlite:///{self.path}"
        self.engine = make_engine(self.database_url)
        self.factory = make_session_factory(self.engine)
        self.read_factory = make_session_factory(self.engine, read_only=True)
        self.base = ""

    def url(self, path: str) -> str:
        assert self.base, "the app is not served yet (use LiveApp.serve())"
        return self.base + path

    @contextmanager
    def serve(self, customize: Callable[[Any], None] | None = None) -> Iterator[LiveApp]:
        """The app factory's app (``customize`` may mount more on it) on a free port, in a thread."""
        import uvicorn

        from plantguard.api.app import create_app
        from plantguard.api.runtime import Runtime
        from plantguard.core.settings import Settings

        settings = Settings(database_url=self.database_url, bus_url="inprocess://", var_dir=self.directory)
        app = create_app(settings, runtime=Runtime(settings, self.engine, self.factory, self.read_factory))
        if customize is not None:
            customize(app)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("the test server did not start")
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(10)
            assert not thread.is_alive(), "the test server did not stop"

    def close(self) -> None:
        self.engine.dispose()
