"""Making the national list of lists from its keys and the regions' entries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from certlib.clock import utc_now
from certlib.errors import InputError
from certlib.trustlist.errors import TrustListRejected
from certlib.trustlist.model import NationalTrustList, RegionEntry, parse_national_list
from certlib.trustlist.signing import KeyDefinition
from hsm import KeyRef


def region_entry(code: str, name: str, keys: Sequence[KeyRef | KeyDefinition],
                 threshold: int, location: str) -> RegionEntry:
    """What the national list says of a region: the keys (threshold) that sign its list."""
    return RegionEntry(code, name, key_definitions(keys, f"region {code}"), threshold,
                       location)


def build_national_list(*, version: int, expires: datetime, operator: str, location: str,
                        keys: Sequence[KeyRef | KeyDefinition], threshold: int,
                        regions: Sequence[RegionEntry],
                        issued: datetime | None = None) -> dict[str, Any]:
    """The `signed` member of a national list (checked as a verifier would parse it)."""
    codes = [entry.code for entry in regions]
    if len(set(codes)) != len(codes):
        raise InputError("a region appears twice in the national list")
    national = NationalTrustList(
        version=version, issued=issued or utc_now(), expires=expires, operator=operator,
        location=location, keys=key_definitions(keys, "the national list"),
        threshold=threshold,
        regions={entry.code: entry for entry in sorted(regions, key=lambda e: e.code)})
    return checked(national.to_json, parse_national_list)


def key_definitions(keys: Sequence[KeyRef | KeyDefinition],
                    whose: str) -> dict[str, KeyDefinition]:
    """Definitions of `keys` by keyid; InputError if one appears twice."""
    definitions = {}
    for key in keys:
        definition = KeyDefinition.of(key)
        if definition.keyid in definitions:
            raise InputError(f"a key of {whose} appears twice")
        definitions[definition.keyid] = definition
    return definitions


def checked(build: Callable[[], dict[str, Any]],
            parse: Callable[[object], object]) -> dict[str, Any]:
    """The `signed` member `build` makes, if `parse` accepts it; InputError otherwise."""
    try:
        signed = build()
        parse(signed)
    except TrustListRejected as error:
        raise InputError(error.message.split(": ", 1)[-1]) from None
    return signed
