"""Stamp the time and place into a hazard photo (before/after rectification evidence).

Why burn it into the pixels: a regulator or auditor looking at a 验收 photo wants to see when
and where it was taken without trusting a database field; the banner travels with the image
when it is printed, exported or forwarded.

What happens to the image:
- it is turned upright first (EXIF orientation applied), so the banner lands at the visual
  bottom whatever way the phone was held;
- it is scaled down so that its long side is at most :data:`MAX_SIDE` pixels;
- **all EXIF and other metadata are dropped** (GPS of the phone, device serials, owner names
  are private; what matters is shown in the banner, and the original upload is not kept by
  this function). This is deliberate and documented in docs/hazards.md;
- a dark banner with the plant-local time, the place and, if known, the coordinates is drawn
  across the bottom with the CJK font, and the result is written as a JPEG.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

FONT_PATH: Final = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
MAX_SIDE: Final = 2048  # long side after scaling; enough to read a nameplate, ~0.5 MB as JPEG
MAX_PIXELS: Final = 40_000_000  # refuse decompression bombs before decoding
QUALITY: Final = 85
PLACE_CHARS: Final = 60


class StampError(ValueError):
    """The data is not an image Pillow can read (or too large to decode safely)."""


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(str(FONT_PATH), size=size, index=0)
    except OSError:  # font package missing: still stamp, in Pillow's own (Latin-only) font
        return ImageFont.load_default(size=size)


def banner_lines(when: datetime, place: str, lat: float | None, lon: float | None, tz: tzinfo | None = None,
                 number: str | None = None) -> list[str]:
    """The text of the banner: plant-local time with its zone (a naive ``when`` is UTC, as
    stored), the hazard number if given, the place, and coordinates when known."""
    from plantguard.timeseries.alignment.times import plant_tz

    zone = tz or plant_tz()
    local = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(zone)
    lines = [local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "") + (f"  {number}" if number else "")]
    place = " ".join(place.split())
    if place:
        lines.append(place if len(place) <= PLACE_CHARS else place[: PLACE_CHARS - 1] + "…")
    if lat is not None and lon is not None:
        lines.append(f"{abs(lat):.6f}°{'N' if lat >= 0 else 'S'}  {abs(lon):.6f}°{'E' if lon >= 0 else 'W'}")
    return lines


def stamp_photo(data: bytes, *, when: datetime | None = None, place: str = "", lat: float | None = None,
                lon: float | None = None, tz: tzinfo | None = None, number: str | None = None,
                at: datetime | None = None) -> bytes:
    """The photo upright, bounded to :data:`MAX_SIDE`, metadata stripped, banner drawn; JPEG bytes.

    ``when`` is the moment shown (``at`` is accepted as another name for it); ``tz`` defaults
    to the plant's zone (``PLANTGUARD_PLANT_TZ``, Asia/Shanghai)."""
    moment = when or at
    if moment is None:
        raise TypeError("stamp_photo() needs when=")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as src:
            src.load()
            upright = ImageOps.exif_transpose(src)
            img = upright.convert("RGB")  # a fresh image: no EXIF, ICC or XMP carried over
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise StampError(str(exc)) from exc
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    _draw_banner(img, banner_lines(moment, place, lat, lon, tz, number))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()


def _draw_banner(img: Image.Image, lines: list[str]) -> None:
    """A semi-opaque dark strip at the bottom, white text with a thin dark outline; the font
    scales with the picture (≈3.2% of the short side, at least 14 px) so it stays legible."""
    w, h = img.size
    size = max(14, round(min(w, h) * 0.032))
    font = _font(size)
    pad = max(4, size // 3)
    line_h = size + pad // 2
    band_h = min(h, pad * 2 + line_h * len(lines))
    overlay = Image.new("RGBA", (w, band_h), (0, 0, 0, 165))
    base = img.crop((0, h - band_h, w, h)).convert("RGBA")
    img.paste(Image.alpha_composite(base, overlay).convert("RGB"), (0, h - band_h))
    draw = ImageDraw.Draw(img)
    y = h - band_h + pad
    for line in lines:
        draw.text((pad, y), line, font=font, fill=(255, 255, 255), stroke_width=max(1, size // 14),
                  stroke_fill=(0, 0, 0))
        y += line_h
