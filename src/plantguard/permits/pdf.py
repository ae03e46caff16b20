"""One permit as a printable A4 PDF in the layout of GB 30871-2022 Appendix A.

Why the standard's layout: a permit is still carried, signed and filed on paper at many
plants; the printout must read like the form the plant's inspectors know — the title
"动火安全作业票", the number at the top right, one table of the applicant, the work, the
people, the risk identification, the gas analysis, the measures checklist with who confirmed
each item, the briefing, the sign-offs with their times and the completion acceptance.

Why the content hash and the watermark: an approved permit may not be altered (4.18); the
footer prints the SHA-256 of its approved content so a paper copy can be checked against the
record, and a draft, a refused, a cancelled or an expired permit carries a large watermark
so it cannot pass for one in force. The CJK font is embedded (``risk.cards.register_font``),
so the Chinese text prints and extracts on any PC.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy.orm import Session

from plantguard.core.db import utcnow
from plantguard.core.i18n import N_, gettext
from plantguard.core.permissions import Actor
from plantguard.permits import sheet as sh
from plantguard.permits.contract import PermitStatus as S
from plantguard.permits.contract import SignStep
from plantguard.permits.models import STATUS_LABELS, PermitSignature
from plantguard.risk.cards import register_font
from plantguard.workorders import uploads

STANDARD = "GB 30871-2022《危险化学品企业特殊作业安全规范》"
WATERMARKS: dict[str, str] = {
    S.DRAFT: N_("DRAFT"), S.PENDING: N_("NOT APPROVED"), S.REJECTED: N_("NOT APPROVED"),
    S.CANCELLED: N_("VOID"), S.EXPIRED: N_("EXPIRED"),
}
# Appendix A names some rows after the work type; the rest use the generic wording.
LOCATION_LABELS: dict[str, str] = {"hot_work": N_("Hot-work location and part")}
WORKER_LABELS: dict[str, str] = {"hot_work": N_("Hot-work workers and certificate numbers")}
GRADE_LABELS: dict[str, str] = {"hot_work": N_("Hot-work grade"), "work_at_height": N_("Work-at-height grade"),
                                "lifting": N_("Lifting grade")}
SIGN_ROWS: tuple[str, ...] = (SignStep.GUARDIAN, SignStep.WORK_LEADER)
WIDTH_MM = 186.0


def title_of(data: sh.Sheet) -> str:
    """"动火安全作业票" from "动火作业" (the Appendix A titles); "Hot work permit" in English."""
    t = data.type
    if t is None:
        return gettext(N_("Special work permit"))
    if sh.is_zh():
        return (t.name[:-2] if t.name.endswith("作业") else t.name) + "安全作业票"
    return gettext(N_("%(type)s safety work permit"), type=t.name_en)


def _signature_image(sig: PermitSignature, var_dir: Path | None, enterprise_id: int) -> Any:
    """The drawn signature, scaled into its cell; None when there is none or it is unreadable."""
    if not sig.image_stored_name or var_dir is None:
        return None
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    try:
        path = uploads.path_of(var_dir, enterprise_id, sig.image_stored_name)
        w, h = ImageReader(str(path)).getSize()
    except (OSError, ValueError):
        return None
    scale = min(30 * mm / max(w, 1), 11 * mm / max(h, 1))
    return Image(str(path), width=w * scale, height=h * scale)


class _Builder:
    """Paragraph styles and the table helpers of one rendering."""

    def __init__(self, font: str) -> None:
        from reportlab.lib import colors
        from reportlab.lib.styles import ParagraphStyle

        self.colors = colors
        self.body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
        self.label = ParagraphStyle("label", parent=self.body, fontSize=8.5)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=7.5, leading=9.5)
        self.title = ParagraphStyle("title", parent=self.body, fontSize=18, leading=24, alignment=1)
        self.number = ParagraphStyle("number", parent=self.body, fontSize=10, alignment=2)
        self.head = ParagraphStyle("head", parent=self.body, fontSize=10, leading=14, spaceBefore=4)

    def p(self, text: str, style: Any = None) -> Any:
        from reportlab.platypus import Paragraph

        return Paragraph(escape(text or "").replace("\n", "<br/>"), style or self.body)

    def grid(self, rows: list[list[Any]], widths_mm: list[float], *, header: bool = False,
             label_cells: list[tuple[int, int]] | None = None,
             spans: list[tuple[int, int, int, int]] | None = None) -> Any:
        from reportlab.lib.units import mm
        from reportlab.platypus import Table, TableStyle

        table = Table(rows, colWidths=[w * mm for w in widths_mm], repeatRows=1 if header else 0)
        grey = self.colors.HexColor("#eeeeee")
        style: list[Any] = [("GRID", (0, 0), (-1, -1), 0.5, self.colors.HexColor("#555555")),
                            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 2),
                            ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), grey))
        for col, row in label_cells or []:
            style.append(("BACKGROUND", (col, row), (col, row), grey))
        for c0, r0, c1, r1 in spans or []:
            style.append(("SPAN", (c0, r0), (c1, r1)))
        table.setStyle(TableStyle(style))
        return table


def _main_table(b: _Builder, data: sh.Sheet) -> Any:
    """申请 … 作业实施时间: label/value rows on a six-column grid."""
    t, p = gettext, data.permit
    rows: list[list[Any]] = []
    labels: list[tuple[int, int]] = []
    spans: list[tuple[int, int, int, int]] = []

    def line(*pairs: tuple[str, str]) -> None:
        """One row of (label, value) pairs; the last value spans what is left of the six columns."""
        r = len(rows)
        cells: list[Any] = []
        for label, value in pairs:
            labels.append((len(cells), r))
            cells += [b.p(label, b.label), b.p(value)]
        if len(cells) < 6:
            spans.append((len(cells) - 1, r, 5, r))
            cells += [""] * (6 - len(cells))
        rows.append(cells)

    code = p.type_code
    line((t(N_("Applicant unit")), p.applicant_unit or "—"), (t(N_("Applicant")), data.applicant or "—"),
         (t(N_("Applied at")), sh.plant_time(p.applied_at)))
    line((t(N_("Work content")), p.content))
    where = " · ".join(x for x in (f"{data.area.code} {data.area.name}" if data.area else "", p.location,
                                   f"{data.equipment.code} {data.equipment.name}" if data.equipment else "") if x)
    line((t(LOCATION_LABELS.get(code, N_("Work location"))), where or "—"))
    pairs: list[tuple[str, str]] = []
    if data.type is not None and data.type.graded:
        grade = sh.grade_name(code, p.grade)
        if p.requested_grade and p.requested_grade != p.grade:
            grade += " " + t(N_("(raised from %(grade)s)"), grade=sh.grade_name(code, p.requested_grade))
        pairs.append((t(GRADE_LABELS.get(code, N_("Work grade"))), grade))
    pairs += data.fields()
    for i in range(0, len(pairs), 3):
        line(*pairs[i:i + 3])
    if data.grade_reasons():
        line((t(N_("Why this grade")), "\n".join(data.grade_reasons())))
    line((t(N_("Work unit")), p.work_unit or "—"), (t(N_("Work leader")), data.person(p.work_leader_id)))
    workers = "；".join("{}（{}）".format(w.name, "，".join(x for x in (
        t(sh.WORKER_ROLE_LABELS.get(w.role, w.role)), w.certificate_no) if x)) for w in data.workers) or "—"
    line((t(WORKER_LABELS.get(code, N_("Workers and certificate numbers"))), workers))
    line((t(N_("Guardian")), data.person(p.guardian_id)))
    line((t(N_("Other special work linked and its permit numbers")),
          "、".join(f"{lk.number}（{sh.type_name(lk.type_code)}）" for lk in data.links) or "—"))
    line((t(N_("Risk identification result")), p.risk_identification or "—"))
    window = t(N_("From %(start)s to %(end)s"), start=sh.plant_time(p.planned_start), end=sh.plant_time(p.planned_end))
    if p.started_at:
        window += "\n" + t(N_("Started %(at)s"), at=sh.plant_time(p.started_at))
    if p.completed_at:
        window += "  " + t(N_("Completed %(at)s"), at=sh.plant_time(p.completed_at))
    line((t(N_("Work period")), window))
    return b.grid(rows, [28, 38, 22, 30, 22, 46], label_cells=labels, spans=spans)


def _jsa(b: _Builder, data: sh.Sheet) -> list[Any]:
    jsa = [r for r in (data.permit.jsa or []) if isinstance(r, dict)]
    if not jsa:
        return []
    t = gettext
    rows = [[b.p(t(N_("No.")), b.label), b.p(t(N_("Job step")), b.label), b.p(t(N_("Hazards")), b.label),
             b.p(t(N_("Controls")), b.label)]]
    rows += [[b.p(str(i)), b.p(str(r.get("step", ""))), b.p(str(r.get("hazards", ""))), b.p(str(r.get("controls", "")))]
             for i, r in enumerate(jsa, 1)]
    return [b.p(t(N_("Job safety analysis")), b.head), b.grid(rows, [12, 50, 62, 62], header=True)]


def _gas(b: _Builder, data: sh.Sheet) -> list[Any]:
    t = gettext
    out: list[Any] = [b.p(t(N_("Gas analysis")), b.head)]
    live = t(N_("live"))  # outside the f-string, so the catalogue extracts it
    rows = [[b.p(t(x), b.label) for x in (N_("Sampled at"), N_("Sample point"), N_("Gas"), N_("Result"),
                                          N_("Permitted limit"), N_("Pass"), N_("Analyst"))]]
    for g in data.gas:
        result = f"{g.value:g} {g.unit}"
        if g.vol_pct is not None and g.unit != "%vol":
            result += f"（{g.vol_pct:g} %vol）"
        point = g.sample_point if g.source == "manual" else f"{g.sample_point} [{live}]"
        rows.append([b.p(sh.plant_time(g.sampled_at)), b.p(point), b.p(sh.gas_name(g.gas_code, g.kind)), b.p(result),
                     b.p(g.limit_text), b.p(t(N_("Yes")) if g.passed else t(N_("No"))),
                     b.p(g.analyst_name or data.person(g.analyst_person_id))])
    if len(rows) == 1:
        rows.append([b.p("—")] + [""] * 6)
    out.append(b.grid(rows, [28, 36, 26, 30, 28, 12, 26], header=True,
                      spans=[(0, 1, 6, 1)] if not data.gas else []))
    if data.permit.continuous_monitoring:
        out.append(b.p(t(N_("Continuous monitoring by %(n)s bound sensing points while the work lasts"),
                         n=len(data.points)), b.small))
    return out


def _measures(b: _Builder, data: sh.Sheet) -> list[Any]:
    """The checklist (序号, 安全措施, 是否涉及, 确认人): a long list flows onto the next page with its
    header repeated."""
    t = gettext
    rows = [[b.p(t(x), b.label) for x in (N_("No."), N_("Safety measure"), N_("Applicable"), N_("Confirmed by"))]]
    measures: list[tuple[str, str, bool | None, str]] = [
        (m.code, m.text, m.applicable,
         f"{m.confirmed_by_name or data.person(m.confirmed_by_person_id)} {sh.plant_time(m.confirmed_at)}"
         if m.confirmed_at else "") for m in data.measures]
    if not measures and data.type is not None:  # not yet on the permit: the type's blank checklist
        measures = [(m.code, m.text, None, "") for m in data.type.measures]
    for i, (_, text, applicable, who) in enumerate(measures, 1):
        mark = "—" if applicable is None else (t(N_("Yes")) if applicable else t(N_("No")))
        rows.append([b.p(str(i)), b.p(text), b.p(mark), b.p(who)])
    other = data.permit.other_measures or "—"
    by = data.permit.other_measures_by
    return [b.p(t(N_("Safety measures")), b.head), b.grid(rows, [12, 110, 24, 40], header=True),
            b.grid([[b.p(t(N_("Other safety measures")), b.label), b.p(other),
                     b.p(t(N_("Written by")), b.label), b.p(by or "—")]], [24, 106, 18, 38],
                   label_cells=[(0, 0), (2, 0)])]


def _signoffs(b: _Builder, data: sh.Sheet, var_dir: Path | None) -> list[Any]:
    """Briefing, guardian, work leader, each approver of the grade's chain, countersigns, the
    shift leader's check and the completion acceptance: opinion, signature, time. Steps not
    signed yet stay blank, to be signed by hand on the printout."""
    t, p = gettext, data.permit
    steps: list[str] = [SignStep.BRIEFER, SignStep.BRIEFEE, *SIGN_ROWS]
    grade = data.type.grade(p.grade) if data.type else None
    steps += [f"approve:{r}" for r in (grade.approvers if grade else ())]
    countersign = (data.type.raw.get("countersign") or {}) if data.type else {}
    steps += [f"countersign:{d}" for d in countersign.get("departments", [])]
    if p.type_code == "hot_work":
        steps.append(SignStep.SHIFT_LEADER)
    steps += [s.step for s in data.signatures if s.step not in steps and s.step != SignStep.ACCEPTANCE]
    steps.append(SignStep.ACCEPTANCE)
    rows: list[list[Any]] = [[b.p(t(x), b.label) for x in (N_("Step"), N_("Opinion"), N_("Signature"), N_("Time"))]]
    for step in steps:
        signed = data.signatures_of(step)
        if not signed:
            rows.append([b.p(sh.step_label(step)), "", "", ""])
            continue
        for s in signed:
            decision = t(sh.DECISION_LABELS.get(s.decision, s.decision))
            image = _signature_image(s, var_dir, p.enterprise_id)
            name = s.name or data.person(s.person_id)
            who: Any = [image, b.p(name, b.small)] if image is not None else b.p(name)
            rows.append([b.p(sh.step_label(step)), b.p(f"{decision}{'：' + s.comment if s.comment else ''}"), who,
                         b.p(sh.plant_time(s.at))])
    return [b.p(t(N_("Sign-offs")), b.head), b.grid(rows, [44, 74, 36, 32], header=True)]


def render(data: sh.Sheet, *, content_sha256: str, var_dir: Path | None = None,
           printed_at: datetime | None = None) -> bytes:
    """The permit as PDF bytes; checklists and sign-offs flow onto further pages."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, Spacer

    font = register_font()
    b = _Builder(font)
    t, p = gettext, data.permit
    printed = sh.plant_time(printed_at or utcnow())
    mark = WATERMARKS.get(p.status)
    appendix, hash_label = t(N_("Appendix A")), t(N_("Content SHA-256"))
    footer = [f"{STANDARD} {appendix}", f"{hash_label}: {content_sha256 or '—'}",
              t(N_("Printed at %(at)s"), at=printed) + " · PlantGuard"]
    page_label = t(N_("Page %(n)s"))

    def decorate(canvas: Any, doc: Any) -> None:
        if mark:
            canvas.saveState()
            canvas.setFillColor(b.colors.Color(0.8, 0.1, 0.1, alpha=0.16))
            canvas.setFont(font, 110)
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(35)
            canvas.drawCentredString(0, -30, t(mark))
            canvas.restoreState()
        canvas.saveState()
        canvas.setFillColor(b.colors.HexColor("#444444"))
        canvas.setFont(font, 7)
        for i, text in enumerate(footer):
            canvas.drawString(12 * mm, (12 - 3.2 * i) * mm, text)
        canvas.drawRightString(A4[0] - 12 * mm, 12 * mm, page_label % {"n": doc.page})
        canvas.restoreState()

    status = t(STATUS_LABELS.get(p.status, p.status))
    story: list[Any] = [
        b.p(t(N_("No.")) + "：" + p.number, b.number),
        b.p(title_of(data), b.title),
        b.p(" · ".join(x for x in (data.enterprise.name if data.enterprise else "", status) if x), b.small),
        Spacer(1, 2 * mm), _main_table(b, data), *_jsa(b, data)]
    gas_rules = data.type.gas if data.type else None
    if gas_rules is not None or data.gas:
        story += _gas(b, data)
    story += _measures(b, data)
    story += _signoffs(b, data, var_dir)
    if p.status == S.CANCELLED and p.cancel_reason:
        story.append(b.p(t(N_("Cancelled")) + "：" + p.cancel_reason, b.head))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
                            bottomMargin=24 * mm, title=f"{title_of(data)} {p.number}", author="PlantGuard",
                            creator="PlantGuard", subject=STANDARD)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()


def permit_pdf(session: Session, actor: Actor, permit_id: int, var_dir: Path | None = None,
               now: datetime | None = None) -> tuple[str, bytes]:
    """(number, PDF bytes) of a permit of the caller's enterprise (READ; another's is "not found").
    The footer's hash is the one fixed at approval, else the hash of the content as it stands."""
    from plantguard.permits.snapshot import content_sha256

    data = sh.load(session, actor, permit_id)
    digest = data.permit.content_sha256 or content_sha256(session, data.permit)
    return data.permit.number, render(data, content_sha256=digest, var_dir=var_dir, printed_at=now)
