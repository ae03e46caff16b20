"""Site plans: type by content, size limit, the SVG allow-list (scripts, event attributes,
foreignObject, external references and entities never survive), storage and serving with a
safe Content-Type and CSP, tenancy and the role check."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from plantguard.core.errors import ValidationFailed
from plantguard.risk import siteplan_svg
from tests.api import conftest as api_fixtures
from tests.api.conftest import Env
from tests.risk.map_data import SVG_PLAN

env = api_fixtures.env  # fixtures of tests/api, used here too
sqlite_env = api_fixtures.sqlite_env

EVIL_SVG = '''<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 800 500"
     onload="alert(1)">
  <script>alert(1)</script>
  <style>@import url(http://evil.example/x.css);</style>
  <rect x="0" y="0" width="800" height="500" fill="#eee" onclick="steal()"/>
  <foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>
  <image href="http://evil.example/x.png" width="5" height="5"/>
  <use xlink:href="#hall"/><use href="http://evil.example/s.svg#x"/>
  <a href="javascript:alert(1)"><rect width="1" height="1"/></a>
  <text x="10" y="20" style="fill:url(http://evil.example/p)">冲压 &amp; 车间</text>
  <rect id="hall" fill="url(#g)" stroke="url(http://evil.example/s)" width="3" height="3"/>
</svg>'''.encode()


def png(w: int = 40, h: int = 24) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 220, 240)).save(buf, "PNG")
    return buf.getvalue()


def test_sanitiser_keeps_drawing_and_drops_everything_active() -> None:
    out = siteplan_svg.sanitise(EVIL_SVG)
    text = out.data.decode()
    for bad in ("script", "onload", "onclick", "foreignObject", "evil.example", "javascript", "<image",
                "<style", "<a ", "@import"):
        assert bad not in text, bad
    assert '<use href="#hall">' in text and 'fill="url(#g)"' in text and "冲压 &amp; 车间" in text
    assert (out.min_x, out.min_y, out.width, out.height) == (0, 0, 800, 500)
    assert {"<script>", "<foreignObject>", "<image>", "<a>", "<style>", "onload", "onclick"} <= set(out.removed)
    again = siteplan_svg.sanitise(out.data)  # the output is itself a plan the sanitiser keeps whole
    assert again.data == out.data and again.removed == []


@pytest.mark.parametrize(("data", "message"), [
    (b'<!DOCTYPE svg [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
     b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><text>&b;</text></svg>', "document type"),
    (b'<!DOCTYPE svg SYSTEM "file:///etc/passwd"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>',
     "document type"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect>', "well-formed"),
    (b"<html><body>plan</body></html>", "Only SVG"),
    (b'<svg viewBox="0 0 1 1"/>', "Only SVG"),  # no SVG namespace: not an SVG document
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="100%"/>', "viewBox"),
])
def test_sanitiser_refuses(data: bytes, message: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        siteplan_svg.sanitise(data)
    assert err.value.errors[0].field == "file" and message in err.value.errors[0].message


def upload(env: Env, data: bytes, name: str = "plan.svg", role: str = "safety_manager", site_id: int | None = None,
           ctype: str = "image/svg+xml", tenant: object = None) -> object:
    t = tenant or env.t1
    return env.client.post("/api/v1/site-plans", headers=env.as_role(role, t),  # type: ignore[arg-type]
                           data={"site_id": str(site_id or t.site_id)},  # type: ignore[attr-defined]
                           files={"file": (name, data, ctype)})


def test_upload_refusals(sqlite_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    e = sqlite_env
    # type from the content: a text file called .png, and an executable called .svg
    r = upload(e, b"just some text", name="plan.png", ctype="image/png")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert "SVG, PNG, JPEG or WebP" in r.json()["errors"][0]["message"]
    r = upload(e, b"MZ\x90\x00\x03" + b"\x00" * 100, name="plan.svg")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = upload(e, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, name="plan.png", ctype="image/png")  # a broken PNG
    assert r.status_code == 422 and "damaged" in r.json()["errors"][0]["message"]
    r = upload(e, b"")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    # the size limit, in the caller's language
    monkeypatch.setenv("PLANTGUARD_SITE_PLAN_MAX_MB", "0.001")
    r = e.client.post("/api/v1/site-plans", headers=e.as_role("safety_manager", lang="zh-CN"),
                        data={"site_id": str(e.t1.site_id)}, files={"file": ("p.svg", SVG_PLAN + b" " * 2000)})
    assert r.status_code == 422 and r.json()["errors"][0]["label"] == "文件"
    assert "0.001" in r.json()["errors"][0]["message"]
    monkeypatch.delenv("PLANTGUARD_SITE_PLAN_MAX_MB")
    # an entity bomb is refused before any expansion
    r = upload(e, b'<!DOCTYPE s [<!ENTITY a "x">]><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>')
    assert r.status_code == 422 and "document type" in r.json()["errors"][0]["message"]
    # another tenant's site, a missing site id, the role
    r = upload(e, SVG_PLAN, site_id=e.t2.site_id)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "site_id"
    r = e.client.post("/api/v1/site-plans", headers=e.as_role("safety_manager"),
                        files={"file": ("p.svg", SVG_PLAN)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "site_id"
    for role in ("worker", "team_leader", "auditor"):
        assert upload(e, SVG_PLAN, role=role).status_code == 403
    assert e.client.get("/api/v1/site-plans", headers=e.as_role("safety_manager")).json() == []


def test_upload_stores_sanitised_plan_and_serves_it_safely(env: Env) -> None:
    r = upload(env, EVIL_SVG, name="总图.svg", ctype="text/plain")  # the declared type does not matter
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["content_type"] == "image/svg+xml" and body["width"] == 800 and "onload" in body["removed"]
    served = env.client.get(f"/api/v1/site-plans/{body['id']}/file", headers=env.as_role("worker"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in served.headers["content-security-policy"]
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["x-content-type-options"] == "nosniff"
    assert b"script" not in served.content and b"evil.example" not in served.content
    assert "冲压".encode() in served.content
    # another tenant sees nothing of it
    assert env.client.get(f"/api/v1/site-plans/{body['id']}/file",
                          headers=env.as_role("admin", env.t2)).status_code == 404
    assert env.client.get("/api/v1/site-plans", headers=env.as_role("admin", env.t2)).json() == []
    # replacing with a PNG keeps one plan per site, with the image's pixel size
    r = upload(env, png(40, 24), name="plan.png", ctype="application/octet-stream")
    assert r.status_code == 201 and r.json()["id"] == body["id"]
    assert (r.json()["content_type"], r.json()["width"], r.json()["height"]) == ("image/png", 40, 24)
    plans = env.client.get("/api/v1/site-plans", headers=env.as_role("worker")).json()
    assert [p["content_type"] for p in plans] == ["image/png"]
    served = env.client.get(f"/api/v1/site-plans/{body['id']}/file", headers=env.as_role("worker"))
    assert served.headers["content-type"] == "image/png" and served.content == png(40, 24)
