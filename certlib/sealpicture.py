"""Seal pictures: the round red official seal (公章) drawn from its texts, and uploaded pictures.

A drawn seal has a red ring, a five-pointed star in the centre, the organisation's name along
the upper arc (each character turned to follow the arc, clockwise from lower left to lower
right), the seal's name (公章, 合同专用章, ...) in a line below the star and, optionally, the
seal code (the 13-digit 印章编码) in small characters along the lower arc. Every picture is a
PNG with an alpha channel whose pHYs chunk records its resolution, so its physical size is
known (`picture_size_mm`). See docs/seals-pdf.md.
"""

from __future__ import annotations

import functools
import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageMath, ImageOps, UnidentifiedImageError

from certlib.errors import InputError, MalformedInput, UnavailableError
from certlib.render import CjkFont, find_cjk_font

MM_PER_INCH = 25.4
DEFAULT_DIAMETER_MM = 42.0
"""The usual diameter of an organisation's official seal (公章)."""
DEFAULT_DPI = 300
SEAL_RED = (230, 0, 18)
"""The ink: a saturated vermilion red, as official seals are printed."""

MIN_DIAMETER_MM = 20.0
MAX_DIAMETER_MM = 80.0
MIN_DPI = 150
MAX_DPI = 1200

MAX_PICTURE_BYTES = 8 * 1024 * 1024
"""Largest uploaded picture file."""
MAX_PICTURE_PIXELS = 4096 * 4096
"""Most pixels an uploaded picture may declare (checked before it is decoded)."""
MIN_PICTURE_SIDE_PX = 32
MIN_SIDE_MM = 10.0
MAX_SIDE_MM = 100.0
MIN_UPLOAD_DPI = 96
"""An uploaded picture needs at least this many pixels per inch at its stated size."""
ASPECT_TOLERANCE = 0.03
"""How far an uploaded picture's shape may differ from width_mm x height_mm (relative)."""

MAX_ORGANISATION_CHARS = 40
MAX_SEAL_NAME_CHARS = 12
MAX_CODE_CHARS = 24

_SUPERSAMPLE = 4
"""Drawn at four times the size, then averaged down: smooth edges on the ring and star."""
_WHITE_THRESHOLD = 24
"""Paper within this distance of white becomes fully transparent."""

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


class SealTextTooLong(InputError):
    """A text does not fit on the seal even at the smallest allowed character size."""

    code = "SEAL_TEXT_TOO_LONG"

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is too long to fit on the seal")
        self.field = field


class UnsupportedPicture(MalformedInput):
    """An uploaded picture that is not a readable PNG or JPEG."""

    code = "SEAL_PICTURE_UNSUPPORTED"


class PictureTooLarge(InputError):
    """An uploaded picture beyond the size limits (bytes or pixels)."""

    code = "SEAL_PICTURE_TOO_LARGE"


# -- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArcText:
    """Characters along a circle: each centred at `radius`, at its angle in degrees.

    Angles are measured clockwise from the top of the seal (0 = 12 o'clock, 90 = 3 o'clock).
    `size` is the character height and `condense` the horizontal scale of each glyph.
    """

    text: str
    radius: float
    angles: tuple[float, ...]
    size: float
    condense: float


@dataclass(frozen=True)
class SealLayout:
    """Where everything of a round seal goes, in pixels of the final picture."""

    size_px: int
    """Width and height of the picture."""
    ring_radius: float
    """Outer radius of the ring."""
    ring_width: float
    star_radius: float
    """Radius of the circle through the star's points."""
    organisation: ArcText
    """Along the upper arc, characters upright pointing outwards."""
    seal_name: str
    name_centre_y: float
    """Centre of the seal name's line, down from the seal's centre."""
    name_size: float
    name_condense: float
    code: ArcText | None
    """Along the lower arc, characters upright pointing inwards."""

    @property
    def centre(self) -> float:
        """The seal's centre (x and y) in pixels."""
        return self.size_px / 2


