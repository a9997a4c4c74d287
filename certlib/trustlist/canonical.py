"""The JSON of trust lists: RFC 8785 canonical bytes to sign, strict parsing of input.

Signed parts are serialised with the JSON Canonicalization Scheme (RFC 8785, through the
`rfc8785` package): members sorted by UTF-16 code units, no insignificant whitespace,
UTF-8, minimal string escapes. Trust lists use only objects, arrays, strings, integers of
at most 2**53 - 1, booleans and null, so no number ever needs JCS's float formatting.
"""

from __future__ import annotations

import json
from typing import Any, cast

import rfc8785

from certlib.errors import InputError
from certlib.trustlist.errors import Rejection, TrustListRejected

MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
"""Default size limit of a signed trust list, national or regional."""
MAX_INTEGER = 2**53 - 1
"""The largest integer a trust list may carry (I-JSON, RFC 7493)."""
MAX_DEPTH = 16
"""Objects and arrays nest no deeper than this."""


def canonical(value: object) -> bytes:
    """The RFC 8785 bytes of a trust-list JSON value; InputError if it holds anything else."""
    _check(value, 0)
    try:
        return rfc8785.dumps(cast(Any, value))
    except rfc8785.CanonicalizationError as error:
        raise InputError(f"not canonicalisable JSON: {error}") from None


def _check(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InputError(f"JSON nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise InputError("an integer is outside +-(2**53 - 1)")
        return
    if isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError("JSON member names are strings")
            _check(item, depth + 1)
        return
    raise InputError(f"a {type(value).__name__} is not trust-list JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a JSON member appears twice")
    return result


def _no_float(text: str) -> None:
    raise ValueError("numbers in trust lists are integers")


def _no_constant(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


def parse_document(data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """A trust-list document's JSON value; TrustListRejected when oversized or malformed."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TrustListRejected(Rejection.MALFORMED, "a trust list is bytes")
    if len(data) > max_bytes:
        raise TrustListRejected(Rejection.OVERSIZED,
                                f"{len(data)} bytes, more than the {max_bytes} accepted")
    try:
        text = bytes(data).decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("a byte order mark")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float,
                           parse_constant=_no_constant)
        _check(value, 0)
    except (ValueError, RecursionError, InputError) as error:
        reason = error.message if isinstance(error, InputError) else type(error).__name__
        if isinstance(error, ValueError) and not isinstance(error, UnicodeDecodeError):
            reason = str(error).split(":")[0]
        raise TrustListRejected(Rejection.MALFORMED, f"not trust-list JSON ({reason})") from None
    return value
