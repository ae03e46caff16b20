"""Evidence files: photos (JPEG, PNG, WebP) and drawn signatures (PNG).

Why magic bytes and not the name or the declared type: both come from the client, and a
renamed executable must not become "a photo". The size limit is
``PLANTGUARD_UPLOAD_MAX_MB`` (default 10). Files are written under ``var_dir/uploads/<enterprise>/``
with a random name (never the client's), and read back only through a tenant-scoped lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_

DEFAULT_MAX_MB = 10.0
TYPES: dict[str, str] = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def max_mb() -> float:
    raw = os.environ.get("PLANTGUARD_UPLOAD_MAX_MB", "")
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return max(mb, 0.001)


def max_bytes() -> int:
    return int(max_mb() * 1024 * 1024)


def sniff(data: bytes) -> str | None:
    """The image type the content really is, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True)
class Checked:
    data: bytes
    content_type: str
    sha256: str


def check(data: bytes, field: str = "file", *, only: tuple[str, ...] = tuple(TYPES)) -> Checked:
    limit = max_bytes()
    if not data:
        raise ValidationFailed([FieldError(field, N_("The file is empty"))])
    if len(data) > limit:
        raise ValidationFailed([FieldError(field, N_("The file is too large (at most %(mb)s MB)"),
                                           {"mb": f"{max_mb():g}"})])
    kind = sniff(data)
    if kind is None or kind not in only:
        raise ValidationFailed([FieldError(field, N_("Only JPEG, PNG or WebP images are accepted"))])
    return Checked(data, kind, hashlib.sha256(data).hexdigest())


def decode_data_url(value: str, field: str = "signature") -> bytes:
    """A drawn signature as the canvas gives it: ``data:image/png;base64,...``."""
    prefix = "data:image/png;base64,"
    if not value.startswith(prefix):
        raise ValidationFailed([FieldError(field, N_("A drawn signature (PNG image) is required"))])
    try:
        return base64.b64decode(value[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed([FieldError(field, N_("A drawn signature (PNG image) is required"))]) from None


def store(var_dir: Path, enterprise_id: int, checked: Checked) -> str:
    """Write the file; returns the stored name (relative to the enterprise's folder)."""
    folder = var_dir / "uploads" / str(enterprise_id)
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16) + TYPES[checked.content_type]
    tmp = folder / (name + ".part")
    tmp.write_bytes(checked.data)
    tmp.replace(folder / name)
    return name


def path_of(var_dir: Path, enterprise_id: int, stored_name: str) -> Path:
    return var_dir / "uploads" / str(enterprise_id) / Path(stored_name).name
