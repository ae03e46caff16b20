"""The four-colour map: each area coloured by its highest current level (grey without an
assessed point, inactive points ignored), its risk points listed, outlines saved with
validation (≥ 3 points, inside the site's frame, errors naming the point), tenancy, roles,
and the console page with its legend, panels and upload refusals."""

from __future__ import annotations

from plantguard.audit.ledger import bind_actor
from plantguard.risk.contract import LEVEL_COLOURS, RiskLevel
from plantguard.risk.map import UNASSESSED_COLOUR
from plantguard.tenancy.models import Area
from tests.api import conftest as api_fixtures
from tests.api.conftest import Env
from tests.factories import Tenant
from tests.risk.map_data import SVG_PLAN, add_point
from tests.web.test_pages import csrf_of, login

env = api_fixtures.env  # fixtures of tests/api, used here too
sqlite_env = api_fixtures.sqlite_env


def add_area(e: Env, t: Tenant, code: str, polygon: list[list[float]]) -> int:
    with e.db.factory() as s:
        bind_actor(s, None)
        a = Area(enterprise_id=t.enterprise_id, site_id=t.site_id, code=code, name=f"{code} 区", kind="storage",
                 polygon=polygon)
        s.add(a)
        s.commit()
        return a.id


def by_id(body: dict[str, object]) -> dict[int, dict[str, object]]:
    return {a["id"]: a for a in body["areas"]}  # type: ignore[attr-defined, index]