# Proportions of a 42 mm official seal (GA 241-2000 style), as fractions of the diameter.
_RING = 1.2 / 42          # ring width 1.2 mm
_GAP = 0.8 / 42           # between ring and the name's characters
_STAR = 7.0 / 42          # star: 14 mm across its points
_ORG_SIZE = 6.6 / 42      # organisation characters about 6.6 mm tall
_ORG_MIN_CONDENSE = 0.6
_ORG_MIN_SCALE = 0.75
_ORG_MAX_SPAN = 220.0     # degrees of arc the organisation may take
_ORG_SPACING = 1.12       # advance per character, relative to the character width
_ORG_MIN_SPAN = 180.0     # short names are spread over at least this many degrees ...
_ORG_MAX_SPREAD = 1.8     # ... with gaps of at most this many character advances
_NAME_SIZE = 4.6 / 42
_NAME_Y = 11.2 / 42       # the seal name's centre, below the seal's centre
_NAME_MAX_WIDTH = 18.0 / 42
_NAME_MIN_CONDENSE = 0.6
_NAME_MIN_SCALE = 0.8
_CODE_SIZE = 2.4 / 42
_CODE_GAP = 0.9 / 42
_CODE_MAX_SPAN = 90.0
_CODE_MIN_SCALE = 0.75
_DIGIT_WIDTH = 0.56       # advance of a digit, relative to its height (Noto Sans CJK)


def _arc_angles(count: int, step: float, centre: float) -> tuple[float, ...]:
    """`count` angles `step` degrees apart, centred on `centre`."""
    first = centre - step * (count - 1) / 2
    return tuple(first + step * index for index in range(count))


def _organisation_arc(text: str, diameter: float) -> ArcText:
    """The organisation's characters on the upper arc: condensed, then smaller, if needed."""
    count = len(text)
    outer = diameter / 2 - diameter * (_RING + _GAP)
    for scale in _steps(1.0, _ORG_MIN_SCALE):
        size = diameter * _ORG_SIZE * scale
        radius = outer - size / 2
        for condense in _steps(1.0, _ORG_MIN_CONDENSE):
            # Measured at the characters' inner edge, where they come closest.
            step = math.degrees(size * condense * _ORG_SPACING / (radius - size / 2))
            gaps = max(count - 1, 1)
            if step * gaps <= _ORG_MAX_SPAN:
                # As on real seals, short names are spread over about 180 degrees.
                spread = min(max(step, _ORG_MIN_SPAN / gaps), _ORG_MAX_SPREAD * step)
                return ArcText(text, radius, _arc_angles(count, spread, 0.0), size, condense)
    raise SealTextTooLong("organisation")


def _code_arc(code: str, diameter: float) -> ArcText:
    """The seal code's characters on the lower arc, read left to right."""
    outer = diameter / 2 - diameter * (_RING + _CODE_GAP)
    for scale in _steps(1.0, _CODE_MIN_SCALE):
        size = diameter * _CODE_SIZE * scale
        radius = outer - size / 2
        step = math.degrees(size * _DIGIT_WIDTH * 1.15 / radius)
        if step * (len(code) - 1) <= _CODE_MAX_SPAN:
            # Left to right along the bottom is counter-clockwise: decreasing angles.
            angles = _arc_angles(len(code), -step, 180.0)
            return ArcText(code, radius, angles, size, 1.0)
    raise SealTextTooLong("code")


def _name_fit(name: str, diameter: float) -> tuple[float, float]:
    """(size, condense) of the seal name so that its line fits below the star."""
    for scale in _steps(1.0, _NAME_MIN_SCALE):
        size = diameter * _NAME_SIZE * scale
        condense = min(1.0, diameter * _NAME_MAX_WIDTH / (size * len(name)))
        if condense >= _NAME_MIN_CONDENSE:
            return size, condense
    raise SealTextTooLong("seal_name")


def _steps(start: float, stop: float, count: int = 9) -> Sequence[float]:
    """`count` values from `start` down to `stop`, both included."""
    return [start + (stop - start) * index / (count - 1) for index in range(count)]


