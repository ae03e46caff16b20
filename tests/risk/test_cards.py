"""岗位风险告知卡 as PDF: the CJK font embedded (font dictionary and pdffonts), the Chinese text
extractable (pdftotext), everything the card must say, tenancy, and a clear refusal naming the
font packages when no CJK TrueType font is installed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from plantguard.core.i18n import gettext
from plantguard.risk import cards
from tests.api import conftest as api_fixtures
from tests.api.conftest import Env
from tests.risk.map_data import add_card_content, add_point

env = api_fixtures.env  # fixtures of tests/api, used here too
sqlite_env = api_fixtures.sqlite_env


def poppler(tool: str, pdf: bytes, tmp_path: Path) -> str:
    exe = shutil.which(tool)
    assert exe, f"{tool} (Debian poppler-utils, installed by .ci/run) is needed to read the PDF"
    path = tmp_path / "card.pdf"
    path.write_bytes(pdf)
    args = [exe, "-enc", "UTF-8", str(path), "-"] if tool == "pdftotext" else [exe, str(path)]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture
def fresh_font() -> Iterator[None]:
    cards.register_font.cache_clear()
    yield
    cards.register_font.cache_clear()


def test_card_pdf_embeds_font_and_says_everything(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTGUARD_EMERGENCY_PHONE", "0571-8888 1234")
    point = add_point(env.db.factory, env.t1, "RP-1", "1号压力机", env.t1.area_id, "major")
    add_card_content(env.db.factory, env.t1, point)
    r = env.client.get(f"/api/v1/risk-points/{point}/card.pdf", headers=env.as_role("worker", lang="zh-CN"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    pdf = r.content
    assert b"/FontFile2" in pdf and b"WenQuanYiMicroHei" in pdf  # a TrueType font program inside the file
    fonts = poppler("pdffonts", pdf, tmp_path)
    row = next(line for line in fonts.splitlines() if "WenQuanYiMicroHei" in line)
    assert row.split()[-5:-3] == ["yes", "yes"], fonts  # emb, sub: embedded as a subset
    text = "".join(poppler("pdftotext", pdf, tmp_path).split())
    for expected in (gettext("Job risk notification card", "zh_CN"), "RP-11号压力机", "冲压车间", "冲压操作",
                     "冲压一班", "张伟", "滑块意外下行", "机械伤害", "物体打击", "双手操作按钮与光电保护装置",
                     "交接班点检制度", "岗前安全培训", "佩戴防护手套和安全鞋", "立即按下急停按钮并上报班长",
                     "0571-88881234", gettext("Major risk", "zh_CN")):
        assert "".join(expected.split()) in text, expected
    # another enterprise's point, or none at all: not found
    assert env.client.get(f"/api/v1/risk-points/{point}/card.pdf",
                          headers=env.as_role("admin", env.t2)).status_code == 404
    assert env.client.get("/api/v1/risk-points/999999/card.pdf", headers=env.as_role("admin")).status_code == 404


def test_card_without_measures_leaves_phone_line(sqlite_env: Env, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANTGUARD_EMERGENCY_PHONE", raising=False)
    point = add_point(sqlite_env.db.factory, sqlite_env.t1, "RP-2", "叉车通道", sqlite_env.t1.area2_id, None)
    r = sqlite_env.client.get(f"/api/v1/risk-points/{point}/card.pdf", headers=sqlite_env.as_role("auditor"))
    assert r.status_code == 200
    text = poppler("pdftotext", r.content, tmp_path)
    assert "叉车通道" in text and "Not assessed" in text and "________________" in text


def test_font_from_the_pypi_package_and_clear_error_without_any(sqlite_env: Env, fresh_font: None,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    point = add_point(sqlite_env.db.factory, sqlite_env.t1, "RP-3", "配电室", sqlite_env.t1.area_id, "low")
    url = f"/api/v1/risk-points/{point}/card.pdf"
    # a machine without the Debian font: the dependency's copy is used
    monkeypatch.setattr(cards, "DEBIAN_FONT", Path("/nonexistent/wqy-microhei.ttc"))
    candidates = cards.font_candidates()
    assert any("paperang_p2_fonts_cjk" in str(p) and p.is_file() for p, _ in candidates)
    r = sqlite_env.client.get(url, headers=sqlite_env.as_role("worker"))
    assert r.status_code == 200 and b"WenQuanYiMicroHei" in r.content
    # no CJK font at all: a clear refusal in the caller's language, naming the packages
    cards.register_font.cache_clear()
    monkeypatch.setattr(cards, "font_candidates", lambda: [(Path("/nonexistent/font.ttc"), 0)])
    r = sqlite_env.client.get(url, headers=sqlite_env.as_role("worker"))
    assert r.status_code == 503 and r.json()["code"] == "font_missing"
    assert "fonts-wqy-microhei" in r.json()["detail"] and "paperang-p2-fonts-cjk" in r.json()["detail"]