def test_areas_coloured_by_highest_current_level(env: Env) -> None:
    t1, t2 = env.t1, env.t2
    f = env.db.factory
    press = add_point(f, t1, "RP-1", "1号压力机", t1.area_id, "low")
    die = add_point(f, t1, "RP-2", "模具更换作业", t1.area_id, "major")
    add_point(f, t1, "RP-3", "焊接烟尘", t1.area2_id, "general")
    add_point(f, t1, "RP-4", "旧焊机（停用）", t1.area2_id, "major", active=False)  # retired: no colour
    add_point(f, t1, "RP-5", "待评估叉车通道", t1.area2_id, None)
    empty = add_area(env, t1, "WH", [[120, 0], [190, 0], [190, 40]])
    add_point(f, t2, "RP-1", "他厂压力机", t2.area_id, "significant")

    r = env.client.get("/api/v1/risk-map", headers=env.as_role("worker"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["site_id"] == t1.site_id and body["plan"] is None and body["box"] == [0, 0, 200, 120]
    areas = by_id(body)
    assert (areas[t1.area_id]["level"], areas[t1.area_id]["colour"]) == ("major", LEVEL_COLOURS[RiskLevel.MAJOR])
    assert (areas[t1.area2_id]["level"], areas[t1.area2_id]["colour"]) == (
        "general", LEVEL_COLOURS[RiskLevel.GENERAL])
    assert (areas[empty]["level"], areas[empty]["colour"]) == (None, UNASSESSED_COLOUR)
    # the points of an area, worst first; the retired one is not on the map
    assert [p["id"] for p in areas[t1.area_id]["points"]] == [die, press]  # type: ignore[index]
    assert [p["code"] for p in areas[t1.area2_id]["points"]] == ["RP-3", "RP-5"]  # type: ignore[index]
    # the other enterprise sees its own map only
    other = env.client.get("/api/v1/risk-map", headers=env.as_role("worker", t2)).json()
    assert set(by_id(other)) == {t2.area_id, t2.area2_id}
    assert by_id(other)[t2.area_id]["level"] == "significant"
    assert env.client.get(f"/api/v1/risk-map?site_id={t1.site_id}",
                          headers=env.as_role("admin", t2)).status_code == 404


def test_outline_validation_and_saving(sqlite_env: Env) -> None:
    e = sqlite_env
    h = e.as_role("safety_manager")
    url = f"/api/v1/risk-map/areas/{e.t1.area_id}/polygon"

    def put(polygon: object, headers: dict[str, str] = h, target: str = url) -> object:
        return e.client.put(target, json={"polygon": polygon}, headers=headers)

    r = put([[0, 0], [10, 0]])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "polygon"  # type: ignore[attr-defined]
    r = put([[0, 0], [250, 0], [10, -5]])  # the site's frame is 200 × 120
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert [x["field"] for x in r.json()["errors"]] == ["polygon.1", "polygon.2"]  # type: ignore[attr-defined]
    assert "200 × 120" in r.json()["errors"][0]["message"]  # type: ignore[attr-defined]
    r = put([[0, 0], ["a", 1], [5, 5]])
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("polygon.1")  # type: ignore[attr-defined]
    r = put([[0, 0], [10, 10], [20, 20]])  # collinear: no area
    assert r.status_code == 422 and "no area" in r.json()["errors"][0]["message"]  # type: ignore[attr-defined]
    r = put([[0, 0], [10, 0], [10, 10]], headers=e.as_role("safety_manager", lang="zh-CN"))
    assert r.status_code == 200  # type: ignore[attr-defined]
    r = put([[0, 0], [1, 0]], headers=e.as_role("safety_manager", lang="zh-CN"))
    assert r.json()["errors"][0]["label"] == "平面图轮廓"  # type: ignore[attr-defined]
    # roles and tenancy
    for role in ("worker", "team_leader", "auditor"):
        assert put([[0, 0], [10, 0], [10, 10]], headers=e.as_role(role)).status_code == 403  # type: ignore[attr-defined]
    other = f"/api/v1/risk-map/areas/{e.t2.area_id}/polygon"
    assert put([[0, 0], [10, 0], [10, 10]], target=other).status_code == 404  # type: ignore[attr-defined]
    # a good outline is stored, rounded, and drawn
    r = put([[10.123, 5], [60, 5], [60, 45.556], [10, 45]])
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.json()["polygon"] == [[10.12, 5], [60, 5], [60, 45.56], [10, 45]]  # type: ignore[attr-defined]
    areas = by_id(e.client.get("/api/v1/risk-map", headers=h).json())
    assert areas[e.t1.area_id]["polygon"] == [[10.12, 5], [60, 5], [60, 45.56], [10, 45]]


def test_console_page_legend_panels_and_upload(sqlite_env: Env) -> None:
    e = sqlite_env
    point = add_point(e.db.factory, e.t1, "RP-9", "冲压线", e.t1.area_id, "significant")
    client = e.client
    login(client, e.t1.users["safety_manager"])
    client.cookies.set("plantguard_lang", "en")
    page = client.get("/risk/map")
    assert page.status_code == 200
    html = page.text
    assert f'data-area-id="{e.t1.area_id}" data-level="significant"' in html
    assert f'fill="{LEVEL_COLOURS[RiskLevel.SIGNIFICANT]}"' in html and f'fill="{UNASSESSED_COLOUR}"' in html
    for label in ("Major risk", "Significant risk", "General risk", "Low risk", "Not assessed"):
        assert label in html
    assert f'href="/risk/points/{point}"' in html and f'href="/api/v1/risk-points/{point}/card.pdf"' in html
    assert 'id="riskmap-editor"' in html and 'id="riskmap-noplan"' in html
    token = csrf_of(html)
    # a refused upload: the page again with the field's message and 422
    r = client.post("/risk/map/plan", data={"csrf_token": token, "site_id": str(e.t1.site_id)},
                    files={"file": ("x.svg", b"<svg><script>alert(1)</script>")})
    assert r.status_code == 422 and 'id="riskmap-upload-error"' in r.text and "File:" in r.text
    r = client.post("/risk/map/plan", data={"csrf_token": token, "site_id": str(e.t1.site_id)},
                    files={"file": ("plan.svg", SVG_PLAN)}, follow_redirects=False)
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert "/api/v1/site-plans/" in html and 'id="riskmap-noplan"' not in html
    # a reader sees the map but not the editor
    client.cookies.clear()
    login(client, e.t1.users["worker"])
    html = client.get("/risk/map").text
    assert 'id="riskmap"' in html and 'id="riskmap-editor"' not in html