def seal_layout(
    organisation: str,
    seal_name: str = "公章",
    code: str | None = None,
    diameter_mm: float = DEFAULT_DIAMETER_MM,
    dpi: int = DEFAULT_DPI,
) -> SealLayout:
    """Where `round_seal` puts the ring, star and texts; raises InputError if a text won't fit."""
    organisation, seal_name, code = _checked_texts(organisation, seal_name, code)
    size_px = _pixels(diameter_mm, dpi)
    diameter = float(size_px)
    name_size, name_condense = _name_fit(seal_name, diameter)
    return SealLayout(
        size_px=size_px,
        ring_radius=diameter / 2 - 1.0,
        ring_width=max(2.0, diameter * _RING),
        star_radius=diameter * _STAR,
        organisation=_organisation_arc(organisation, diameter),
        seal_name=seal_name,
        name_centre_y=diameter * _NAME_Y,
        name_size=name_size,
        name_condense=name_condense,
        code=_code_arc(code, diameter) if code is not None else None,
    )


def _pixels(diameter_mm: float, dpi: int) -> int:
    if isinstance(diameter_mm, bool) or not isinstance(diameter_mm, int | float):
        raise InputError("diameter_mm must be a number")
    if not MIN_DIAMETER_MM <= diameter_mm <= MAX_DIAMETER_MM:
        raise InputError(
            f"diameter_mm must be between {MIN_DIAMETER_MM:g} and {MAX_DIAMETER_MM:g}"
        )
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise InputError(f"dpi must be a whole number between {MIN_DPI} and {MAX_DPI}")
    return round(diameter_mm / MM_PER_INCH * dpi)


def _checked_texts(
    organisation: str, seal_name: str, code: str | None
) -> tuple[str, str, str | None]:
    """The texts, stripped; InputError naming the field for empty, overlong or odd ones."""
    checked = []
    for field, given, limit in (("organisation", organisation, MAX_ORGANISATION_CHARS),
                                ("seal_name", seal_name, MAX_SEAL_NAME_CHARS)):
        if not isinstance(given, str):
            raise InputError(f"{field} must be a string")
        text = "".join(given.split())  # seals carry no spaces
        if not text:
            raise InputError(f"{field} is empty")
        if len(text) > limit:
            raise SealTextTooLong(field)
        if any(unicodedata.category(ch).startswith("C") for ch in text):
            raise InputError(f"{field} contains control or unassigned characters")
        checked.append(text)
    if code is not None:
        if not isinstance(code, str):
            raise InputError("code must be a string or None")
        code = code.strip()
        if not code or not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in code):
            raise InputError("code must be ASCII letters, digits or '-'")
        if len(code) > MAX_CODE_CHARS:
            raise SealTextTooLong("code")
    return checked[0], checked[1], code


