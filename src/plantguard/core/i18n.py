"""Translation catalogue: gettext ``.po`` files, Simplified Chinese by default, English.

Message ids are English. The ``.po`` files under ``plantguard/locale`` are read with Babel
at start-up and compiled in memory, so there is no build step and ``pybabel extract`` /
``update`` keep working for translators.
"""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from plantguard.core.context import locale_var

LOCALES: tuple[str, ...] = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_LABELS = {"zh_CN": "简体中文", "en": "English"}


@lru_cache(maxsize=None)
def translations(locale: str) -> NullTranslations:
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    po = resources.files("plantguard").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def gettext(message: str, locale: str | None = None, **params: Any) -> str:
    text = translations(locale or locale_var.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, locale: str | None = None, **params: Any) -> str:
    text = translations(locale or locale_var.get()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext


def negotiate(requested: str | None, accept_language: str | None) -> str:
    """Pick a locale: explicit choice, then the browser's languages, then zh_CN."""
    if requested:
        norm = requested.replace("-", "_")
        for loc in LOCALES:
            if norm.lower() == loc.lower() or norm.lower().split("_")[0] == loc.lower().split("_")[0]:
                return loc
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().replace("-", "_").lower()
            if tag.startswith("zh"):
                return "zh_CN"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LOCALE
