"""The two signed lists, as data: a region's trust list and the national list of lists.

`parse_region_list` / `parse_national_list` turn a verified `signed` member into these
types and refuse anything that is not exactly the documented shape (docs/trust-lists.md);
`to_json` gives the `signed` member back.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from asn1crypto import x509

from certlib import regions as divisions
from certlib.errors import CertlibError
from certlib.ids import is_valid_uscc
from certlib.pki import issuer_authorisation
from certlib.trustlist.canonical import MAX_INTEGER
from certlib.trustlist.errors import Rejection, TrustListRejected
from certlib.trustlist.signing import KeyDefinition

NATIONAL_TYPE = "certlib.national-trust-list"
REGION_TYPE = "certlib.region-trust-list"
FORMAT_VERSION = 1

MAX_KEYS = 32
MAX_REGIONS = 5000
MAX_ISSUERS = 20000
MAX_CERTIFICATES = 64
MAX_TYPES = 1000
MAX_CERTIFICATE_BYTES = 16 * 1024
MAX_TEXT = 200
MAX_LOCATION = 2048

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_TYPE_CODE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}[0-9]{3}")
_LOCATION = re.compile(r"[a-z][a-z0-9+.-]*:[\x21-\x7e]+")
_DNS_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
T = TypeVar("T")


def _bad(message: str) -> TrustListRejected:
    return TrustListRejected(Rejection.MALFORMED, message)


# -- values ----------------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """A trust-list time: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ`."""
    if moment.tzinfo is None:
        raise _bad("times carry a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _members(value: object, what: str, required: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{what} is an object")
    if set(value) != required:
        missing, extra = sorted(required - set(value)), sorted(set(value) - required)
        raise _bad(f"{what} has missing {missing} or unknown {extra} members")
    return value


def _text(value: object, what: str, limit: int = MAX_TEXT) -> str:
    if (not isinstance(value, str) or not value.strip() or len(value) > limit
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
        raise _bad(f"{what} is 1-{limit} characters without control characters")
    return value


def _integer(value: object, what: str, low: int = 1, high: int = MAX_INTEGER) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(f"{what} is an integer from {low} to {high}")
    return value


def _time(value: object, what: str) -> datetime:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise _bad(f"{what} is a UTC time YYYY-MM-DDTHH:MM:SSZ")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _bad(f"{what} is not a real time") from None


def _region_code(value: object, what: str) -> str:
    if not isinstance(value, str) or not divisions.is_well_formed(value):
        raise _bad(f"{what} is a GB/T 2260 region code")
    return value


def _location(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_LOCATION or not _LOCATION.fullmatch(value):
        raise _bad(f"{what} is a URI (scheme:rest, printable ASCII, no spaces)")
    return value


def _array(value: object, what: str, limit: int, item: Callable[[object, str], T]) -> list[T]:
    if not isinstance(value, list) or len(value) > limit:
        raise _bad(f"{what} is an array of at most {limit} entries")
    return [item(entry, what) for entry in value]


def _type_code(value: object, what: str) -> str:
    if not isinstance(value, str) or not _TYPE_CODE.fullmatch(value):
        raise _bad(f"{what} holds GB/T 36904 certificate type codes")
    return value


def _type_codes(value: object, what: str) -> tuple[str, ...]:
    codes = _array(value, what, MAX_TYPES, _type_code)
    if not codes or len(set(codes)) != len(codes):
        raise _bad(f"{what} names at least one type, each once")
    return tuple(codes)


def _der(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > MAX_CERTIFICATE_BYTES * 4 // 3 + 4:
        raise _bad(f"{what} is base64 DER of at most {MAX_CERTIFICATE_BYTES} bytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{what} is not base64") from None


def _certificate(value: object, what: str, *, ca: bool | None = None) -> bytes:
    der = _der(value, what)
    try:
        parsed = x509.Certificate.load(der, strict=True)
        is_ca = bool(parsed.ca)
        parsed.subject.native  # noqa: B018 - parse the name now, not later
    except (ValueError, TypeError, KeyError):
        raise _bad(f"{what} is not an X.509 certificate") from None
    if ca is not None and is_ca != ca:
        raise _bad(f"{what} {'is not' if ca else 'is'} a CA certificate")
    return der


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _address(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _bad(f"{what} is host:port")
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        valid_host = _is_ip(host[1:-1], 6)
    else:
        valid_host = _is_ip(host, 4) or bool(_DNS_NAME.fullmatch(host))
    if not valid_host or not port.isdigit() or not 0 < int(port) < 65536 or port[0] == "0":
        raise _bad(f"{what} is host:port (a DNS name, IPv4 or [IPv6], port 1-65535)")
    return value


def _server_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not (_DNS_NAME.fullmatch(value) or _is_ip(value, 4)
                                          or _is_ip(value, 6)):
        raise _bad(f"{what} is a DNS name or IP address")
    return value


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _keys(value: object, what: str) -> dict[str, KeyDefinition]:
    if not isinstance(value, dict) or not 0 < len(value) <= MAX_KEYS:
        raise _bad(f"{what} is an object of 1-{MAX_KEYS} keys")
    keys = {}
    for identifier, entry in value.items():
        fields = _members(entry, f"a key of {what}", {"algorithm", "public_key"})
        if not isinstance(fields["algorithm"], str):
            raise _bad(f"a key of {what} names its algorithm")
        try:
            key = KeyDefinition.create(fields["algorithm"],
                                       _der(fields["public_key"], f"a key of {what}"))
        except CertlibError as error:
            raise _bad(f"a key of {what} is unusable: {error.message}") from None
        if key.keyid != identifier:
            raise _bad(f"a keyid of {what} is not the SHA-256 of its key")
        keys[identifier] = key
    return keys


def _threshold(value: object, what: str, keys: Mapping[str, KeyDefinition]) -> int:
    return _integer(value, what, 1, len(keys))


def _keys_json(keys: Mapping[str, KeyDefinition]) -> dict[str, dict[str, str]]:
    return {identifier: key.to_json() for identifier, key in keys.items()}


# -- the national list of lists -----------------------------------------------------------------


@dataclass(frozen=True)
class RegionEntry:
    """What the national list says of one region: its list's keys, threshold and location."""

    code: str
    name: str
    keys: Mapping[str, KeyDefinition]
    threshold: int
    location: str

    def to_json(self) -> dict[str, Any]:
        """The entry's JSON (its code is the member name in `regions`)."""
        return {"name": self.name, "keys": _keys_json(self.keys), "threshold": self.threshold,
                "location": self.location}


@dataclass(frozen=True)
class NationalTrustList:
    """The national list of trust lists: its own keys (k-of-n) and every region's list."""

    version: int
    issued: datetime
    expires: datetime
    operator: str
    location: str
    """Where newer national lists are fetched."""
    keys: Mapping[str, KeyDefinition]
    threshold: int
    regions: Mapping[str, RegionEntry]

    def to_json(self) -> dict[str, Any]:
        """The `signed` member."""
        return {
            "type": NATIONAL_TYPE, "format_version": FORMAT_VERSION, "version": self.version,
            "issued": format_time(self.issued), "expires": format_time(self.expires),
            "operator": self.operator, "location": self.location,
            "keys": _keys_json(self.keys), "threshold": self.threshold,
            "regions": {code: entry.to_json() for code, entry in self.regions.items()},
        }


_NATIONAL_MEMBERS = {"type", "format_version", "version", "issued", "expires", "operator",
                     "location", "keys", "threshold", "regions"}
_ENTRY_MEMBERS = {"name", "keys", "threshold", "location"}


def parse_national_list(signed: object) -> NationalTrustList:
    """The national list in a `signed` member; TrustListRejected unless exactly well formed."""
    check_type(signed, NATIONAL_TYPE)
    fields = _members(signed, "the national list", _NATIONAL_MEMBERS)
    keys = _keys(fields["keys"], "the national keys")
    raw_regions = fields["regions"]
    if not isinstance(raw_regions, dict) or len(raw_regions) > MAX_REGIONS:
        raise _bad(f"regions is an object of at most {MAX_REGIONS} regions")
    entries = {}
    for code, raw in raw_regions.items():
        _region_code(code, "a region of the national list")
        entry = _members(raw, f"region {code}", _ENTRY_MEMBERS)
        region_keys = _keys(entry["keys"], f"region {code}")
        entries[code] = RegionEntry(
            code=code, name=_text(entry["name"], f"the name of region {code}"),
            keys=region_keys,
            threshold=_threshold(entry["threshold"], f"the threshold of region {code}",
                                 region_keys),
            location=_location(entry["location"], f"the location of region {code}"))
    national = NationalTrustList(
        version=_integer(fields["version"], "version"),
        issued=_time(fields["issued"], "issued"), expires=_time(fields["expires"], "expires"),
        operator=_text(fields["operator"], "operator"),
        location=_location(fields["location"], "location"), keys=keys,
        threshold=_threshold(fields["threshold"], "threshold", keys),
        regions=dict(sorted(entries.items())))
    if national.expires <= national.issued:
        raise _bad("a list expires after it is issued")
    return national


# -- a region's trust list -------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuerEntry:
    """A department of the region that issues e-certificates, and of which types."""

    uscc: str
    name: str
    certificate_types: tuple[str, ...]
    certificate: bytes
    """Its signing certificate (DER)."""

    def to_json(self) -> dict[str, Any]:
        """The entry's JSON."""
        return {"uscc": self.uscc, "name": self.name,
                "certificate_types": list(self.certificate_types),
                "certificate": _b64(self.certificate)}


@dataclass(frozen=True)
class StatusLocation:
    """Where a region's status lists and CRLs are fetched from."""

    region: str
    status_lists: str
    """Source of the region's signed status lists (`certsvc://host:port`: GetStatusList)."""
    crls: str
    """Source of the region's CRLs (`urn:certlib:crl:<region>:<root|issuing>`)."""

    @property
    def status_list_prefix(self) -> str:
        """Every status-list URI of this region starts with this."""
        return f"urn:certlib:status:{self.region}:"

    def covers(self, list_uri: str) -> bool:
        """Whether a status-list URI belongs to this region."""
        return list_uri.startswith(self.status_list_prefix)

    def to_json(self) -> dict[str, str]:
        """The `status` member."""
        return {"status_lists": self.status_lists, "crls": self.crls}


