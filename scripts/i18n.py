"""Keep the translation catalogue in step with the code.

    python scripts/i18n.py          # extract, merge into locale/*/messages.po, list untranslated ids
    python scripts/i18n.py --check  # exit 1 if any message id lacks a zh_CN translation

Message ids are English. Extraction reads Python (``_``, ``gettext``, ``N_``, and the message
argument of ``FieldError`` and ``Conflict``) and the Jinja2 templates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "plantguard"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "FieldError": (2,), "Conflict": (1,)}
METHODS = [("**.py", "python"), ("web/templates/**.html", "jinja2")]
OPTIONS = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract() -> Catalog:
    template = Catalog(project="PlantGuard")
    for filename, lineno, message, _comments, _ctx in extract_from_dir(
        str(PKG), METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        template.add(message, None, [(filename, lineno)])
    return template


def merge(template: Catalog, locale: str) -> list[str]:
    path = PKG / "locale" / locale / "LC_MESSAGES" / "messages.po"
    old = read_po(path.open("rb"), locale=locale) if path.exists() else Catalog(locale=locale)
    new = Catalog(locale=locale, project="PlantGuard", charset="utf-8")
    missing = []
    for msg in template:
        if not msg.id:
            continue
        prev = old.get(msg.id)
        string = prev.string if prev is not None else ""
        if locale != "en" and not string:
            missing.append(msg.id if isinstance(msg.id, str) else msg.id[0])
        new.add(msg.id, string)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, new, width=120, sort_output=True, omit_header=False)
    return missing


def untranslated(template: Catalog, locale: str = "zh_CN") -> list[str]:
    path = PKG / "locale" / locale / "LC_MESSAGES" / "messages.po"
    cat = read_po(path.open("rb"), locale=locale)
    out = []
    for msg in template:
        if not msg.id:
            continue
        have = cat.get(msg.id)
        if have is None or not have.string or (isinstance(have.string, tuple) and not all(have.string)):
            out.append(msg.id if isinstance(msg.id, str) else msg.id[0])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    template = extract()
    if args.check:
        missing = untranslated(template)
    else:
        merge(template, "en")
        missing = merge(template, "zh_CN")
    for m in missing:
        print(f"untranslated (zh_CN): {m}")
    return 1 if (args.check and missing) else 0


if __name__ == "__main__":
    sys.exit(main())
