"""Field kinds of certificate types and the one canonical string form of each.

Field values are hashed with salts for selective disclosure, so each value has exactly
one canonical UTF-8 string. `FieldSpec.canonical(value)` accepts the usual input forms
and returns that string; a canonical string given back is returned unchanged.

- string: Unicode NFC, surrounding white space removed, no control characters (line
  feeds only where `multiline`; CR LF becomes LF). Input: str.
- date: `YYYY-MM-DD` (ISO 8601, years 1000-9999), or `长期` for an open end where the
  field is `open_ended`. Input: `datetime.date` (not a datetime), `YYYY-MM-DD`,
  `YYYYMMDD`, `YYYY.M.D`, `YYYY/M/D`, `YYYY年M月D日`, `长期`, `long-term`.
- time: `HH:MM`, 24 hours, local time. Input: `datetime.time` in whole minutes, `H:MM`,
  `HH:MM:00`.
- integer: decimal digits, `-` for negatives, no leading zeros, no `+`. Input: int (not
  bool), an integral float, a digit string.
- decimal: plain notation, no exponent, no leading zeros, no trailing fractional zeros,
  no trailing `.`, `0` for zero. Input: int, `decimal.Decimal`, a finite float (by its
  shortest repr, so JSON numbers keep their digits), `[+-]digits[.digits]`.
- boolean: `true` or `false`. Input: bool, `true`/`false`/`是`/`否`.
- enum: the choice's value (e.g. the GB/T 2261.1 sex code `1`). Input: the value, its
  labels or an alias (ASCII case-insensitively).
- region: the six-digit GB/T 2260 code.
- id_number: 18 characters with an upper-case `X` (GB 11643).
- uscc: 18 upper-case characters (GB 32100).
- binary: RFC 4648 base64 with padding and no line breaks. Input: bytes or base64 text.

Codes (date, time, integer, decimal, boolean, region, id_number, uscc) are folded with
NFKC first, so full-width digits typed by Chinese input methods are accepted.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Literal

from certlib import ids, regions
from certlib.types.errors import InvalidFieldValue

LONG_TERM = "长期"
_LONG_TERM_INPUTS = frozenset({LONG_TERM, "long-term", "long term"})

FieldKind = Literal[
    "string",
    "date",
    "time",
    "integer",
    "decimal",
    "boolean",
    "enum",
    "region",
    "id_number",
    "uscc",
    "binary",
]
FIELD_KINDS: tuple[FieldKind, ...] = (
    "string",
    "date",
    "time",
    "integer",
    "decimal",
    "boolean",
    "enum",
    "region",
    "id_number",
    "uscc",
    "binary",
)
CheckPolicy = Literal["reject", "warn"]
RegionPolicy = Literal["require", "warn", "ignore"]

DEFAULT_MAX_LENGTH = 500
DEFAULT_MAX_LENGTH_MULTILINE = 8000
DEFAULT_MAX_BYTES = 1 << 20

_DATE_FORMS = (
    re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"),
    re.compile(r"(?P<y>[0-9]{4})(?P<s>[-./])(?P<m>[0-9]{1,2})(?P=s)(?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<y>[0-9]{4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})日"),
)
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::00)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_TRUE = frozenset({"true", "是"})
_FALSE = frozenset({"false", "否"})

Canonical = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Choice:
    """One value of an enum field: the canonical value, its labels and accepted aliases."""

    value: str
    label_zh: str
    label_en: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgeOver:
    """A boolean derived from a birth-date field: whether the holder is at least `years` old."""

    years: int
    source: str


def age_on(birth: date, on: date) -> int:
    """Completed years of age on `on` of someone born on `birth`."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def parse_canonical_date(text: str) -> date | None:
    """The date a canonical date value stands for; None for `长期` (no end)."""
    if text == LONG_TERM:
        return None
    return date.fromisoformat(text)