@dataclass(frozen=True)
class Endpoint:
    """The region's daemon: where to reach it and how to recognise it over TLS."""

    address: str
    """host:port"""
    server_name: str
    """The name its TLS server certificate carries (SNI and name check)."""
    ca_certificates: tuple[bytes, ...]
    """Certificates that anchor its TLS server certificate (DER)."""

    @property
    def host(self) -> str:
        """The host part of the address (IPv6 without brackets)."""
        return self.address.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port."""
        return int(self.address.rpartition(":")[2])

    def to_json(self) -> dict[str, Any]:
        """The `endpoint` member."""
        return {"address": self.address, "tls": {
            "server_name": self.server_name,
            "ca_certificates": [_b64(c) for c in self.ca_certificates]}}


@dataclass(frozen=True)
class Authorisation:
    """Certificate types a region allows issuers of one of its sub-regions to issue."""

    region: str
    certificate_types: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The entry's JSON."""
        return {"region": self.region, "certificate_types": list(self.certificate_types)}


@dataclass(frozen=True)
class RegionTrustList:
    """A region's signed trust list: its CAs, issuers, seal makers, status, daemon, grants."""

    region: str
    name: str
    version: int
    issued: datetime
    expires: datetime
    roots: tuple[bytes, ...]
    issuing: tuple[bytes, ...]
    issuers: tuple[IssuerEntry, ...]
    seal_makers: tuple[bytes, ...]
    status: StatusLocation
    endpoint: Endpoint
    authorisations: tuple[Authorisation, ...]

    def issuer(self, uscc: str) -> IssuerEntry | None:
        """The listed department with this USCC, if any."""
        return next((entry for entry in self.issuers if entry.uscc == uscc), None)

    def authorises(self, region: str, type_code: str) -> bool:
        """Whether this list lets issuers of `region` (strictly inside it) issue a type."""
        return any(type_code in grant.certificate_types and divisions.is_within(region,
                                                                                grant.region)
                   for grant in self.authorisations)

    def to_json(self) -> dict[str, Any]:
        """The `signed` member."""
        return {
            "type": REGION_TYPE, "format_version": FORMAT_VERSION, "region": self.region,
            "name": self.name, "version": self.version, "issued": format_time(self.issued),
            "expires": format_time(self.expires),
            "certificate_authorities": {"roots": [_b64(c) for c in self.roots],
                                        "issuing": [_b64(c) for c in self.issuing]},
            "issuers": [entry.to_json() for entry in self.issuers],
            "seal_makers": [{"certificate": _b64(c)} for c in self.seal_makers],
            "status": self.status.to_json(), "endpoint": self.endpoint.to_json(),
            "authorisations": [grant.to_json() for grant in self.authorisations],
        }


