"""The criteria lists for deciding a 重大事故隐患, kept as data files citing their source.

Why data and not code: the lists change by decree (the 工贸 list was replaced in 2023) and
several items are paraphrased from secondary sources; a data file is easy to check against the
official text and to extend. A 重大 grade must name at least one item code from these lists or
give a free-text basis (see ``service.assess``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data"
FILES = ("criteria_gongmao.yaml", "criteria_weihua.yaml")


@dataclass(frozen=True)
class Criterion:
    code: str
    article: str
    zh: str
    en: str
    paraphrased: bool
    confidence: str  # confirmed | partial | unverified


@dataclass(frozen=True)
class CriteriaList:
    id: str
    title: str
    document: str
    year: int
    status: str
    items: tuple[Criterion, ...]


def _load(name: str) -> CriteriaList:
    raw: dict[str, Any] = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    items = tuple(Criterion(code=str(i["code"]), article=str(i.get("article", "")), zh=str(i["zh"]),
                            en=str(i["en"]), paraphrased=bool(i.get("paraphrased", True)),
                            confidence=str(i.get("confidence", "unverified"))) for i in raw["items"])
    return CriteriaList(id=str(raw["id"]), title=str(raw["title"]), document=str(raw["document"]),
                        year=int(raw["year"]), status=str(raw.get("status", "")), items=items)


@cache
def lists() -> tuple[CriteriaList, ...]:
    return tuple(_load(n) for n in FILES)


@cache
def by_code() -> dict[str, tuple[CriteriaList, Criterion]]:
    return {c.code: (cl, c) for cl in lists() for c in cl.items}


def as_dicts() -> list[dict[str, Any]]:
    """For the API and the console's grading form."""
    return [{"id": cl.id, "title": cl.title, "document": cl.document, "year": cl.year, "status": cl.status,
             "items": [{"code": c.code, "article": c.article, "zh": c.zh, "en": c.en,
                        "paraphrased": c.paraphrased, "confidence": c.confidence} for c in cl.items]}
            for cl in lists()]
