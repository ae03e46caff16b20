"""Console pages for notification configuration (``notifications.manage``): channels
(``/notifications/channels``: list, add, edit, delete, send a test message) and the targeting
rules editor (``/notifications/rules``).

Forms go through the API's schemas (:class:`ChannelIn`, :class:`RulesIn`) and the same
service, so the console accepts and refuses exactly what the API does; refusals re-render
the form with each message at its field, in the caller's language.

Secrets: the signing secret / SMTP password is never sent to the browser, and neither is a
robot's webhook URL (for WeCom and DingTalk the key *is* in the URL); the list shows the
URL's host only. On edit, an empty secret or URL keeps the stored one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from plantguard.api.errors import error_body, field_errors_from_pydantic
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import PlantGuardError, ValidationFailed
from plantguard.core.permissions import Actor, Perm, Role
from plantguard.detection.alarms.models import SEVERITY_LABELS
from plantguard.notifications import channel_test, service
from plantguard.notifications.consumer import CONSUMED
from plantguard.notifications.models import (
    CONFIGURED_KINDS,
    GROUP_KINDS,
    KIND_LABELS,
    STATUSES,
    NotificationChannel,
)
from plantguard.notifications.schemas import ChannelIn, RulesIn
from plantguard.tenancy.models import User
from plantguard.web.render import render
from plantguard.web.session import WebId, clean_text

CHANNEL_FIELDS = ("kind", "name", "url", "secret", "host", "port", "username", "sender", "security", "at_mobiles",
                  "locale")
AUDIENCE_FLAGS = ("team_leader", "team_members", "assignee", "escalation_targets", "permit_people", "applicant",
                  "all_group_channels")
RULE_TEXT = ("name", "event", "min_severity")
BLANK_RULES = 1  # empty rows offered for a new rule


def masked_url(url: str | None) -> str:
    """``https://qyapi.weixin.qq.com/…``: enough to recognise the robot, not enough to use it."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def event_choices() -> list[str]:
    families = sorted({e.split(".", 1)[0] + ".*" for e in CONSUMED})
    return [*families, *sorted(CONSUMED)]


# -- channels ----------------------------------------------------------------------------------


def channel_body(form: FormData, stored: NotificationChannel | None) -> tuple[ChannelIn | None, list[dict[str, str]]]:
    raw = {k: clean_text(str(form.get(k) or "")).strip() for k in CHANNEL_FIELDS}
    data: dict[str, Any] = {k: v for k, v in raw.items() if v and k != "at_mobiles"}
    data["enabled"] = form.get("enabled") in ("on", "true", "1")
    data["at_mobiles"] = [m.strip() for m in raw["at_mobiles"].replace("，", ",").split(",") if m.strip()]
    if stored is not None and not data.get("url") and data.get("kind") in GROUP_KINDS:
        kept = (stored.config or {}).get("url")
        if kept and stored.kind in GROUP_KINDS:
            data["url"] = kept  # left empty on edit: keep the stored URL
    try:
        return ChannelIn.model_validate(data), []
    except ValidationError as exc:
        return None, field_errors_from_pydantic(exc.errors())


def channel_values(ch: NotificationChannel | None) -> dict[str, Any]:
    if ch is None:
        return {"kind": "wecom", "enabled": True, "security": "starttls", "locale": "zh_CN"}
    cfg = dict(ch.config or {})
    return {"kind": ch.kind, "name": ch.name, "enabled": ch.enabled, "host": cfg.get("host") or "",
            "port": cfg.get("port") or "", "username": cfg.get("username") or "", "sender": cfg.get("sender") or "",
            "security": cfg.get("security") or "starttls", "locale": cfg.get("locale") or "zh_CN",
            "at_mobiles": ", ".join(cfg.get("at_mobiles") or []), "url": "", "secret": ""}