_REGION_MEMBERS = {"type", "format_version", "region", "name", "version", "issued", "expires",
                   "certificate_authorities", "issuers", "seal_makers", "status", "endpoint",
                   "authorisations"}


def parse_region_list(signed: object) -> RegionTrustList:
    """The region list in a `signed` member; TrustListRejected unless exactly well formed."""
    check_type(signed, REGION_TYPE)
    fields = _members(signed, "the region list", _REGION_MEMBERS)
    code = _region_code(fields["region"], "region")
    authorities = _members(fields["certificate_authorities"], "certificate_authorities",
                           {"roots", "issuing"})
    roots = _array(authorities["roots"], "a root certificate", MAX_CERTIFICATES,
                   lambda v, w: _certificate(v, w, ca=True))
    if not roots:
        raise _bad("a region list names at least one root certificate")
    issuing = _array(authorities["issuing"], "an issuing CA certificate", MAX_CERTIFICATES,
                     lambda v, w: _certificate(v, w, ca=True))
    issuers = _array(fields["issuers"], "an issuer", MAX_ISSUERS,
                     lambda v, _: _issuer(v, code))
    if len({entry.uscc for entry in issuers}) != len(issuers):
        raise _bad("an issuer is listed twice")
    seal_makers = _array(fields["seal_makers"], "a seal maker", MAX_CERTIFICATES,
                         lambda v, w: _certificate(
                             _members(v, w, {"certificate"})["certificate"], w, ca=False))
    endpoint = _members(fields["endpoint"], "endpoint", {"address", "tls"})
    tls = _members(endpoint["tls"], "endpoint tls", {"server_name", "ca_certificates"})
    tls_cas = _array(tls["ca_certificates"], "a TLS CA certificate", MAX_CERTIFICATES,
                     lambda v, w: _certificate(v, w, ca=True))
    if not tls_cas:
        raise _bad("the endpoint names at least one TLS CA certificate")
    daemon = Endpoint(_address(endpoint["address"], "the endpoint address"),
                      _server_name(tls["server_name"], "the TLS server name"), tuple(tls_cas))
    status = _members(fields["status"], "status", {"status_lists", "crls"})
    grants = _array(fields["authorisations"], "an authorisation", MAX_REGIONS,
                    lambda v, _: _authorisation(v, code))
    if len({grant.region for grant in grants}) != len(grants):
        raise _bad("a region is authorised twice")
    listed = RegionTrustList(
        region=code, name=_text(fields["name"], "name"),
        version=_integer(fields["version"], "version"),
        issued=_time(fields["issued"], "issued"), expires=_time(fields["expires"], "expires"),
        roots=tuple(roots), issuing=tuple(issuing), issuers=tuple(issuers),
        seal_makers=tuple(seal_makers),
        status=StatusLocation(code, _location(status["status_lists"], "status_lists"),
                              _location(status["crls"], "crls")),
        endpoint=daemon,
        authorisations=tuple(grants))
    if listed.expires <= listed.issued:
        raise _bad("a list expires after it is issued")
    return listed