@dataclass(frozen=True)
class FieldSpec:
    """One field of a certificate type: kind, labels, flags and validators."""

    type_id: str
    name: str
    kind: FieldKind
    label_zh: str
    label_en: str
    required: bool = False
    personal: bool = True
    description: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    multiline: bool = False
    choices: tuple[Choice, ...] = ()
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    scale: int | None = None
    open_ended: bool = False
    not_in_future: bool = False
    check_digit: CheckPolicy = "reject"
    known_region: RegionPolicy = "warn"
    max_bytes: int | None = None
    derive: AgeOver | None = None

    def _invalid(self, message: str) -> InvalidFieldValue:
        return InvalidFieldValue(message, type_id=self.type_id, field=self.name)

    def canonical(self, value: object, *, on: date | None = None) -> Canonical:
        """The canonical string of `value` and any warnings; raise InvalidFieldValue if bad."""
        encoder = _ENCODERS[self.kind]
        text, warnings = encoder(self, value, on or date.today())
        if self.pattern is not None and re.fullmatch(self.pattern, text) is None:
            raise self._invalid("does not match the pattern of the field")
        return text, warnings

    def display(self, canonical: str, lang: Literal["zh", "en"] = "zh") -> str:
        """The value as a person reads it (enum labels; everything else as is)."""
        if self.kind == "enum":
            for choice in self.choices:
                if choice.value == canonical:
                    return choice.label_en if lang == "en" and choice.label_en else choice.label_zh
        if self.kind == "boolean":
            yes = canonical == "true"
            return ("是" if yes else "否") if lang == "zh" else ("yes" if yes else "no")
        return canonical


# -- encoders ------------------------------------------------------------------------------


def _text(spec: FieldSpec, value: object, what: str) -> str:
    if not isinstance(value, str):
        raise spec._invalid(f"must be {what}")
    return value


def _code(spec: FieldSpec, value: object, what: str) -> str:
    return unicodedata.normalize("NFKC", _text(spec, value, what)).strip()


def _length(spec: FieldSpec, text: str, default: int) -> None:
    maximum = spec.max_length if spec.max_length is not None else default
    if len(text) > maximum:
        raise spec._invalid(f"is longer than {maximum} characters")
    if spec.min_length is not None and len(text) < spec.min_length:
        raise spec._invalid(f"is shorter than {spec.min_length} characters")


def _string(spec: FieldSpec, value: object, on: date) -> Canonical:
    text = unicodedata.normalize("NFC", _text(spec, value, "a string")).strip()
    if spec.multiline:
        text = text.replace("\r\n", "\n")
    for character in text:
        if unicodedata.category(character) == "Cc" and not (spec.multiline and character == "\n"):
            raise spec._invalid("contains a control character")
    _length(spec, text, DEFAULT_MAX_LENGTH_MULTILINE if spec.multiline else DEFAULT_MAX_LENGTH)
    return text, ()


def _date(spec: FieldSpec, value: object, on: date) -> Canonical:
    if isinstance(value, datetime):
        raise spec._invalid("must be a date, not a date and time")
    if isinstance(value, date):
        parsed = value
    else:
        text = _code(spec, value, "a date")
        if text.lower() in _LONG_TERM_INPUTS:
            if not spec.open_ended:
                raise spec._invalid("has no open end (长期)")
            return LONG_TERM, ()
        match = next((m for form in _DATE_FORMS if (m := form.fullmatch(text))), None)
        if match is None:
            raise spec._invalid("is not a date (YYYY-MM-DD)")
        try:
            parsed = date(int(match["y"]), int(match["m"]), int(match["d"]))
        except ValueError:
            raise spec._invalid("is not a calendar date") from None
    if parsed.year < 1000:
        raise spec._invalid("has a year before 1000")
    if spec.not_in_future and parsed > on:
        raise spec._invalid("lies in the future")
    return parsed.isoformat(), ()


def _time(spec: FieldSpec, value: object, on: date) -> Canonical:
    if isinstance(value, time):
        if value.second or value.microsecond or value.tzinfo is not None:
            raise spec._invalid("must be a local time in whole minutes")
        return f"{value.hour:02d}:{value.minute:02d}", ()
    match = _TIME.fullmatch(_code(spec, value, "a time"))
    if match is None:
        raise spec._invalid("is not a time (HH:MM)")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise spec._invalid("is not a time of day")
    return f"{hour:02d}:{minute:02d}", ()


def _bounds(spec: FieldSpec, number: Decimal) -> None:
    if spec.minimum is not None and number < spec.minimum:
        raise spec._invalid("is below the minimum of the field")
    if spec.maximum is not None and number > spec.maximum:
        raise spec._invalid("is above the maximum of the field")


