"""岗位风险告知卡 (job risk notification card) of a risk point, as a printable A4 PDF.

Why the font is embedded: a card is printed and posted at the workplace, often from a PC
without Chinese fonts; reportlab embeds a subset of a TrueType font, so the PDF shows (and a
reader can extract) the Chinese text anywhere. reportlab reads TrueType outlines only, not
the CFF outlines of Noto CJK's OpenType files, so the font is WenQuanYi Micro Hei: the
Debian file (package fonts-wqy-microhei) or the same file shipped by the PyPI package
``paperang-p2-fonts-cjk`` (a dependency), or any TrueType file named by
``PLANTGUARD_CJK_FONT`` (``path`` or ``path#subfont-index``). Without one, the card is
refused with a message naming the packages, never printed as empty boxes.

The emergency phone printed on the card is ``PLANTGUARD_EMERGENCY_PHONE`` (configuration);
without it the card leaves a line to fill in by hand.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from plantguard import __version__
from plantguard.core.context import locale_var
from plantguard.core.errors import NotFound, PlantGuardError
from plantguard.core.i18n import N_, gettext
from plantguard.core.permissions import Actor, Perm
from plantguard.risk.contract import LEVEL_COLOURS, LEVEL_LABELS, RiskLevel, measures_of_point
from plantguard.risk.map import UNASSESSED_COLOUR
from plantguard.risk.models import MEASURE_KINDS, RESPONSIBLE_LEVELS, HazardSource, RiskPoint
from plantguard.tenancy.models import Area, Enterprise, Person, Team

FONT_NAME = "PlantGuardCJK"
DEBIAN_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_PACKAGES = "fonts-wqy-microhei (Debian) / paperang-p2-fonts-cjk (PyPI)"
RISK_POINT = N_("Risk point")


class FontMissing(PlantGuardError):
    status_code = 503
    code = "font_missing"

    def __init__(self) -> None:
        super().__init__(N_("No Chinese (CJK) TrueType font is installed for printing cards: install %(packages)s "
                            "or set PLANTGUARD_CJK_FONT"), packages=FONT_PACKAGES)


def font_candidates() -> list[tuple[Path, int]]:
    """Where the CJK font may be, in order of preference."""
    out: list[tuple[Path, int]] = []
    configured = os.environ.get("PLANTGUARD_CJK_FONT", "").strip()
    if configured:
        path, _, index = configured.partition("#")
        out.append((Path(path), int(index) if index.isdigit() else 0))
    out.append((DEBIAN_FONT, 0))
    try:
        pkg = resources.files("paperang_p2_fonts_cjk").joinpath("fonts/wqy-microhei.ttc")
        out.append((Path(str(pkg)), 0))
    except (ModuleNotFoundError, TypeError):
        pass
    return out


@lru_cache(maxsize=1)
def register_font() -> str:
    """Register the first usable CJK font with reportlab; its name, or ``FontMissing``."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    for path, index in font_candidates():
        if not path.is_file():
            continue
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=index))
        except (TTFError, OSError):
            continue
        return FONT_NAME
    register_font.cache_clear()
    raise FontMissing()


@lru_cache(maxsize=1)
def _accident_types() -> dict[str, dict[str, str]]:
    text = resources.files("plantguard.risk").joinpath("data/accident_types.yaml").read_text("utf-8")
    return {str(row["code"]): {k: str(v) for k, v in row.items()} for row in yaml.safe_load(text) or []}


def consequence_label(code: str) -> str:
    row = _accident_types().get(code)
    if row is None:
        return code
    return row.get("zh_CN" if locale_var.get() == "zh_CN" else "en", code)


def card_data(session: Session, actor: Actor, point_id: int) -> dict[str, Any]:
    """What the card shows, gathered in one read (tenant-scoped)."""
    actor.require(Perm.READ)
    point = session.get(RiskPoint, point_id)
    if point is None or point.enterprise_id != actor.enterprise_id:
        raise NotFound(RISK_POINT, point_id)
    area = session.get(Area, point.area_id)
    enterprise = session.get(Enterprise, actor.enterprise_id)
    team = session.get(Team, point.responsible_team_id) if point.responsible_team_id else None
    person = session.get(Person, point.responsible_person_id) if point.responsible_person_id else None
    sources = list(session.scalars(select(HazardSource).where(
        HazardSource.enterprise_id == actor.enterprise_id, HazardSource.risk_point_id == point.id,
        HazardSource.active.is_(True)).order_by(HazardSource.id)))
    measures: dict[str, list[str]] = {k: [] for k in MEASURE_KINDS}
    for m in measures_of_point(session, actor.enterprise_id, point.id):
        if m.description not in measures.setdefault(m.kind, []):
            measures[m.kind].append(m.description)
    return {"point": point, "area": area, "enterprise": enterprise, "team": team, "person": person,
            "sources": sources, "measures": measures}