def _issuer(value: object, region: str) -> IssuerEntry:
    fields = _members(value, "an issuer", {"uscc", "name", "certificate_types", "certificate"})
    uscc = fields["uscc"]
    if not isinstance(uscc, str) or not is_valid_uscc(uscc) or uscc != uscc.upper():
        raise _bad("an issuer's uscc is a valid unified social credit code")
    entry = IssuerEntry(uscc, _text(fields["name"], "an issuer's name"),
                        _type_codes(fields["certificate_types"], "an issuer's types"),
                        _certificate(fields["certificate"], "an issuer's certificate", ca=False))
    try:
        extension = issuer_authorisation(entry.certificate)
        granted = None if extension is None else extension.native
    except (ValueError, TypeError, KeyError):
        granted = None
    if granted is None or granted["uscc"] != uscc or granted["region"] != region:
        raise _bad("an issuer's certificate does not authorise that department in this region")
    if not set(entry.certificate_types) <= set(granted["certificate_types"]):
        raise _bad("an issuer is listed for types its certificate does not allow")
    return entry


def _authorisation(value: object, region: str) -> Authorisation:
    fields = _members(value, "an authorisation", {"region", "certificate_types"})
    code = _region_code(fields["region"], "an authorised region")
    if code == region or not divisions.is_within(code, region):
        raise _bad("an authorisation names a region that is not inside this one")
    return Authorisation(code, _type_codes(fields["certificate_types"],
                                           "an authorisation's types"))


def check_type(signed: object, expected: str) -> None:
    """TrustListRejected (wrong-type) unless `signed` is a list of `expected` type, format 1."""
    if not isinstance(signed, dict):
        raise _bad("the signed part is an object")
    if signed.get("type") != expected:
        raise TrustListRejected(Rejection.WRONG_TYPE, f"not a {expected}")
    if signed.get("format_version") != FORMAT_VERSION or isinstance(
            signed.get("format_version"), bool):
        raise TrustListRejected(Rejection.WRONG_TYPE,
                                f"format version is not {FORMAT_VERSION}")