def _integer(spec: FieldSpec, value: object, on: date) -> Canonical:
    if isinstance(value, bool):
        raise spec._invalid("must be an integer, not a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise spec._invalid("must be a whole number")
        value = int(value)
    if isinstance(value, int):
        number = value
    else:
        text = _code(spec, value, "an integer")
        if len(text) > 40 or not _INTEGER.fullmatch(text):
            raise spec._invalid("is not an integer")
        number = int(text)
    if abs(number) >= 10**40:
        raise spec._invalid("is out of range")
    _bounds(spec, Decimal(number))
    return str(number), ()


def _decimal(spec: FieldSpec, value: object, on: date) -> Canonical:
    if isinstance(value, bool):
        raise spec._invalid("must be a number, not a boolean")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise spec._invalid("must be a finite number")
        value = repr(value)
        if "e" in value or "E" in value:
            value = format(Decimal(value), "f")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise spec._invalid("must be a finite number")
        number = value
    else:
        text = _code(spec, value, "a decimal number")
        if len(text) > 60 or not _DECIMAL.fullmatch(text):
            raise spec._invalid("is not a decimal number (digits, optional point)")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise spec._invalid("is not a decimal number") from None
    if abs(number.adjusted()) > 40:
        raise spec._invalid("is out of range")
    _bounds(spec, number)
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if spec.scale is not None and "." in text and len(text.split(".")[1]) > spec.scale:
        raise spec._invalid(f"has more than {spec.scale} decimal places")
    return text, ()


def _boolean(spec: FieldSpec, value: object, on: date) -> Canonical:
    if isinstance(value, bool):
        return ("true" if value else "false"), ()
    text = _code(spec, value, "true or false").lower()
    if text in _TRUE:
        return "true", ()
    if text in _FALSE:
        return "false", ()
    raise spec._invalid("is not true or false")


def _fold(text: str) -> str:
    return text.lower() if text.isascii() else text


def _enum(spec: FieldSpec, value: object, on: date) -> Canonical:
    text = _fold(unicodedata.normalize("NFKC", _text(spec, value, "a string")).strip())
    for choice in spec.choices:
        names = (choice.value, choice.label_zh, choice.label_en or "", *choice.aliases)
        if any(text == _fold(name) for name in names if name):
            return choice.value, ()
    raise spec._invalid("is not one of the values the field allows")


def _region(spec: FieldSpec, value: object, on: date) -> Canonical:
    text = _code(spec, value, "a region code")
    if not regions.is_well_formed(text):
        raise spec._invalid("is not a six-digit GB/T 2260 region code")
    if spec.known_region != "ignore" and not regions.lookup(text).known:
        if spec.known_region == "require":
            raise spec._invalid("is not in the bundled GB/T 2260 list")
        return text, ("region code not in the bundled GB/T 2260 list",)
    return text, ()


def _checked(
    spec: FieldSpec, value: object, what: str, check: Callable[[str], ids.CheckedCode]
) -> Canonical:
    try:
        checked = check(_code(spec, value, what))
    except ids.MalformedIdentifier as error:
        raise spec._invalid(error.message) from None
    if checked.warnings and spec.check_digit == "reject":
        raise spec._invalid("check character does not match")
    return checked.value, checked.warnings


def _id_number(spec: FieldSpec, value: object, on: date) -> Canonical:
    return _checked(spec, value, "an ID number", lambda text: ids.check_id_number(text, on=on))


def _uscc(spec: FieldSpec, value: object, on: date) -> Canonical:
    return _checked(spec, value, "a unified social credit code", ids.check_uscc)


def _binary(spec: FieldSpec, value: object, on: date) -> Canonical:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    else:
        text = _text(spec, value, "bytes or base64 text").strip()
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise spec._invalid("is not base64") from None
    limit = spec.max_bytes if spec.max_bytes is not None else DEFAULT_MAX_BYTES
    if len(data) > limit:
        raise spec._invalid(f"is larger than {limit} bytes")
    return base64.b64encode(data).decode("ascii"), ()


_ENCODERS: dict[str, Callable[[FieldSpec, object, date], Canonical]] = {
    "string": _string,
    "date": _date,
    "time": _time,
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "enum": _enum,
    "region": _region,
    "id_number": _id_number,
    "uscc": _uscc,
    "binary": _binary,
}
