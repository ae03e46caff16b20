"""Evidence uploads: real JPEG/PNG accepted, a renamed executable and an oversize file refused
with a clear message naming the field; files readable only inside the tenant."""

from __future__ import annotations

import hashlib

import pytest

from tests.workorders.conftest import WoEnv
from tests.workorders.test_lifecycle_api import png_bytes

# A minimal baseline JPEG header (SOI + APP0/JFIF) followed by filler and EOI: sniffed as JPEG.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200  # a PE header


def upload(wo: WoEnv, oid: int, role: str, name: str, data: bytes, kind: str = "before", mime: str = "image/jpeg",
           tenant: object = None) -> object:
    return wo.client.post(f"/api/v1/workorders/{oid}/attachments", files={"file": (name, data, mime)},
                          data={"kind": kind, "note": "现场照片"}, headers=wo.h(role, tenant))  # type: ignore[arg-type]


def test_good_images_accepted_and_served_in_tenant(wo: WoEnv) -> None:
    oid = wo.create(team_id=wo.env.t1.team_id, assignee_id=wo.ids["worker"])["id"]
    r = upload(wo, oid, "worker", "before.jpg", JPEG)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    jpg = r.json()  # type: ignore[attr-defined]
    assert jpg["content_type"] == "image/jpeg" and jpg["sha256"] == hashlib.sha256(JPEG).hexdigest()
    png = png_bytes()
    r = upload(wo, oid, "worker", "after.png", png, kind="after", mime="image/png")
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"  # type: ignore[attr-defined]
    detail = wo.client.get(f"/api/v1/workorders/{oid}", headers=wo.h("auditor")).json()
    assert [a["kind"] for a in detail["attachments"]] == ["before", "after"]
    assert [e["kind"] for e in detail["history"]][-2:] == ["attachment", "attachment"]
    got = wo.client.get(f"/api/v1/workorders/{oid}/attachments/{jpg['id']}", headers=wo.h("auditor"))
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    other = wo.client.get(f"/api/v1/workorders/{oid}/attachments/{jpg['id']}", headers=wo.h("auditor", wo.env.t2))
    assert other.status_code == 404
    # someone outside the team may not add evidence
    assert upload(wo, oid, "contractor", "x.jpg", JPEG).status_code == 403  # type: ignore[attr-defined]


def test_renamed_exe_refused(wo: WoEnv) -> None:
    oid = wo.create()["id"]
    r = upload(wo, oid, "safety_manager", "photo.jpg", EXE)
    assert r.status_code == 422  # type: ignore[attr-defined]
    err = r.json()["errors"][0]  # type: ignore[attr-defined]
    assert err["field"] == "file" and err["message"] == "Only JPEG, PNG or WebP images are accepted"


def test_oversize_refused(wo: WoEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTGUARD_UPLOAD_MAX_MB", "0.01")  # 10 KiB, so the test stays small
    oid = wo.create()["id"]
    big = JPEG[:-2] + b"\x00" * 20_000 + b"\xff\xd9"
    r = upload(wo, oid, "safety_manager", "big.jpg", big)
    assert r.status_code == 422  # type: ignore[attr-defined]
    err = r.json()["errors"][0]  # type: ignore[attr-defined]
    assert err["field"] == "file" and "too large" in err["message"] and "0.01 MB" in err["message"]


def test_not_multipart_and_bad_kind(wo: WoEnv) -> None:
    oid = wo.create()["id"]
    r = wo.client.post(f"/api/v1/workorders/{oid}/attachments", json={"file": "x"}, headers=wo.h("safety_manager"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = upload(wo, oid, "safety_manager", "a.jpg", JPEG, kind="signature")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"  # type: ignore[attr-defined]


def test_bad_signature_refused(wo: WoEnv) -> None:
    from tests.workorders.test_lifecycle_api import to_awaiting

    oid = to_awaiting(wo)["id"]
    import base64

    exe_url = "data:image/png;base64," + base64.b64encode(EXE).decode()
    for sig in (exe_url, "hello"):
        r = wo.post(f"/workorders/{oid}/close", "team_leader", json={"signature": sig})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "signature", r.text