def _level(point: RiskPoint) -> tuple[str, str]:
    try:
        lv = RiskLevel(point.current_level or "")
    except ValueError:
        return gettext(N_("Not assessed")), UNASSESSED_COLOUR
    return gettext(LEVEL_LABELS[lv]), LEVEL_COLOURS[lv]


def render_pdf(data: dict[str, Any]) -> bytes:
    """The card as PDF bytes (A4, one page for a usual point; long lists flow onto more)."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = register_font()
    t = gettext
    point: RiskPoint = data["point"]
    body = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=15, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#555555"))
    head = ParagraphStyle("head", parent=body, fontSize=12.5, leading=18, spaceBefore=6, spaceAfter=2)
    title = ParagraphStyle("title", parent=body, fontSize=22, leading=28, alignment=1)
    band_style = ParagraphStyle("band", parent=body, fontSize=16, leading=22, alignment=1,
                                textColor=colors.white)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

    level_label, colour = _level(point)
    story: list[Any] = [p(t(N_("Job risk notification card")), title), Spacer(1, 4 * mm)]
    band = Table([[p(level_label, band_style)]], colWidths=[180 * mm], rowHeights=[14 * mm])
    band.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(colour)),
                              ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [band, Spacer(1, 4 * mm)]

    area: Area | None = data["area"]
    team: Team | None = data["team"]
    person: Person | None = data["person"]
    responsible = " · ".join(x for x in (
        t(RESPONSIBLE_LEVELS[point.responsible_level]) if point.responsible_level in RESPONSIBLE_LEVELS else "",
        team.name if team else "", person.name if person else "") if x) or "—"
    facts = [
        (t(N_("Risk point")), f"{point.code} {point.name}"),
        (t(N_("Area")), f"{area.code} {area.name}" if area else "—"),
        (t(N_("Job")), point.job or "—"),
        (t(N_("Responsible")), responsible),
    ]
    grid = Table([[p(k), p(v)] for k, v in facts], colWidths=[35 * mm, 145 * mm])
    grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#888888")),
                              ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f0f0")),
                              ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [grid, Spacer(1, 3 * mm)]

    story.append(p(t(N_("Hazard sources and possible consequences")), head))
    label_consequences = t(N_("possible consequences"))  # outside the f-string, so the catalogue extracts it
    sources: list[HazardSource] = data["sources"]
    if not sources:
        story.append(p("—"))
    for i, src in enumerate(sources, 1):
        cons = "、".join(consequence_label(c) for c in (src.consequences or [])) or "—"
        story.append(p(f"{i}. {src.name} — {label_consequences}: {cons}"))

    measures: dict[str, list[str]] = data["measures"]
    story.append(p(t(N_("Control measures")), head))
    any_measure = False
    for kind, label in MEASURE_KINDS.items():
        if kind == "emergency" or not measures.get(kind):
            continue
        any_measure = True
        story.append(p(f"{t(label)}:", body))
        story += [p(f"  • {d}") for d in measures[kind]]
    if not any_measure:
        story.append(p("—"))

    story.append(p(t(N_("Emergency measures")), head))
    story += [p(f"  • {d}") for d in measures.get("emergency", [])] or [p("—")]

    phone = os.environ.get("PLANTGUARD_EMERGENCY_PHONE", "").strip() or "________________"
    label_phone = t(N_("Emergency phone"))  # outside the f-string, so the catalogue extracts it
    story += [Spacer(1, 3 * mm), p(f"{label_phone}: {phone}", head), Spacer(1, 6 * mm)]
    enterprise: Enterprise | None = data["enterprise"]
    story.append(p(" · ".join(x for x in (enterprise.name if enterprise else "", f"PlantGuard {__version__}") if x),
                   small))

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"{t(N_('Job risk notification card'))} {point.code}",
                            author="PlantGuard", creator="PlantGuard")
    doc.build(story)
    return buf.getvalue()


def card_pdf(session: Session, actor: Actor, point_id: int) -> bytes:
    return render_pdf(card_data(session, actor, point_id))
