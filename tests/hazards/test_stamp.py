"""Time and place stamped into hazard photos: upright, bounded, metadata stripped, banner drawn."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageChops, ImageStat

from plantguard.hazards.stamp import MAX_SIDE, StampError, banner_lines, stamp_photo

WHEN = datetime(2024, 5, 1, 2, 3, 4, tzinfo=UTC)


def jpeg(size: tuple[int, int], colour: tuple[int, int, int] = (40, 170, 90), exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", exif=exif or Image.Exif())
    return buf.getvalue()


def test_banner_drawn_at_bottom_and_rest_untouched() -> None:
    src = jpeg((800, 600))
    out = stamp_photo(src, when=WHEN, place="冲压车间 3号冲床", lat=31.23, lon=121.47)
    img = Image.open(io.BytesIO(out))
    assert img.format == "JPEG" and img.size == (800, 600)
    original = Image.open(io.BytesIO(src)).convert("RGB")
    bottom = (0, 520, 800, 600)
    top = (0, 0, 800, 300)
    assert ImageStat.Stat(ImageChops.difference(img.crop(bottom), original.crop(bottom))).mean[1] > 40
    assert max(ImageStat.Stat(ImageChops.difference(img.crop(top), original.crop(top))).mean) < 3
    # white text inside the dark strip
    assert max(hi for _, hi in img.crop(bottom).getextrema()) > 200


def test_exif_orientation_applied_and_metadata_stripped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (31.0, 14.0, 0.0)}  # GPS IFD
    out = stamp_photo(jpeg((640, 480), exif=exif), when=WHEN, place="焊接车间")
    img = Image.open(io.BytesIO(out))
    assert img.size == (480, 640)  # portrait now: banner at the visual bottom
    assert not img.getexif()
    assert b"PhoneMaker" not in out


def test_large_photo_is_scaled_down() -> None:
    out = stamp_photo(jpeg((5000, 2500)), when=WHEN, place="仓库")
    assert Image.open(io.BytesIO(out)).size == (MAX_SIDE, MAX_SIDE // 2)


def test_png_with_alpha_becomes_jpeg() -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (300, 200), (255, 0, 0, 128)).save(buf, "PNG")
    out = stamp_photo(buf.getvalue(), at=WHEN, place="")
    assert Image.open(io.BytesIO(out)).format == "JPEG"


def test_banner_text_in_plant_time_with_place_and_coordinates() -> None:
    lines = banner_lines(WHEN, "  配电室\n东侧 ", 31.2304, -121.47, ZoneInfo("Asia/Shanghai"), "YH-2024-0001")
    assert lines[0] == "2024-05-01 10:03:04 CST  YH-2024-0001"
    assert lines[1] == "配电室 东侧"
    assert lines[2] == "31.230400°N  121.470000°W"
    assert len(banner_lines(WHEN, "", None, None, ZoneInfo("UTC"))) == 1


def test_not_an_image_is_refused() -> None:
    with pytest.raises(StampError):
        stamp_photo(b"not an image at all", when=WHEN, place="x")
