"""Console pages: sign-in, dashboard, the CRUD resources, audit log and record history."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from plantguard.api.deps import SESSION_COOKIE, check_csrf, forget_token, resolve_async, runtime
from plantguard.api.middleware import LANG_COOKIE
from plantguard.assets.types import type_label
from plantguard.audit.ledger import bind_actor
from plantguard.audit.service import changed_fields, list_entries
from plantguard.core.context import locale_var
from plantguard.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PlantGuardError,
    TooManyAttempts,
    ValidationFailed,
)
from plantguard.core.i18n import LOCALES, translate_field
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.tenancy import auth
from plantguard.tenancy.models import Area, Person
from plantguard.web import dashboard
from plantguard.web.certificates import mount_certificates
from plantguard.web.forms import WebResource
from plantguard.web.history import reference_names
from plantguard.web.render import STATIC_DIR, render, render_fragment
from plantguard.web.resources import RESOURCES
from plantguard.web.session import (
    LOGIN_CSRF_COOKIE,
    WebId,
    WebOffset,
    clean_text,
    login_redirect,
    new_login_csrf,
    safe_next,
    set_session_cookie,
    web_auth,
)

PAGE_SIZE = 25
# Longer query strings are answered uncached: a key should not hold a client's megabytes.
MAX_CACHED_QUERY = 1000


class Page:
    """Per-request context for templates: the caller, CSRF token, permissions."""

    def __init__(self, request: Request) -> None:
        resolved = web_auth(request)
        if resolved is None:
            raise NotAuthenticated()
        self.request = request
        self.actor: Actor = resolved.actor
        self.resolved = resolved
        self.csrf = resolved.csrf_token

    @classmethod
    async def load(cls, request: Request) -> Page:
        """The same, resolving the caller off the event loop (for ``async`` views)."""
        await resolve_async(request)
        return cls(request)

    def ctx(self, **kw: Any) -> dict[str, Any]:
        return {"actor": self.actor, "csrf": self.csrf, "can": self.actor.can, "Perm": Perm, **kw}

    async def form(self) -> Any:
        form = await self.request.form()
        check_csrf(self.request, self.resolved, str(form.get("csrf_token") or ""))
        return form


def _db(request: Request, write: bool = False) -> Session:
    rt = runtime(request)
    return (rt.factory if write else rt.read_factory)()


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/manifest.webmanifest", include_in_schema=False)
    def manifest() -> Response:
        return FileResponse(STATIC_DIR / "manifest.webmanifest", media_type="application/manifest+json")

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> Response:
        # Served from the root so that its scope covers the whole console.
        return FileResponse(STATIC_DIR / "sw.js", media_type="text/javascript",
                            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})

    @app.get("/offline", include_in_schema=False, response_class=HTMLResponse)
    def offline(request: Request) -> Response:
        return render(request, "offline.html")

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        return RedirectResponse("/dashboard" if web_auth(request) else "/login", status_code=303)

    @app.get("/lang/{locale}", include_in_schema=False)
    def switch_language(request: Request, locale: str, next: str | None = None) -> Response:
        if locale not in LOCALES:
            locale = "zh_CN"
        resp = RedirectResponse(safe_next(next), status_code=303)
        resp.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax", path="/")
        return resp

    # -- sign-in -----------------------------------------------------------------------------

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None) -> Response:
        if web_auth(request):
            return RedirectResponse(safe_next(next), status_code=303)
        token = new_login_csrf()
        resp = render(request, "login.html", next=safe_next(next), csrf=token, error=None, username="")
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login")
        return resp

    @app.post("/login", include_in_schema=False, response_class=HTMLResponse)
    async def login_submit(request: Request) -> Response:
        form = await request.form()
        username = clean_text(str(form.get("username") or ""))[:80]
        password = str(form.get("password") or "")[:200]
        nxt = safe_next(str(form.get("next") or ""))
        cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE)
        token = new_login_csrf()

        def fail(message: str, status: int) -> Response:
            resp = render(request, "login.html", status_code=status, next=nxt, csrf=token, error=message,
                          username=username)
            resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login")
            return resp

        if not cookie_token or cookie_token != form.get("csrf_token"):
            return fail(_("The form has expired; reload the page and try again"), 403)
        rt = runtime(request)

        def do_login() -> auth.Issued:
            with rt.factory() as session:
                user = auth.authenticate(session, username, password)
                issued = auth.issue(session, user, "web", timedelta(hours=rt.settings.session_ttl_hours))
                session.commit()
                return issued

        try:
            issued = await run_in_threadpool(do_login)
        except TooManyAttempts as exc:
            return fail(_(exc.message) % exc.params, 429)
        except NotAuthenticated:
            return fail(_("Wrong user name or password"), 401)
        resp = RedirectResponse(nxt, status_code=303)
        set_session_cookie(resp, issued.token, rt.settings.session_ttl_hours * 3600, rt.settings.cookie_secure)
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        page = await Page.load(request)
        await page.form()
        token = request.cookies.get(SESSION_COOKIE, "")

        def revoke() -> None:
            with _db(request, write=True) as session:
                auth.revoke(session, token)
                session.commit()

        await run_in_threadpool(revoke)
        forget_token(request, token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    # -- dashboard ---------------------------------------------------------------------------

    @app.get("/dashboard", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_page(request: Request) -> Response:
        page = Page(request)
        can_audit = page.actor.can(Perm.READ_AUDIT)
        today = date.today()
        with _db(request) as session:
            data = runtime(request).read_cache.through(
                session, page.actor.enterprise_id, ("dashboard", can_audit, today),
                lambda: dashboard.collect(session, page.actor, today))
        return render(request, "dashboard.html", **page.ctx(d=data, nav="dashboard"))

    @app.get("/dashboard/sensing", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_sensing(request: Request) -> Response:
        from plantguard.web.sensing_panel import sensing_summary

        page = Page(request)
        with _db(request) as session:
            summary = sensing_summary(session, page.actor)
        resp = render(request, "_dashboard_sensing.html", **page.ctx(s=summary))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    # -- audit -------------------------------------------------------------------------------

    @app.get("/audit", include_in_schema=False, response_class=HTMLResponse)
    def audit_page(request: Request, offset: WebOffset = 0, entity_type: str | None = None) -> Response:
        page = Page(request)
        offset = max(0, min(offset, 10**9))
        with _db(request) as session:
            entity_type = clean_text(entity_type or "")[:60]
            entries = list_entries(session, page.actor, entity_type=entity_type or None, limit=PAGE_SIZE,
                                   offset=offset)
        return render(request, "audit.html", **page.ctx(
            entries=entries.items, total=entries.total, offset=offset, limit=PAGE_SIZE, nav="audit",
            entity_type=entity_type or "", changed_fields=changed_fields, field_label=translate_field,
        ))

    @app.get("/history/{entity_type}/{entity_id}", include_in_schema=False, response_class=HTMLResponse)
    def history(request: Request, entity_type: str, entity_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            # An unreadable type names no record: an empty history, not every type's.
            entries = list_entries(session, page.actor, entity_type=clean_text(entity_type)[:60] or "-",
                                   entity_id=entity_id, limit=200)
            refs = reference_names(session, page.actor, entries.items)
        return render(request, "_history.html", **page.ctx(
            entries=entries.items, changed_fields=changed_fields, field_label=translate_field, refs=refs,
            type_label=type_label))

    mount_certificates(app)

    for resource in RESOURCES.values():
        _mount_resource(app, resource)

    from plantguard.ingest.views import mount as mount_devices

    mount_devices(app)
    _install_web_errors(app)


def _list_query(request: Request, resource: WebResource) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in resource.filters:
        raw = request.query_params.get(f.name)
        if raw:
            if f.name.endswith("_id"):
                if raw.isdigit() and len(raw) <= 18:
                    out[f.name] = int(raw)
            else:
                out[f.name] = clean_text(raw)[:60]
    q = clean_text(request.query_params.get("q", "")).strip()[:100]
    if q:
        out["q"] = q
    return out


def _options(resource: WebResource, session: Session, actor: Actor, filters: bool = False) -> dict[str, Any]:
    fields = resource.filters if filters else resource.fields
    return {f.name: f.options(session, actor) for f in fields if f.options is not None}


def _detail(request: Request, page: Page, resource: WebResource, session: Session, obj: Any,
            status_code: int = 200, **extra: Any) -> Response:
    related: dict[str, Any] = {}
    if resource.slug == "equipment":
        from plantguard.assets.service import point_service

        related["points"] = point_service.list(session, page.actor, limit=500, equipment_id=obj.id).items
    if resource.slug == "teams":
        from plantguard.tenancy.service import team_service

        related["members"] = team_service.members(session, page.actor, obj.id)
        related["leader"] = session.get(Person, obj.leader_id) if obj.leader_id else None
        related["area"] = session.get(Area, obj.area_id) if obj.area_id else None
    return render(request, f"{resource.slug}_detail.html", status_code=status_code,
                  **page.ctx(r=resource, obj=obj, nav=resource.slug, **related, **extra))


def _mount_resource(app: FastAPI, r: WebResource) -> None:
    base = f"/{r.slug}"

    @app.get(base, include_in_schema=False, response_class=HTMLResponse, name=f"{r.slug}_list")
    def list_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        offset = max(0, min(offset, 10**9))
        flt = _list_query(request, r)
        args = {k: v for k, v in request.query_params.items() if k != "offset"}
        page.actor.require(r.service.read_perm)
        can_write = page.actor.can(r.service.write_perm)
        locale = locale_var.get()

        def compute() -> tuple[Markup, dict[str, Any]]:
            result = r.service.list(session, page.actor, limit=PAGE_SIZE, offset=offset, **flt)
            table = render_fragment("_list_table.html", page.ctx(
                r=r, items=result.items, total=result.total, offset=offset, limit=PAGE_SIZE, filters=flt,
                q=flt.get("q", ""), page_url=lambda off: f"{base}?{urlencode({**args, 'offset': off})}",
            ))
            return table, _options(r, session, page.actor, filters=True)

        with _db(request) as session:
            if len(request.url.query) <= MAX_CACHED_QUERY:
                key = ("web-list", r.slug, offset, tuple(sorted(args.items())), can_write, locale)
                table, opts = runtime(request).read_cache.through(session, page.actor.enterprise_id, key, compute)
            else:
                table, opts = compute()
        return render(request, "list.html", **page.ctx(
            r=r, table=table, options=opts, filters=flt, q=flt.get("q", ""), nav=r.slug,
        ))

    @app.get(base + "/new", include_in_schema=False, response_class=HTMLResponse)
    def new_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(r.service.write_perm)
        defaults: dict[str, Any] = {}
        for key in request.query_params:
            if any(f.name == key for f in r.fields):
                defaults[key] = request.query_params[key]
        if r.slug == "equipment":
            defaults.setdefault("criticality", "B")
            defaults.setdefault("status", "in_service")
        if r.slug in ("points", "people"):
            defaults.setdefault("enabled", True)
            defaults.setdefault("active", True)
        with _db(request) as session:
            opts = _options(r, session, page.actor)
        return render(request, "form.html", **page.ctx(r=r, obj=None, values=defaults, errors={}, options=opts,
                                                       nav=r.slug))

    @app.post(base + "/new", include_in_schema=False, response_class=HTMLResponse)
    async def create(request: Request) -> Response:
        page = await Page.load(request)
        page.actor.require(r.service.write_perm)
        form = await page.form()
        data, errors = r.parse(form, for_update=False)
        return await _save(request, page, r, form, data, errors, None)

    @app.get(base + "/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            obj = r.service.get(session, page.actor, item_id)
            return _detail(request, page, r, session, obj)

    @app.get(base + "/{item_id}/edit", include_in_schema=False, response_class=HTMLResponse)
    def edit_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        page.actor.require(r.service.write_perm)
        with _db(request) as session:
            obj = r.service.get(session, page.actor, item_id)
            opts = _options(r, session, page.actor)
            return render(request, "form.html", **page.ctx(r=r, obj=obj, values=r.values_of(obj), errors={},
                                                           options=opts, nav=r.slug))

    @app.post(base + "/{item_id}/edit", include_in_schema=False, response_class=HTMLResponse)
    async def update(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        page.actor.require(r.service.write_perm)
        form = await page.form()
        data, errors = r.parse(form, for_update=True)
        return await _save(request, page, r, form, data, errors, item_id)

    @app.post(base + "/{item_id}/delete", include_in_schema=False)
    async def delete(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        page.actor.require(r.service.write_perm)
        await page.form()
        def do() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                r.service.delete(session, page.actor, item_id)
                session.commit()

        await run_in_threadpool(do)
        return RedirectResponse(base, status_code=303)


async def _save(request: Request, page: Page, r: WebResource, form: Any, data: Any,
                errors: list[dict[str, str]], item_id: int | None) -> Response:
    from starlette.concurrency import run_in_threadpool

    def do() -> Response:
        with _db(request, write=True) as session:
            nonlocal errors
            if data is not None:
                try:
                    bind_actor(session, page.actor)
                    if item_id is None:
                        obj = r.service.create(session, page.actor, data)
                    else:
                        obj = r.service.update(session, page.actor, item_id, data)
                    session.commit()
                    return RedirectResponse(f"/{r.slug}/{obj.id}", status_code=303)
                except ValidationFailed as exc:
                    session.rollback()
                    errors = [{"field": e.field, "message": _(e.message) % e.params if e.params else _(e.message)}
                              for e in exc.errors]
            obj = r.service.get(session, page.actor, item_id) if item_id is not None else None
            values: dict[str, Any] = {f.name: (form.getlist(f.name) if f.kind == "multiselect" else form.get(f.name))
                                      for f in r.fields}
            for f in r.fields:
                if f.kind == "checkbox":
                    values[f.name] = form.get(f.name) in ("on", "true", "1")
            return render(request, "form.html", status_code=422, **page.ctx(
                r=r, obj=obj, values=values, errors={e["field"]: e["message"] for e in errors},
                error_list=errors, options=_options(r, session, page.actor), nav=r.slug))

    return await run_in_threadpool(do)


def _install_web_errors(app: FastAPI) -> None:
    """Console pages answer errors as pages; the API keeps its JSON (see api.errors)."""
    handlers = app.exception_handlers
    json_domain = handlers[PlantGuardError]

    async def domain(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if path.startswith("/api/") or path in ("/healthz", "/openapi.json"):
            return await json_domain(request, exc)  # type: ignore[no-any-return,misc]
        assert isinstance(exc, PlantGuardError)
        if isinstance(exc, NotAuthenticated):
            return login_redirect(request)
        title = {NotFound: _("Not found"), PermissionDenied: _("Not allowed")}.get(type(exc), _("Cannot do that"))
        message = _(exc.message) % {k: _(v) if isinstance(v, str) else v for k, v in exc.params.items()} \
            if exc.params else _(exc.message)
        resolved = web_auth(request)
        ctx: dict[str, Any] = {"title": title, "message": message}
        if resolved:
            ctx.update(actor=resolved.actor, csrf=resolved.csrf_token, can=resolved.actor.can, Perm=Perm)
        return render(request, "error.html", status_code=exc.status_code, **ctx)

    app.add_exception_handler(PlantGuardError, domain)

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    json_http = handlers[StarletteHTTPException]
    json_validation = handlers[RequestValidationError]

    def _is_api(request: Request) -> bool:
        path = request.url.path
        return path.startswith(("/api/", "/static/")) or path in ("/healthz", "/openapi.json")

    async def http_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await json_http(request, exc)  # type: ignore[no-any-return,misc]
        assert isinstance(exc, StarletteHTTPException)
        return render(request, "error.html", status_code=exc.status_code,
                      title=_("Not found") if exc.status_code == 404 else _("Cannot do that"),
                      message=_("This page does not exist") if exc.status_code == 404 else str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await json_validation(request, exc)  # type: ignore[no-any-return,misc]
        return render(request, "error.html", status_code=404, title=_("Not found"),
                      message=_("This page does not exist"))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