# -- drawing --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _coverage(font: CjkFont) -> frozenset[int]:
    """Code points the font has glyphs for."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # noqa: PLC0415

    with TTFont(str(font.path), fontNumber=font.collection_index, lazy=True) as parsed:
        cmap = parsed.getBestCmap()
    return frozenset(cmap or {})


@functools.lru_cache(maxsize=32)
def _font(font: CjkFont, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font.path), size=size, index=font.collection_index)


def _require_glyphs(font: CjkFont, field: str, text: str) -> None:
    try:
        coverage = _coverage(font)
    except (OSError, ValueError, KeyError, AssertionError) as error:
        raise UnavailableError(f"the CJK font {font.path} cannot be loaded") from error
    missing = {ch for ch in text if ord(ch) not in coverage}
    if missing:
        raise InputError(f"{field} has {len(missing)} character(s) the font cannot show")


def _glyph(font: CjkFont, char: str, size: float, condense: float) -> Image.Image:
    """One character as an ink mask, centred in a square tile of twice its size."""
    pixels = max(4, round(size))
    tile = Image.new("L", (pixels * 2, pixels * 2), 0)
    draw = ImageDraw.Draw(tile)
    stroke = max(1, round(pixels / 36))  # the heavier strokes of seal lettering
    draw.text((pixels, pixels), char, fill=255, font=_font(font, pixels), anchor="mm",
              stroke_width=stroke, stroke_fill=255)
    if condense < 1.0:
        narrow = tile.resize((max(2, round(tile.width * condense)), tile.height),
                             Image.Resampling.LANCZOS)
        tile = Image.new("L", tile.size, 0)
        tile.paste(narrow, ((tile.width - narrow.width) // 2, 0))
    return tile


def _stamp(ink: Image.Image, tile: Image.Image, x: float, y: float) -> None:
    """Add `tile` to `ink`, centred on (x, y); overlaps keep the stronger ink."""
    left, top = round(x - tile.width / 2), round(y - tile.height / 2)
    box = (left, top, left + tile.width, top + tile.height)
    ink.paste(ImageChops.lighter(ink.crop(box), tile), box)


def _draw_arc(ink: Image.Image, font: CjkFont, arc: ArcText, centre: float, scale: int,
              *, outward: bool) -> None:
    for char, angle in zip(arc.text, arc.angles, strict=True):
        tile = _glyph(font, char, arc.size * scale, arc.condense)
        # Upright points away from the centre (upper arc) or towards it (lower arc).
        turn = -angle if outward else 180.0 - angle
        tile = tile.rotate(turn, resample=Image.Resampling.BICUBIC)
        radians = math.radians(angle)
        x = centre + arc.radius * scale * math.sin(radians)
        y = centre - arc.radius * scale * math.cos(radians)
        _stamp(ink, tile, x, y)


def _star_points(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for index in range(10):
        r = radius if index % 2 == 0 else inner
        angle = math.radians(-90 + 36 * index)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def round_seal(
    organisation: str,
    seal_name: str = "公章",
    code: str | None = None,
    diameter_mm: float = DEFAULT_DIAMETER_MM,
    dpi: int = DEFAULT_DPI,
) -> bytes:
    """A round red official seal as a transparent PNG of `diameter_mm` at `dpi`."""
    layout = seal_layout(organisation, seal_name, code, diameter_mm, dpi)
    font = find_cjk_font()
    _require_glyphs(font, "organisation", layout.organisation.text)
    _require_glyphs(font, "seal_name", layout.seal_name)
    if layout.code is not None:
        _require_glyphs(font, "code", layout.code.text)

    scale = _SUPERSAMPLE
    side = layout.size_px * scale
    centre = side / 2
    ink = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(ink)
    outer = layout.ring_radius * scale
    draw.ellipse((centre - outer, centre - outer, centre + outer, centre + outer),
                 outline=255, width=round(layout.ring_width * scale))
    draw.polygon(_star_points(centre, centre, layout.star_radius * scale), fill=255)

    _draw_arc(ink, font, layout.organisation, centre, scale, outward=True)
    if layout.code is not None:
        _draw_arc(ink, font, layout.code, centre, scale, outward=False)

    name_y = centre + layout.name_centre_y * scale
    name_size = layout.name_size * scale
    advance = name_size * layout.name_condense
    first_x = centre - advance * (len(layout.seal_name) - 1) / 2
    for index, char in enumerate(layout.seal_name):
        tile = _glyph(font, char, name_size, layout.name_condense)
        _stamp(ink, tile, first_x + advance * index, name_y)

    alpha = ink.reduce(scale)
    picture = Image.new("RGBA", alpha.size, (*SEAL_RED, 0))
    picture.putalpha(alpha)
    return _png(picture, (dpi, dpi))


# -- uploaded pictures ----------------------------------------------------------------------


def _png(picture: Image.Image, dpi: tuple[float, float]) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", dpi=dpi)
    return buffer.getvalue()


def _side_mm(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InputError(f"{name} must be a number")
    if not MIN_SIDE_MM <= value <= MAX_SIDE_MM:
        raise InputError(f"{name} must be between {MIN_SIDE_MM:g} and {MAX_SIDE_MM:g} mm")
    return float(value)


def _open_picture(data: bytes) -> Image.Image:
    """The picture, decoded, after checking its format and declared size."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError("the picture must be bytes")
    data = bytes(data)
    if len(data) > MAX_PICTURE_BYTES:
        raise PictureTooLarge(f"the picture file is larger than {MAX_PICTURE_BYTES} bytes")
    if data.startswith(_PNG_MAGIC):
        kind = "PNG"
    elif data.startswith(_JPEG_MAGIC):
        kind = "JPEG"
    else:
        raise UnsupportedPicture("the picture must be a PNG or JPEG file")
    try:
        image = Image.open(io.BytesIO(data), formats=[kind])
    except Image.DecompressionBombError as error:
        raise PictureTooLarge(f"the picture has more than {MAX_PICTURE_PIXELS} pixels") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise UnsupportedPicture(f"the picture is not a readable {kind} file") from error
    try:
        width, height = image.size
        if width * height > MAX_PICTURE_PIXELS:
            raise PictureTooLarge(f"the picture has more than {MAX_PICTURE_PIXELS} pixels")
        if min(width, height) < MIN_PICTURE_SIDE_PX:
            raise InputError(f"the picture is smaller than {MIN_PICTURE_SIDE_PX} pixels a side")
        if getattr(image, "n_frames", 1) != 1:
            raise UnsupportedPicture("animated pictures are not accepted")
        if image.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr"):
            raise UnsupportedPicture(f"pictures in mode {image.mode} are not accepted")
        image.load()
        transposed = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
            Image.DecompressionBombError) as error:
        raise UnsupportedPicture(
            f"the picture is not a readable {kind} file ({type(error).__name__})"
        ) from error
    return transposed if transposed is not None else image


