"""Chinese identifiers and their check characters.

- ISO/IEC 7064 MOD 37,36 (hybrid) and MOD 11-2 check characters.
- GB/T 36904 certificate identifiers (电子证照标识)
  `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`.
- GB 32100 unified social credit codes (统一社会信用代码, USCC).
- GB 11643 citizen identity numbers (公民身份号码).

Policy: structure is enforced, check characters are reported. Input that does not have
the structure raises `MalformedIdentifier` (a `MalformedInput`). A check character that
does not match is *not* an error: real identifiers from some provinces (Shandong's 32-hex
serials) and early pilot USCCs (91350100M0001TGQXM) are legal yet fail their check, so
the functions return warnings (`ParsedIdentifier.warnings`, `CheckedCode.warnings`) and
the caller decides. `is_valid_uscc` / `is_valid_id_number` give the strict yes/no.

Messages never carry the checked value: identity numbers are personal data.

`check_uscc` and `check_id_number` strip surrounding white space and upper-case the code
(`CheckedCode.value`). A USCC is 18 characters of the GB 32100 alphabet (no I O Z S V)
whose characters 3-8 are digits. An ID number is 17 digits and a digit or X, with a
well-formed GB/T 2260 address code (listed or not) and a birth date that is a calendar
date from 1800 on and not after `on` (default today).

ID numbers: the 18-character GB 11643 form only (first-generation 15-digit numbers have
been invalid since 2013). Residence-permit numbers of Hong Kong, Macao and Taiwan residents
(address codes 810000, 820000, 830000) have the same structure and pass; the 2023
foreigners' permanent-residence number, which starts with 9, is not a GB 11643 number.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from certlib import regions
from certlib.errors import MalformedInput

ROOT = "1.2.156.3005.2"
ALPHABET_36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECKS = "10X98765432"

MAX_IDENTIFIER_LENGTH = 200
MAX_SERIAL_LENGTH = 64
_ALNUM = re.compile(r"[0-9A-Za-z]+")
_TYPE_CODE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}[0-9]{3}")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9X]")

# Warning texts are stable; callers may match on these prefixes.
WARN_IDENTIFIER_CHECK = (
    "certificate identifier: check character does not match ISO/IEC 7064 MOD 37,36 "
    "(identifiers from some provinces are known to differ)"
)
WARN_ISSUER_NOT_USCC = (
    "certificate identifier: the issuing authority code is not an 18-character unified "
    "social credit code"
)
WARN_USCC_CHECK = "unified social credit code: check character does not match (GB 32100)"
WARN_ID_CHECK = "ID number: check character does not match (GB 11643, ISO/IEC 7064 MOD 11-2)"
WARN_VERSION_ZERO = "certificate identifier: version 000 is not used by GB/T 36904"


class MalformedIdentifier(MalformedInput):
    """An identifier or code without the structure its standard requires."""

    code = "MALFORMED_IDENTIFIER"


# -- check characters ------------------------------------------------------------------


def iso7064_mod37_36(data: str) -> str:
    """The ISO/IEC 7064 MOD 37,36 (hybrid) check character of `data` ([0-9A-Za-z]+)."""
    if not data or not _ALNUM.fullmatch(data):
        raise MalformedIdentifier("MOD 37,36 input must be one or more letters or digits")
    product = 36
    for character in data.upper():
        total = (product + ALPHABET_36.index(character)) % 36 or 36
        product = (total * 2) % 37
    return ALPHABET_36[(37 - product) % 36]


def iso7064_mod11_2(digits: str) -> str:
    """The ISO/IEC 7064 MOD 11-2 check character ('0'-'9' or 'X') of a digit string."""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise MalformedIdentifier("MOD 11-2 input must be one or more digits")
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2 % 11
    return "0123456789X"[(12 - total) % 11]


# -- unified social credit codes (GB 32100) -------------------------------------------------


@dataclass(frozen=True)
class CheckedCode:
    """A code in canonical form plus the warnings its checks raised (repr hides the value)."""

    value: str = field(repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def check_valid(self) -> bool:
        """Whether the check character matched."""
        return not self.warnings


def _uscc_body(first17: str) -> str:
    if not isinstance(first17, str):
        raise MalformedIdentifier("a unified social credit code must be a string")
    body = first17.strip().upper()
    if len(body) != 17 or any(character not in USCC_ALPHABET for character in body):
        raise MalformedIdentifier(
            "the first 17 characters of a unified social credit code must be digits or "
            "capital letters other than I, O, Z, S, V"
        )
    if not body[2:8].isdigit():
        raise MalformedIdentifier(
            "characters 3-8 of a unified social credit code must be a six-digit region code"
        )
    return body


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    body = _uscc_body(first17)
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_with_check(first17: str) -> str:
    """A complete USCC: the 17 characters given plus their check character."""
    body = _uscc_body(first17)
    return body + uscc_check_char(body)


def check_uscc(code: str) -> CheckedCode:
    """Check a USCC: MalformedIdentifier if malformed, WARN_USCC_CHECK if the check fails."""
    if not isinstance(code, str):
        raise MalformedIdentifier("a unified social credit code must be a string")
    text = code.strip().upper()
    if len(text) != 18:
        raise MalformedIdentifier("a unified social credit code must be 18 characters")
    body = _uscc_body(text[:17])
    if text[17] not in USCC_ALPHABET:
        raise MalformedIdentifier(
            "the check character of a unified social credit code must be a digit or a "
            "capital letter other than I, O, Z, S, V"
        )
    warnings = () if uscc_check_char(body) == text[17] else (WARN_USCC_CHECK,)
    return CheckedCode(text, warnings)


def is_valid_uscc(code: str) -> bool:
    """Whether `code` is a well-formed USCC whose check character matches."""
    try:
        return check_uscc(code).check_valid
    except MalformedIdentifier:
        return False


# -- citizen identity numbers (GB 11643) ------------------------------------------------------


def _id_body(first17: str) -> str:
    if not isinstance(first17, str):
        raise MalformedIdentifier("an ID number must be a string")
    body = first17.strip()
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise MalformedIdentifier("the first 17 characters of an ID number must be digits")
    return body


def id_number_check_char(first17: str) -> str:
    """The GB 11643 check character ('0'-'9' or 'X') for the first 17 digits."""
    body = _id_body(first17)
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return _ID_CHECKS[total % 11]


def id_number_with_check(first17: str) -> str:
    """A complete ID number: the 17 digits given plus their check character."""
    body = _id_body(first17)
    return body + id_number_check_char(body)


def _id_birth_date(text: str) -> date:
    try:
        return date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise MalformedIdentifier("the birth date in an ID number is not a calendar date") from None


def check_id_number(number: str, *, on: date | None = None) -> CheckedCode:
    """Check an ID number: MalformedIdentifier if malformed, WARN_ID_CHECK if the check fails."""
    if not isinstance(number, str):
        raise MalformedIdentifier("an ID number must be a string")
    text = number.strip().upper()
    if len(text) != 18:
        raise MalformedIdentifier("an ID number must be 18 characters")
    if not text.isascii() or not _ID_NUMBER.fullmatch(text):
        raise MalformedIdentifier("an ID number must be 17 digits followed by a digit or X")
    if not regions.is_well_formed(text[:6]):
        raise MalformedIdentifier("the address code of an ID number is not a GB/T 2260 code")
    birth = _id_birth_date(text)
    if birth.year < 1800 or birth > (on or date.today()):
        raise MalformedIdentifier("the birth date in an ID number is out of range")
    warnings = () if id_number_check_char(text[:17]) == text[17] else (WARN_ID_CHECK,)
    return CheckedCode(text, warnings)


def is_valid_id_number(number: str, *, on: date | None = None) -> bool:
    """Whether `number` is a well-formed ID number whose check character matches."""
    try:
        return check_id_number(number, on=on).check_valid
    except MalformedIdentifier:
        return False


def id_number_birth_date(number: str) -> date:
    """The birth date an ID number encodes (its structure is checked first)."""
    return _id_birth_date(check_id_number(number, on=date.max).value)


def id_number_sex(number: str) -> Literal["1", "2"]:
    """The GB/T 2261.1 sex code an ID number encodes: '1' male (odd), '2' female (even)."""
    return "1" if int(check_id_number(number, on=date.max).value[16]) % 2 else "2"


def id_number_region(number: str) -> str:
    """The GB/T 2260 address code (first six digits) of an ID number."""
    return check_id_number(number, on=date.max).value[:6]


# -- certificate identifiers (GB/T 36904) --------------------------------------------------------


def _type_code(text: str) -> str:
    code = text.strip().upper() if isinstance(text, str) else ""
    if not _TYPE_CODE.fullmatch(code):
        raise MalformedIdentifier(
            "a certificate type code must be 21 characters: the defining authority's USCC "
            "and a three-digit serial"
        )
    return code


@dataclass(frozen=True)
class ParsedIdentifier:
    """A parsed certificate identifier and the warnings the parse raised."""

    identifier: CertificateIdentifier
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CertificateIdentifier:
    """A GB/T 36904 certificate identifier (电子证照标识).

    `str()` gives the identifier exactly as parsed or generated. The check character
    covers type code + issuer code + serial + version (dots and root removed).
    """

    type_code: str
    issuer_code: str
    serial: str
    version: int
    check: str

    def __str__(self) -> str:
        return ".".join(
            (ROOT, self.type_code, self.issuer_code, self.serial, f"{self.version:03d}", self.check)
        )

    @property
    def defining_authority(self) -> str:
        """The USCC of the authority that defined the certificate type (证照定义机构)."""
        return self.type_code[:18]

    @property
    def expected_check(self) -> str:
        """The MOD 37,36 check character the other parts call for."""
        body = self.type_code + self.issuer_code + self.serial + f"{self.version:03d}"
        return iso7064_mod37_36(body)

    @property
    def check_valid(self) -> bool:
        """Whether the check character matches."""
        return self.check.upper() == self.expected_check

    @classmethod
    def parse(cls, text: str) -> ParsedIdentifier:
        """Parse an identifier; raise MalformedIdentifier on bad structure, warn on the rest."""
        if not isinstance(text, str):
            raise MalformedIdentifier("a certificate identifier must be a string")
        text = text.strip()
        if len(text) > MAX_IDENTIFIER_LENGTH:
            raise MalformedIdentifier(
                f"a certificate identifier is at most {MAX_IDENTIFIER_LENGTH} characters"
            )
        if not text.startswith(ROOT + "."):
            raise MalformedIdentifier(f"a certificate identifier starts with {ROOT}.")
        parts = text[len(ROOT) + 1 :].split(".")
        if len(parts) != 5:
            raise MalformedIdentifier(
                "a certificate identifier has five parts after the root: type code, issuer "
                "code, serial, version, check character"
            )
        type_code, issuer, serial, version, check = parts
        if not _TYPE_CODE.fullmatch(type_code):
            raise MalformedIdentifier(
                "the type code of a certificate identifier must be 21 characters: a USCC "
                "and a three-digit serial"
            )
        if not _ALNUM.fullmatch(issuer) or len(issuer) > 32:
            raise MalformedIdentifier(
                "the issuer code of a certificate identifier must be 1-32 letters or digits"
            )
        if not _ALNUM.fullmatch(serial) or len(serial) > MAX_SERIAL_LENGTH:
            raise MalformedIdentifier(
                f"the serial of a certificate identifier must be 1-{MAX_SERIAL_LENGTH} "
                "letters or digits"
            )
        if len(version) != 3 or not version.isascii() or not version.isdigit():
            raise MalformedIdentifier("the version of a certificate identifier is three digits")
        if len(check) != 1 or not _ALNUM.fullmatch(check):
            raise MalformedIdentifier(
                "the check character of a certificate identifier is one letter or digit"
            )
        identifier = cls(type_code, issuer, serial, int(version), check)
        warnings: list[str] = []
        if not identifier.check_valid:
            warnings.append(WARN_IDENTIFIER_CHECK)
        if identifier.version == 0:
            warnings.append(WARN_VERSION_ZERO)
        if check_uscc(type_code[:18]).warnings:
            warnings.append("certificate type code: " + WARN_USCC_CHECK)
        try:
            issuer_check = check_uscc(issuer)
        except MalformedIdentifier:
            warnings.append(WARN_ISSUER_NOT_USCC)
        else:
            if issuer_check.warnings:
                warnings.append("issuing authority code: " + WARN_USCC_CHECK)
        return ParsedIdentifier(identifier, tuple(warnings))

    @classmethod
    def generate(
        cls, type_code: str, issuer_uscc: str, serial: str, version: int = 1
    ) -> CertificateIdentifier:
        """A new identifier with its check character (the issuer USCC's own check may fail)."""
        code = _type_code(type_code)
        issuer = check_uscc(issuer_uscc).value
        if not isinstance(serial, str):
            raise MalformedIdentifier("a certificate serial must be a string")
        serial = serial.upper()
        if not _ALNUM.fullmatch(serial) or len(serial) > MAX_SERIAL_LENGTH:
            raise MalformedIdentifier(
                f"a certificate serial must be 1-{MAX_SERIAL_LENGTH} letters or digits"
            )
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 999:
            raise MalformedIdentifier("a certificate identifier version is 1-999")
        check = iso7064_mod37_36(code + issuer + serial + f"{version:03d}")
        return cls(code, issuer, serial, version, check)

    def with_version(self, version: int) -> CertificateIdentifier:
        """The identifier of another version of the same certificate, check recomputed."""
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 999:
            raise MalformedIdentifier("a certificate identifier version is 1-999")
        body = self.type_code + self.issuer_code + self.serial + f"{version:03d}"
        return CertificateIdentifier(
            self.type_code, self.issuer_code, self.serial, version, iso7064_mod37_36(body)
        )


def random_serial(length: int = 20) -> str:
    """A random serial of `length` characters from [0-9A-Z], for new identifiers."""
    if not 1 <= length <= MAX_SERIAL_LENGTH:
        raise MalformedIdentifier(f"a serial length is 1-{MAX_SERIAL_LENGTH}")
    return "".join(secrets.choice(ALPHABET_36) for _ in range(length))