def _messages(errors: list[dict[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in errors:
        out.setdefault(e["field"].split(".")[0], e["message"])
    return out


# -- rules -------------------------------------------------------------------------------------


def rules_body(form: FormData, rows: int) -> list[dict[str, Any]]:
    """The rows that name an event and are not marked for deletion, in order. A refused
    form is shown again with exactly these rows, so ``rules.<i>`` is row ``i`` of the page."""
    rules: list[dict[str, Any]] = []
    for i in range(min(rows, 200)):
        p = f"r{i}."
        if form.get(p + "delete") or not str(form.get(p + "event") or "").strip():
            continue
        rule: dict[str, Any] = {k: clean_text(str(form.get(p + k) or "")).strip() for k in RULE_TEXT}
        rule["min_severity"] = rule["min_severity"] or None
        for flag in (*AUDIENCE_FLAGS, "enabled"):
            rule[flag] = form.get(p + flag) in ("on", "true", "1")
        rule["roles"] = [str(v) for v in form.getlist(p + "roles")]
        rule["channels"] = [str(v) for v in form.getlist(p + "channels")]
        rule["user_ids"] = [str(v) for v in form.getlist(p + "user_ids")]
        rule["group_channel_ids"] = [str(v) for v in form.getlist(p + "group_channel_ids")]
        rules.append(rule)
    return rules


def rule_errors(errors: list[dict[str, str]]) -> dict[str, str]:
    """``rules.3.roles.1`` → ``r3.roles``: the message goes next to the field."""
    out: dict[str, str] = {}
    for e in errors:
        parts = e["field"].split(".")
        if len(parts) >= 3 and parts[0] == "rules" and parts[1].isdigit():
            out.setdefault(f"r{parts[1]}.{parts[2]}", e["message"])
        else:
            out.setdefault("form", e["message"])
    return out


def rules_ctx(session: Session, actor: Actor) -> dict[str, Any]:
    robots = session.execute(select(NotificationChannel.id, NotificationChannel.name, NotificationChannel.kind).where(
        NotificationChannel.enterprise_id == actor.enterprise_id,
        NotificationChannel.kind.in_(GROUP_KINDS)).order_by(NotificationChannel.name)).all()
    users = session.execute(select(User.id, User.display_name, User.username).where(
        User.enterprise_id == actor.enterprise_id, User.active.is_(True)).order_by(User.username)).all()
    return {"robots": robots, "users": users, "EVENTS": event_choices(), "ROLES": [r.value for r in Role],
            "SEVERITY_LABELS": SEVERITY_LABELS, "AUDIENCE_FLAGS": AUDIENCE_FLAGS, "KIND_LABELS": KIND_LABELS,
            "BLANK_RULES": BLANK_RULES}


def mount(app: FastAPI) -> None:
    if getattr(app.state, "notification_config_pages", False):
        return
    app.state.notification_config_pages = True
    from plantguard.web.views import Page, _db

    def form_page(request: Request, page: Page, ch: NotificationChannel | None, values: dict[str, Any],
                  errors: dict[str, str], status: int = 200) -> Response:
        return render(request, "notifications/channel_form.html", status_code=status, **page.ctx(
            nav="notifications", ch=ch, values=values, errors=errors, KIND_LABELS=KIND_LABELS,
            KINDS=CONFIGURED_KINDS, GROUP_KINDS=GROUP_KINDS, masked=masked_url(
                (ch.config or {}).get("url") if ch is not None else None), has_secret=bool(ch and ch.secret)))

    @app.get("/notifications/channels", include_in_schema=False, response_class=HTMLResponse)
    def channels_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            items = service.list_channels(session, page.actor)
            tests = channel_test.last_tests(session, page.actor)
            views = [{"ch": c, "url": masked_url((c.config or {}).get("url")), "test": tests.get(c.id)}
                     for c in items]
        return render(request, "notifications/channels.html", **page.ctx(
            nav="notifications", items=views, KIND_LABELS=KIND_LABELS, DELIVERY_STATUSES=STATUSES,
            mask=service.MASK, tested=request.query_params.get("tested", "")))

    @app.get("/notifications/channels/new", include_in_schema=False, response_class=HTMLResponse)
    def new_channel(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.MANAGE_NOTIFICATIONS)
        return form_page(request, page, None, channel_values(None), {})

    @app.get("/notifications/channels/{item_id}/edit", include_in_schema=False, response_class=HTMLResponse)
    def edit_channel(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        page.actor.require(Perm.MANAGE_NOTIFICATIONS)
        with _db(request) as session:
            ch = service._get_channel(session, page.actor, item_id)
            return form_page(request, page, ch, channel_values(ch), {})

    async def save(request: Request, item_id: int | None) -> Response:
        page = await Page.load(request)
        page.actor.require(Perm.MANAGE_NOTIFICATIONS)
        form = await page.form()

        def run() -> Response:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                ch = service._get_channel(session, page.actor, item_id) if item_id is not None else None
                body, errors = channel_body(form, ch)
                if body is not None:
                    try:
                        if ch is None:
                            service.create_channel(session, page.actor, body)
                        else:
                            service.update_channel(session, page.actor, ch.id, body)
                        session.commit()
                        return RedirectResponse("/notifications/channels", status_code=303)
                    except ValidationFailed as exc:
                        session.rollback()
                        errors = error_body(exc)["errors"]
                        ch = service._get_channel(session, page.actor, item_id) if item_id is not None else None
                values: dict[str, Any] = {k: clean_text(str(form.get(k) or "")) for k in CHANNEL_FIELDS}
                values.update(enabled=form.get("enabled") in ("on", "true", "1"), secret="", url="")
                return form_page(request, page, ch, values, _messages(errors), 422)

        return await run_in_threadpool(run)

    @app.post("/notifications/channels/new", include_in_schema=False, response_class=HTMLResponse)
    async def create_channel(request: Request) -> Response:
        return await save(request, None)

    @app.post("/notifications/channels/{item_id}/edit", include_in_schema=False, response_class=HTMLResponse)
    async def update_channel(request: Request, item_id: WebId) -> Response:
        return await save(request, item_id)

    @app.post("/notifications/channels/{item_id}/delete", include_in_schema=False)
    async def delete_channel(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        await page.form()

        def run() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                service.delete_channel(session, page.actor, item_id)
                session.commit()

        await run_in_threadpool(run)
        return RedirectResponse("/notifications/channels", status_code=303)

    @app.post("/notifications/channels/{item_id}/test", include_in_schema=False)
    async def test_channel(request: Request, item_id: WebId) -> Response:
        page = await Page.load(request)
        await page.form()

        def run() -> None:
            with _db(request, write=True) as session:
                channel_test.queue_test(session, page.actor, item_id)
                session.commit()

        try:
            await run_in_threadpool(run)
        except ValidationFailed as exc:
            message = "; ".join(e["message"] for e in error_body(exc)["errors"])
            with _db(request) as session:
                items = service.list_channels(session, page.actor)
                tests = channel_test.last_tests(session, page.actor)
                views = [{"ch": c, "url": masked_url((c.config or {}).get("url")), "test": tests.get(c.id)}
                         for c in items]
            return render(request, "notifications/channels.html", status_code=422, **page.ctx(
                nav="notifications", items=views, KIND_LABELS=KIND_LABELS, DELIVERY_STATUSES=STATUSES,
                mask=service.MASK, tested="", error=message, error_channel=item_id))
        return RedirectResponse(f"/notifications/channels?tested={item_id}", status_code=303)

    # -- rules ---------------------------------------------------------------------------------

    @app.get("/notifications/rules", include_in_schema=False, response_class=HTMLResponse)
    def rules_page(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            out = service.get_rules(session, page.actor)
            ctx = rules_ctx(session, page.actor)
        rules = [r.model_dump() for r in out.rules]
        return render(request, "notifications/rules.html", **page.ctx(
            nav="notifications", rules=rules, defaults=out.defaults, errors={}, saved=bool(
                request.query_params.get("saved")), **ctx))

    @app.post("/notifications/rules", include_in_schema=False, response_class=HTMLResponse)
    async def save_rules(request: Request) -> Response:
        page = await Page.load(request)
        page.actor.require(Perm.MANAGE_NOTIFICATIONS)
        form = await page.form()
        restore = form.get("restore_defaults") is not None
        rows = str(form.get("rows") or "0")
        rules = [] if restore else rules_body(form, int(rows) if rows.isdigit() else 0)

        def run() -> Response:
            errors: list[dict[str, str]] = []
            try:
                body = RulesIn.model_validate({"rules": rules})
            except ValidationError as exc:
                errors = field_errors_from_pydantic(exc.errors())
            with _db(request, write=True) as session:
                if not errors:
                    try:
                        bind_actor(session, page.actor)
                        service.put_rules(session, page.actor, body)
                        session.commit()
                        return RedirectResponse("/notifications/rules?saved=1", status_code=303)
                    except PlantGuardError as exc:
                        session.rollback()
                        errors = error_body(exc).get("errors") or [{"field": "form",
                                                                     "message": error_body(exc)["detail"]}]
                ctx = rules_ctx(session, page.actor)
            shown = [{**r, "user_ids": [int(u) for u in r["user_ids"] if u.isdigit()],
                      "group_channel_ids": [int(c) for c in r["group_channel_ids"] if c.isdigit()]} for r in rules]
            return render(request, "notifications/rules.html", status_code=422, **page.ctx(
                nav="notifications", rules=shown, defaults=False, errors=rule_errors(errors),
                saved=False, **ctx))

        return await run_in_threadpool(run)