def _white_to_transparent(picture: Image.Image) -> Image.Image:
    """Paper white becomes transparent; ink keeps its colour, unblended from the white."""
    red, green, blue, alpha = picture.split()
    darkest = ImageChops.darker(ImageChops.darker(red, green), blue)
    strength = ImageChops.invert(darkest)  # 0 for white paper, 255 for full ink
    span = 255 - _WHITE_THRESHOLD
    ramp = strength.point(
        [0 if v <= _WHITE_THRESHOLD else round((v - _WHITE_THRESHOLD) * 255 / span)
         for v in range(256)]
    )

    def unblend(channel: Image.Image) -> Image.Image:
        # c = a * ink + (1 - a) * 255  =>  ink = 255 - (255 - c) * 255 / a
        result = ImageMath.lambda_eval(
            lambda args: 255 - (255 - args["c"]) * 255 / args["a"], c=channel, a=strength
        )
        assert isinstance(result, Image.Image)
        return result.convert("L")

    return Image.merge(
        "RGBA",
        (unblend(red), unblend(green), unblend(blue), ImageChops.darker(alpha, ramp)),
    )


def load_picture(
    data: bytes, width_mm: float, height_mm: float, *, white_to_transparent: bool = True
) -> bytes:
    """An uploaded PNG or JPEG seal picture as a transparent PNG recording its size in mm."""
    width_mm = _side_mm(width_mm, "width_mm")
    height_mm = _side_mm(height_mm, "height_mm")
    image = _open_picture(data)
    width, height = image.size
    shape = (width / height) / (width_mm / height_mm)
    if abs(shape - 1) > ASPECT_TOLERANCE:
        raise InputError("the picture's shape does not match width_mm x height_mm")
    dpi = (width / (width_mm / MM_PER_INCH), height / (height_mm / MM_PER_INCH))
    if min(dpi) < MIN_UPLOAD_DPI:
        raise InputError(
            f"the picture has fewer than {MIN_UPLOAD_DPI} pixels per inch at its stated size"
        )
    picture = image.convert("RGBA")
    if white_to_transparent:
        picture = _white_to_transparent(picture)
    return _png(picture, dpi)


def picture_size_mm(png: bytes) -> tuple[float, float]:
    """Width and height in millimetres that a PNG records (its pHYs resolution)."""
    try:
        image = Image.open(io.BytesIO(png), formats=["PNG"])
    except (UnidentifiedImageError, OSError, ValueError, TypeError) as error:
        raise UnsupportedPicture("not a readable PNG file") from error
    dpi = image.info.get("dpi")
    if not dpi or not all(value > 0 for value in dpi):
        raise InputError("the PNG records no physical size (pHYs)")
    return (image.width / dpi[0] * MM_PER_INCH, image.height / dpi[1] * MM_PER_INCH)
