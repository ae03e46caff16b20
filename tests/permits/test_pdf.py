"""A permit as PDF (GB 30871-2022 Appendix A layout) over the API on both backends: the CJK font
embedded (pdffonts), the Chinese text and the numbers extractable (pdftotext) for a graded
(hot work) and an ungraded (confined space) type, the gas table, the checklist flowing onto a
second page, the sign-offs with a drawn signature image, the approved content's SHA-256 in the
footer, the watermark of a draft and of a cancelled permit, English labels, tenancy."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

from plantguard.audit.ledger import bind_actor
from plantguard.core.i18n import gettext
from plantguard.permits import service
from plantguard.permits.contract import SignStep
from plantguard.permits.models import Permit
from tests.api import conftest as api_fixtures
from tests.api.conftest import Env
from tests.permits.factories import DAY, crew, make_active, make_permit
from tests.permits.test_views import actor_of
from tests.risk.test_cards import poppler
from tests.workorders.test_lifecycle_api import png_bytes

env = api_fixtures.env


def flat(text: str) -> str:
    return "".join(text.split())


def pdf_of(env: Env, pid: int, role: str = "worker", lang: str = "zh-CN") -> bytes:
    r = env.client.get(f"/api/v1/permits/{pid}/pdf", headers=env.as_role(role, lang=lang))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    assert r.headers["cache-control"] == "private, no-store"
    return r.content


def watermark(pdf: bytes, tmp_path: Path) -> str:
    """The text in content-stream order (``pdftotext -raw``): the diagonal watermark comes out
    whole, where the layout mode scatters its letters."""
    path = tmp_path / "w.pdf"
    path.write_bytes(pdf)
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext (poppler-utils) is needed"
    out = subprocess.run([exe, "-raw", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    # Depending on poppler's version the rotated glyphs come out on one line or one per line:
    # the watermark is what the first non-empty lines spell, up to the first table text.
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return "".join(lines[:4])


def pages(pdf: bytes, tmp_path: Path) -> int:
    exe = shutil.which("pdfinfo")
    assert exe, "pdfinfo (poppler-utils) is needed"
    path = tmp_path / "p.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([exe, str(path)], check=True, capture_output=True, text=True, timeout=60).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


def test_hot_work_pdf(env: Env, tmp_path: Path) -> None:
    sm = actor_of(env, "safety_manager")
    var_dir = env.client.app.state.runtime.settings.var_dir  # type: ignore[attr-defined]
    with env.db.factory() as s:
        bind_actor(s, sm)
        p = make_active(s, sm, "hot_work", "second", content="2号储罐进料管线法兰焊接")
        c = crew(s, sm.enterprise_id)
        service.sign(s, c.actor(c.leader), p.id, SignStep.SHIFT_LEADER, comment="已验票", signature_png=png_bytes(),
                     var_dir=var_dir, now=DAY + timedelta(minutes=20))
        s.commit()
        pid, number, sha = p.id, p.number, p.content_sha256
    assert len(sha) == 64
    pdf = pdf_of(env, pid)
    assert b"/FontFile2" in pdf and b"WenQuanYiMicroHei" in pdf
    fonts = poppler("pdffonts", pdf, tmp_path)
    row = next(line for line in fonts.splitlines() if "WenQuanYiMicroHei" in line)
    assert row.split()[-5:-3] == ["yes", "yes"], fonts  # embedded, as a subset
    assert b"/Subtype /Image" in pdf  # the drawn signature
    text = flat(poppler("pdftotext", pdf, tmp_path))
    zh = lambda m: flat(gettext(m, "zh_CN"))  # noqa: E731
    for expected in ("动火安全作业票", number, "2号储罐进料管线法兰焊接", "二级", "电焊", "蒸汽", "设备部", "检修班",
                     "刘负责", "赵焊工", "TZ-WELD-PTW-W1", "孙监护", "火灾、中毒", "准备", "隔离",
                     "甲烷", "2%LEL", "化验员", "动火设备内部构件清洗干净", "其他相关特殊作业已办理相应安全作业票",
                     "已验票", "2026-11-2509:00", "2026-11-2512:00", "GB30871-2022", sha,
                     zh("Hot-work location and part"), zh("Gas analysis"), zh("Safety measures"), zh("Sign-offs"),
                     zh("Safety briefing given by"), zh("Completion acceptance")):
        assert flat(expected) in text, expected
    assert watermark(pdf, tmp_path).startswith("GB 30871-2022")  # in force: no watermark before the footer
    assert pages(pdf, tmp_path) >= 2 and flat(gettext("Page %(n)s", "zh_CN") % {"n": 2}) in text
    # an auditor reads it too; another enterprise does not find it; nobody signed out gets it
    assert env.client.get(f"/api/v1/permits/{pid}/pdf", headers=env.as_role("auditor")).status_code == 200
    assert env.client.get(f"/api/v1/permits/{pid}/pdf", headers=env.as_role("admin", env.t2)).status_code == 404
    assert env.client.get("/api/v1/permits/999999/pdf", headers=env.as_role("admin")).status_code == 404
    env.client.cookies.clear()
    assert env.client.get(f"/api/v1/permits/{pid}/pdf").status_code == 401


def test_approval_signatures_in_pdf(env: Env, tmp_path: Path) -> None:
    """Each approver's step with its opinion and time; the shift leader's drawn signature."""
    from plantguard.permits import approvals

    sm, leader, admin = (actor_of(env, r) for r in ("safety_manager", "team_leader", "admin"))
    with env.db.factory() as s:
        bind_actor(s, sm)
        approvals.assign(s, sm, role="unit", user_id=leader.user_id)
        approvals.assign(s, sm, role="safety_dept", user_id=admin.user_id)
        p = make_permit(s, sm, "hot_work", "first")
        service.submit(s, sm, p.id, now=DAY - timedelta(hours=1))
        approvals.decide(s, leader, p.id, approve=True, comment="基层单位同意", now=DAY - timedelta(minutes=50))
        approvals.decide(s, admin, p.id, approve=True, comment="安全部门同意", now=DAY - timedelta(minutes=40))
        s.commit()
        pid, status = p.id, p.status
    assert status == "approved"
    text = flat(poppler("pdftotext", pdf_of(env, pid), tmp_path))
    for expected in ("一级", "所在基层单位", "基层单位同意", "2026-11-2508:10", "安全管理部门", "安全部门同意",
                     "2026-11-2508:20"):
        assert flat(expected) in text, expected


def test_confined_space_draft_and_cancelled(env: Env, tmp_path: Path) -> None:
    sm = actor_of(env, "safety_manager")
    with env.db.factory() as s:
        bind_actor(s, sm)
        p = make_permit(s, sm, "confined_space")
        s.commit()
        pid, number = p.id, p.number
    pdf = pdf_of(env, pid)
    text = flat(poppler("pdftotext", pdf, tmp_path))
    for expected in ("受限空间安全作业票", number, "T-101甲醇储罐", "甲醇", gettext("Work location", "zh_CN"),
                     "对进入受限空间危险性进行分析，已制定作业方案"):
        assert flat(expected) in text, expected
    assert watermark(pdf, tmp_path).startswith(gettext("DRAFT", "zh_CN"))
    assert flat(gettext("Work grade", "zh_CN")) not in text  # not graded
    en = pdf_of(env, pid, lang="en")
    assert "Confined-spaceentrysafetyworkpermit" in flat(poppler("pdftotext", en, tmp_path))
    assert watermark(en, tmp_path).startswith("DRAFT") and "Workcontent" in flat(poppler("pdftotext", en, tmp_path))
    with env.db.factory() as s:
        bind_actor(s, sm)
        service.cancel(s, sm, pid, "计划取消", now=DAY)
        s.commit()
        assert s.get(Permit, pid).status == "cancelled"  # type: ignore[union-attr]
    pdf = pdf_of(env, pid)
    assert watermark(pdf, tmp_path).startswith(gettext("VOID", "zh_CN"))
    assert "计划取消" in poppler("pdftotext", pdf, tmp_path)
