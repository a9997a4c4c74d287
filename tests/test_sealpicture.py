"""Seal pictures: the drawn round official seal, and uploaded pictures made transparent."""

from __future__ import annotations

import io
import math
import os
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from certlib import errors
from certlib.sealpicture import (
    MAX_PICTURE_BYTES,
    PictureTooLarge,
    SealTextTooLong,
    UnsupportedPicture,
    load_picture,
    picture_size_mm,
    round_seal,
    seal_layout,
)

ORGANISATION = "北京市某某科技有限公司"
CODE = "1101080012345"


def _open(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image


def _alpha(image: Image.Image, x: float, y: float) -> int:
    pixel = image.getpixel((round(x), round(y)))
    assert isinstance(pixel, tuple)
    return int(pixel[3])


def _ink_share(image: Image.Image, x: float, y: float, half: float) -> float:
    """Share of pixels with alpha >= 128 in the square of half-side `half` around (x, y)."""
    box = (round(x - half), round(y - half), round(x + half), round(y + half))
    alpha = image.getchannel("A").crop(box)
    histogram = alpha.histogram()
    return sum(histogram[128:]) / max(1, sum(histogram))


def _on_arc(centre: float, radius: float, angle: float) -> tuple[float, float]:
    radians = math.radians(angle)
    return centre + radius * math.sin(radians), centre - radius * math.cos(radians)


@pytest.fixture(scope="module")
def seal() -> bytes:
    return round_seal(ORGANISATION, "合同专用章", CODE)


# -- size and resolution -------------------------------------------------------------------


def test_default_seal_is_42_mm_at_300_dpi(seal: bytes) -> None:
    image = _open(seal)
    assert image.size == (496, 496)  # 42 mm / 25.4 * 300, rounded
    dpi = image.info["dpi"]
    assert dpi[0] == pytest.approx(300, abs=0.01) and dpi[1] == pytest.approx(300, abs=0.01)
    width, height = picture_size_mm(seal)
    assert width == pytest.approx(42, abs=25.4 / 300) and height == pytest.approx(42, abs=0.1)


@pytest.mark.parametrize(("diameter", "dpi", "pixels"), [(38.0, 600, 898), (58.0, 150, 343)])
def test_other_sizes_and_resolutions(diameter: float, dpi: int, pixels: int) -> None:
    png = round_seal("某某市人民政府", "公章", diameter_mm=diameter, dpi=dpi)
    image = _open(png)
    assert image.size == (pixels, pixels)
    width, _ = picture_size_mm(png)
    assert width == pytest.approx(diameter, abs=25.4 / dpi)


def test_same_input_gives_the_same_bytes(seal: bytes) -> None:
    assert round_seal(ORGANISATION, "合同专用章", CODE) == seal
    assert round_seal(ORGANISATION, "公章", CODE) != seal


# -- what the picture shows ----------------------------------------------------------------


def test_background_is_transparent_and_ink_is_red(seal: bytes) -> None:
    image = _open(seal)
    assert image.mode == "RGBA"
    last = image.width - 1
    for corner in ((0, 0), (last, 0), (0, last), (last, last), (3, 3), (last - 3, last - 3)):
        assert _alpha(image, *corner) == 0
    centre = image.width / 2
    red, green, blue, alpha = image.getpixel((round(centre), round(centre)))  # type: ignore[misc]
    assert alpha == 255 and red > 200 and green < 40 and blue < 60  # the star


def test_ring_is_red_all_round(seal: bytes) -> None:
    image = _open(seal)
    layout = seal_layout(ORGANISATION, "合同专用章", CODE)
    middle = layout.ring_radius - layout.ring_width / 2
    for angle in range(0, 360, 5):
        x, y = _on_arc(layout.centre, middle, angle)
        red, green, blue, alpha = image.getpixel((round(x), round(y)))  # type: ignore[misc]
        assert alpha > 200 and red > 200 and green < 40 and blue < 60, angle
        # ... and a clear gap inside it, before the characters.
        inside = _on_arc(layout.centre, layout.ring_radius - layout.ring_width - 3, angle)
        assert _alpha(image, *inside) == 0, angle


def test_star_has_five_points(seal: bytes) -> None:
    image = _open(seal)
    layout = seal_layout(ORGANISATION, "合同专用章", CODE)
    tip = layout.star_radius * 0.85
    for point in range(5):
        assert _alpha(image, *_on_arc(layout.centre, tip, point * 72)) > 128
        # Between two points, at the same distance, there is no ink.
        assert _alpha(image, *_on_arc(layout.centre, tip, point * 72 + 36)) == 0


def test_organisation_characters_are_along_the_upper_arc(seal: bytes) -> None:
    image = _open(seal)
    layout = seal_layout(ORGANISATION, "合同专用章", CODE)
    arc = layout.organisation
    assert arc.text == ORGANISATION
    assert len(arc.angles) == len(ORGANISATION)
    # Clockwise from lower left to lower right, evenly spaced, symmetric about the top.
    steps = {round(b - a, 6) for a, b in zip(arc.angles, arc.angles[1:], strict=False)}
    assert len(steps) == 1 and steps.pop() > 0
    assert arc.angles[0] == pytest.approx(-arc.angles[-1])
    assert 180 <= arc.angles[-1] - arc.angles[0] <= 250
    for angle in arc.angles:
        x, y = _on_arc(layout.centre, arc.radius, angle)
        assert _ink_share(image, x, y, arc.size / 3) > 0.15, angle
    # Centred on the top; the bottom of the circle is left to the code.
    assert min(abs(a) for a in arc.angles) < 15
    assert max(abs(a) for a in arc.angles) < 130


def test_code_runs_along_the_lower_arc_and_is_optional(seal: bytes) -> None:
    with_code = _open(seal)
    layout = seal_layout(ORGANISATION, "合同专用章", CODE)
    assert layout.code is not None
    angles = layout.code.angles
    assert angles[0] > 180 > angles[-1]  # left to right along the bottom
    for angle in angles:
        x, y = _on_arc(layout.centre, layout.code.radius, angle)
        assert _ink_share(with_code, x, y, layout.code.size / 2) > 0.05, angle

    without = _open(round_seal(ORGANISATION, "合同专用章"))
    for angle in angles:
        x, y = _on_arc(layout.centre, layout.code.radius, angle)
        assert _ink_share(without, x, y, layout.code.size / 2) == 0


def test_seal_name_sits_below_the_star(seal: bytes) -> None:
    image = _open(seal)
    layout = seal_layout(ORGANISATION, "合同专用章", CODE)
    y = layout.centre + layout.name_centre_y
    assert y - layout.name_size / 2 > layout.centre + layout.star_radius * 0.8
    advance = layout.name_size * layout.name_condense
    first = layout.centre - advance * 2
    for index in range(5):
        assert _ink_share(image, first + advance * index, y, layout.name_size / 3) > 0.15
    # Left and right of the line: no ink.
    assert _ink_share(image, first - advance * 1.2, y, layout.name_size / 4) == 0


def test_the_glyphs_drawn_are_those_of_the_text() -> None:
    """A dense character leaves more ink than a sparse one, in the same places."""
    dense = _open(round_seal("国国国国国国", "公章"))
    sparse = _open(round_seal("一一一一一一", "公章"))
    layout = seal_layout("国国国国国国", "公章")
    for angle in layout.organisation.angles:
        x, y = _on_arc(layout.centre, layout.organisation.radius, angle)
        half = layout.organisation.size / 2
        assert _ink_share(dense, x, y, half) > 2 * _ink_share(sparse, x, y, half) > 0


def test_long_names_are_condensed_then_refused() -> None:
    short = seal_layout("某某局")
    long = seal_layout("青海省西宁市城东区市场监督管理局")
    assert short.organisation.condense == 1.0
    assert long.organisation.condense < 1.0
    with pytest.raises(SealTextTooLong) as raised:
        round_seal("中华人民共和国某某省某某市某某区人民政府办公室")
    assert raised.value.field == "organisation"
    assert "办公室" not in str(raised.value)
    with pytest.raises(SealTextTooLong) as raised:
        round_seal("某某局", "某某某某某某某某专用章")
    assert raised.value.field == "seal_name"
    assert seal_layout("某某局", code="1" * 24).code is not None  # smaller digits
    with pytest.raises(SealTextTooLong) as raised:
        round_seal("某某局", code="1" * 25)
    assert raised.value.field == "code"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"organisation": ""}, "organisation"),
        ({"organisation": "某某\x00局"}, "organisation"),
        ({"organisation": "某某😀局"}, "organisation"),
        ({"organisation": "某某局", "seal_name": " "}, "seal_name"),
        ({"organisation": "某某局", "code": "12 34"}, "code"),
        ({"organisation": "某某局", "code": "一二三"}, "code"),
        ({"organisation": "某某局", "diameter_mm": 5}, "diameter_mm"),
        ({"organisation": "某某局", "dpi": 20}, "dpi"),
        ({"organisation": "某某局", "dpi": 300.5}, "dpi"),
    ],
)
def test_bad_texts_and_sizes_are_input_errors(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(errors.InputError, match=field):
        round_seal(**arguments)  # type: ignore[arg-type]


# -- uploaded pictures ---------------------------------------------------------------------


def _scan(size: int = 480, fmt: str = "PNG", background: str = "white") -> bytes:
    """A scanned seal: a red ring and disc on white paper, with a pale pink halo."""
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((10, 10, size - 10, size - 10), outline=(255, 200, 200), width=20)
    draw.ellipse((20, 20, size - 20, size - 20), outline=(220, 0, 0), width=12)
    draw.ellipse((size // 2 - 40, size // 2 - 40, size // 2 + 40, size // 2 + 40),
                 fill=(220, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=95)
    return buffer.getvalue()


def test_uploaded_png_becomes_transparent_with_its_size_recorded() -> None:
    png = load_picture(_scan(), 40, 40)
    image = _open(png)
    assert image.mode == "RGBA" and image.size == (480, 480)
    assert picture_size_mm(png) == pytest.approx((40, 40), abs=0.05)
    assert _alpha(image, 2, 2) == 0                       # paper
    red, green, blue, alpha = image.getpixel((240, 240))  # type: ignore[misc]
    assert alpha == 255 and (red, green, blue) == (220, 0, 0)
    # The pale halo is unblended: red ink, partly transparent.
    red, green, blue, alpha = image.getpixel((15, 240))  # type: ignore[misc]
    assert 0 < alpha < 128 and red > 200 and green < 30 and blue < 30


def test_uploaded_jpeg_is_accepted_and_white_kept_when_asked() -> None:
    jpeg = _scan(fmt="JPEG")
    kept = _open(load_picture(jpeg, 40, 40, white_to_transparent=False))
    assert _alpha(kept, 2, 2) == 255
    cleared = _open(load_picture(jpeg, 40, 40))
    assert _alpha(cleared, 2, 2) == 0
    assert _alpha(cleared, 240, 240) > 240


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels, with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_huge_dimensions_are_refused_before_decoding() -> None:
    with pytest.raises(PictureTooLarge):
        load_picture(_png_header_only(100_000, 100_000), 40, 40)
    with pytest.raises(PictureTooLarge):
        load_picture(_png_header_only(5000, 5000), 40, 40)


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(2048),
        b"",
        b"GIF89a" + bytes(64),
        _scan()[:200],                   # truncated PNG
        b"\xff\xd8\xff" + bytes(100),    # a JPEG marker and nothing else
    ],
    ids=["random", "empty", "gif", "truncated-png", "bare-jpeg-marker"],
)
def test_unreadable_or_other_formats_are_refused(data: bytes) -> None:
    with pytest.raises(UnsupportedPicture):
        load_picture(data, 40, 40)


def test_real_gif_and_webp_are_refused() -> None:
    for fmt in ("GIF", "WEBP"):
        buffer = io.BytesIO()
        Image.new("RGB", (400, 400), "red").save(buffer, format=fmt)
        with pytest.raises(UnsupportedPicture):
            load_picture(buffer.getvalue(), 40, 40)


def test_size_and_shape_limits() -> None:
    with pytest.raises(PictureTooLarge):
        load_picture(b"\x89PNG\r\n\x1a\n" + bytes(MAX_PICTURE_BYTES), 40, 40)
    with pytest.raises(errors.InputError, match="shape"):
        load_picture(_scan(), 40, 30)
    with pytest.raises(errors.InputError, match="pixels per inch"):
        load_picture(_scan(size=100), 40, 40)        # 63 dpi at 40 mm
    with pytest.raises(errors.InputError, match="width_mm"):
        load_picture(_scan(), 500, 500)
    with pytest.raises(errors.InputError, match="height_mm"):
        load_picture(_scan(), 40, float("nan"))
    with pytest.raises(errors.InputError):
        load_picture("not bytes", 40, 40)  # type: ignore[arg-type]


def test_picture_size_needs_a_png_with_a_resolution() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (100, 100)).save(buffer, format="PNG")
    with pytest.raises(errors.InputError):
        picture_size_mm(buffer.getvalue())
    with pytest.raises(UnsupportedPicture):
        picture_size_mm(b"not a png")
