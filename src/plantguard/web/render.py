"""Jinja2 environment for the console: every string through the catalogue, assets
versioned by content hash so the service worker and browsers never serve a stale file."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from plantguard import __version__
from plantguard.core.context import locale_var
from plantguard.core.i18n import LOCALE_LABELS, LOCALES, N_, gettext, ngettext, translate_field

ROLE_LABELS = {
    "admin": N_("Administrator"), "safety_manager": N_("Safety manager"), "team_leader": N_("Team leader"),
    "worker": N_("Worker"), "contractor": N_("Contractor"), "auditor": N_("Auditor"),
}
ACTION_LABELS = {"create": N_("created"), "update": N_("changed"), "delete": N_("deleted")}
ENTITY_LABELS = {
    "equipment": N_("Equipment"), "measurement_point": N_("Measurement point"), "person": N_("Person"),
    "team": N_("Team"), "skill_tag": N_("Skill"), "certificate": N_("Certificate"), "app_user": N_("Account"),
    "site": N_("Site"), "area": N_("Area"), "enterprise": N_("Enterprise"), "device": N_("Device"),
    "detection_rule": N_("Detection rule"), "alarm_policy": N_("Alarm policy"), "alarm_silence": N_("Silence"),
}

WEB_DIR = Path(str(resources.files("plantguard").joinpath("web")))
STATIC_DIR = WEB_DIR / "static"


@lru_cache(maxsize=256)
def _asset_hash(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return __version__


def static_url(path: str) -> str:
    return f"/static/{path}?v={_asset_hash(path)}"


def _t(message: str, **params: Any) -> str:
    return gettext(message, **params)


def _status() -> dict[str, str]:
    from plantguard.web.resources import STATUS_LABELS

    return STATUS_LABELS


def _shift() -> dict[str, str]:
    from plantguard.web.resources import SHIFT_LABELS

    return SHIFT_LABELS


def _type_label(code: str) -> str:
    from plantguard.assets.types import type_label

    return type_label(code)


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(WEB_DIR / "templates")),
        autoescape=select_autoescape(["html", "xml", "js"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda m: gettext(m), lambda s, p, n: ngettext(s, p, n), newstyle=True
    )
    # ``_`` in templates is the catalogue lookup itself: a plain call is several times cheaper
    # than the extension's newstyle wrapper, and autoescaping still applies to its output
    # (message ids carry no markup). ``{% trans %}`` blocks keep the extension's callables.
    env.globals.update(_=_t, gettext=_t, ngettext=lambda s, p, n, **kw: ngettext(s, p, n, **kw))
    env.globals.update(
        static_url=static_url, LOCALES=LOCALES, LOCALE_LABELS=LOCALE_LABELS, field_label=translate_field,
        version=__version__, ROLE_LABELS=ROLE_LABELS, STATUS_LABELS=_status(), SHIFT_LABELS=_shift(),
        ACTION_LABELS=ACTION_LABELS, ENTITY_LABELS=ENTITY_LABELS, type_label=_type_label,
    )
    return env


templates = Jinja2Templates(env=_env())


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("locale", locale_var.get())
    ctx.setdefault("html_lang", "zh-CN" if locale_var.get() == "zh_CN" else "en")
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def render_fragment(name: str, ctx: dict[str, Any]) -> Markup:
    """A template rendered to markup, for embedding (and caching) inside a page."""
    return Markup(templates.env.get_template(name).render(ctx))
