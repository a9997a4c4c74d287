"""Signed status lists: a department's certificate statuses as one compressed bitstring.

A list is a W3C Bitstring Status List v1.0 credential (JSON) with two bits per certificate
(0 valid, 1 revoked, 2 suspended, 3 undefined), signed as CMS SignedData by the department's
HSM key, the same envelope as its e-certificates. The issuing side (`StatusListPublisher`)
builds lists from the store, signs them, keeps every snapshot and writes the newest as a
file; the verifying side (`StatusListSource`) checks signature, signer, freshness and
rollback, caches the list and answers status questions by bit lookup. See docs/status.md.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from certlib import cms as envelopes
from certlib import oids
from certlib.authority import Authority
from certlib.clock import utc_now
from certlib.errors import CertlibError, InputError, MalformedInput, TrustError, UnavailableError
from certlib.report import CheckResult, ReportBuilder
from certlib.status import CertificateStatus, StatusAnswer, list_uri, parse_list_uri
from certlib.store.schema import certificates, issuers, status_list_snapshots, status_lists
from certlib.trust import TrustMaterial
from certlib.verify import Verifier, signer_authorisation

if TYPE_CHECKING:
    from certlib.platform import Platform

STATUS_LIST = oids.STATUS_LIST
"""eContentType of a signed status list (its content is the JSON credential, UTF-8)."""

MIN_ENTRIES = 131_072
"""The W3C minimum (herd privacy): a list never has fewer entries than this."""
STATUS_SIZE = 2
"""Bits per entry."""
STATUS_CODES = {CertificateStatus.VALID.value: 0, CertificateStatus.REVOKED.value: 1,
                CertificateStatus.SUSPENDED.value: 2}
"""Stored status -> two-bit code; anything else is published as 3 (undefined)."""
STATUS_MESSAGES = ("valid", "revoked", "suspended", "undefined")
"""`statusMessages` by code: a two-bit entry needs all four (W3C)."""
DEFAULT_LIFETIME = timedelta(hours=1)
"""this-update to next-update of a published list."""
DEFAULT_TTL = timedelta(minutes=5)
"""How long a verifier may use a list before fetching it again (`ttl`, W3C default)."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a list's this-update may lie (the publisher's clock runs ahead)."""
MAX_BITSTRING_BYTES = 1 << 21
"""Refuse lists that inflate beyond 2 MiB (8,388,608 two-bit entries): no gzip bombs."""

W3C_CONTEXT = "https://www.w3.org/ns/credentials/v2"
_CONTEXT: list[object] = [W3C_CONTEXT, {"number": {
    "@id": "urn:certlib:vocab:statusListNumber",
    "@type": "http://www.w3.org/2001/XMLSchema#integer"}}]
_MESSAGE_STATUS = {status.value: status for status in CertificateStatus}
_STALE_ENTRY_LIMIT = 4096


class StatusListNotFound(InputError):
    """No status list with this identifier (or it belongs to another department)."""

    code = "STATUS_LIST_NOT_FOUND"


class StatusListRejected(TrustError):
    """A status list that must not be used: malformed, tampered, wrongly signed, rolled back."""

    code = "STATUS_LIST_REJECTED"


class StatusListUnavailable(UnavailableError):
    """No usable status list now: expired, not yet valid, unreachable or its signer unknown."""

    code = "STATUS_LIST_UNAVAILABLE"


# -- the bitstring ---------------------------------------------------------------------------


def build_bitstring(entries: int, statuses: Iterable[tuple[int, str]]) -> bytes:
    """The raw bitstring of `entries` two-bit entries, from (index, stored status) pairs."""
    if entries <= 0 or entries % 4:
        raise InputError("a status list has a positive multiple of 4 entries")
    bits = bytearray(entries // 4)
    for index, status in statuses:
        if not 0 <= index < entries:
            raise TrustError("a stored status index lies outside its list")
        code = STATUS_CODES.get(status, 3)
        bits[index >> 2] |= code << (6 - ((index & 3) << 1))
    return bytes(bits)


def status_code(bitstring: bytes, index: int) -> int:
    """The two-bit code of entry `index` (entry 0: the two most significant bits of byte 0)."""
    return (bitstring[index >> 2] >> (6 - ((index & 3) << 1))) & 3


def encode_bitstring(bitstring: bytes) -> str:
    """`encodedList`: multibase base64url (`u`, no padding) of the GZIP-compressed bitstring."""
    compressed = gzip.compress(bitstring, compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode_bitstring(encoded: str, max_bytes: int = MAX_BITSTRING_BYTES) -> bytes:
    """The raw bitstring of an `encodedList`; MalformedInput if it is not one."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise MalformedInput("encodedList must be multibase base64url (prefix u)")
    body = encoded[1:]
    if "=" in body:
        raise MalformedInput("encodedList must not be padded")
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise MalformedInput("encodedList is not base64url") from None
    inflater = zlib.decompressobj(wbits=31)  # GZIP framing (RFC 1952)
    try:
        bitstring = inflater.decompress(compressed, max_bytes)
    except zlib.error:
        raise MalformedInput("encodedList is not GZIP data") from None
    if inflater.unconsumed_tail:
        raise MalformedInput(f"encodedList inflates beyond {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedInput("encodedList is not exactly one complete GZIP member")
    return bitstring


# -- the document --------------------------------------------------------------------------------


def issuer_urn(issuer_uscc: str) -> str:
    """The `issuer` of a department's status lists: its unified social credit code as a URN."""
    return f"urn:certlib:uscc:{issuer_uscc}"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_list_document(*, uri: str, issuer_uscc: str, number: int, this_update: datetime,
                         next_update: datetime, bitstring: bytes, ttl: timedelta) -> bytes:
    """The BitstringStatusListCredential JSON (UTF-8) that a department signs."""
    document = {
        "@context": _CONTEXT,
        "id": uri,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_urn(issuer_uscc),
        "validFrom": _timestamp(this_update),
        "validUntil": _timestamp(next_update),
        "number": number,
        "credentialSubject": {
            "id": f"{uri}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "message",
            "statusSize": STATUS_SIZE,
            "statusMessages": [{"status": hex(code), "message": message}
                               for code, message in enumerate(STATUS_MESSAGES)],
            "ttl": int(ttl.total_seconds() * 1000),
            "encodedList": encode_bitstring(bitstring),
        },
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedInput("a JSON member appears twice")
    return result


def _refuse_constant(name: str) -> None:
    raise MalformedInput(f"{name} is not JSON")


def _field(mapping: dict[str, Any], name: str, kind: type) -> Any:
    value = mapping.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedInput(f"{name} is missing or not a {kind.__name__}")
    return value


def _time(mapping: dict[str, Any], name: str) -> datetime:
    text = _field(mapping, name, str)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedInput(f"{name} is not a date-time") from None
    if moment.tzinfo is None:
        raise MalformedInput(f"{name} has no time zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class StatusListDocument:
    """What a status list says, read from its JSON (not yet trusted on its own)."""

    uri: str
    issuer: str
    number: int
    this_update: datetime
    next_update: datetime
    ttl: timedelta | None
    statuses: tuple[CertificateStatus, ...]
    """The status each two-bit code stands for, by code."""
    bitstring: bytes


def parse_status_list_document(content: bytes) -> StatusListDocument:
    """Read a status-list credential strictly; MalformedInput if it is not one certlib uses."""
    try:
        document = json.loads(content.decode("utf-8"), object_pairs_hook=_no_duplicates,
                              parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedInput("the status list is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise MalformedInput("the status list is not a JSON object")
    context = _field(document, "@context", list)
    if not context or context[0] != W3C_CONTEXT:
        raise MalformedInput("@context must start with the VC 2.0 context")
    if "BitstringStatusListCredential" not in _field(document, "type", list):
        raise MalformedInput("type must include BitstringStatusListCredential")
    subject = _field(document, "credentialSubject", dict)
    if _field(subject, "type", str) != "BitstringStatusList":
        raise MalformedInput("credentialSubject.type must be BitstringStatusList")
    if _field(subject, "statusPurpose", str) != "message":
        raise MalformedInput("statusPurpose must be message")
    if _field(subject, "statusSize", int) != STATUS_SIZE:
        raise MalformedInput(f"statusSize must be {STATUS_SIZE}")
    messages = _field(subject, "statusMessages", list)
    by_code: dict[int, CertificateStatus] = {}
    for item in messages:
        if not isinstance(item, dict):
            raise MalformedInput("statusMessages holds a non-object")
        code_text, message = _field(item, "status", str), _field(item, "message", str)
        try:
            code = int(code_text, 16) if code_text.startswith("0x") else -1
        except ValueError:
            code = -1
        if not 0 <= code < 1 << STATUS_SIZE or code in by_code:
            raise MalformedInput("statusMessages has a bad or repeated status")
        by_code[code] = _MESSAGE_STATUS.get(message, CertificateStatus.UNKNOWN)
    if len(by_code) != 1 << STATUS_SIZE or by_code[0] is not CertificateStatus.VALID:
        raise MalformedInput("statusMessages must define every code, 0x0 as valid")
    ttl_ms = subject.get("ttl")
    if ttl_ms is not None and (not isinstance(ttl_ms, int) or isinstance(ttl_ms, bool)
                               or ttl_ms <= 0):
        raise MalformedInput("ttl must be a positive integer")
    number = _field(document, "number", int)
    if number < 1:
        raise MalformedInput("number must be positive")
    this_update, next_update = _time(document, "validFrom"), _time(document, "validUntil")
    if next_update <= this_update:
        raise MalformedInput("validUntil must be after validFrom")
    return StatusListDocument(
        uri=_field(document, "id", str), issuer=_field(document, "issuer", str), number=number,
        this_update=this_update, next_update=next_update,
        ttl=timedelta(milliseconds=ttl_ms) if ttl_ms is not None else None,
        statuses=tuple(by_code[code] for code in range(1 << STATUS_SIZE)),
        bitstring=decode_bitstring(_field(subject, "encodedList", str)))


# -- verifying -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedStatusList:
    """A status list whose signature, signer and freshness were checked."""

    uri: str
    issuer_uscc: str
    region: str
    number: int
    this_update: datetime
    next_update: datetime
    ttl: timedelta | None
    entries: int
    statuses: tuple[CertificateStatus, ...]
    bitstring: bytes
    signed: bytes
    """The signed bytes as received (what a daemon serves on)."""

    def status(self, index: int) -> CertificateStatus:
        """The status of entry `index`; UNKNOWN outside the list."""
        if not 0 <= index < self.entries:
            return CertificateStatus.UNKNOWN
        return self.statuses[status_code(self.bitstring, index)]


def verify_status_list(signed: bytes, uri: str, trust: TrustMaterial, *,
                       at: datetime | None = None, min_entries: int = MIN_ENTRIES,
                       verifier: Verifier | None = None) -> VerifiedStatusList:
    """Check a signed list for `uri` at `at` (default now); raise if it cannot be used.

    StatusListRejected: malformed, tampered, not signed by the list's department, too short.
    StatusListUnavailable: expired, not yet valid, or the signer's chain is undecided now.
    """
    moment = at or utc_now()
    parsed_uri = parse_list_uri(uri)
    if parsed_uri is None:
        raise InputError("not a certlib status-list URI")
    region, issuer_uscc, _ = parsed_uri
    try:
        envelope = envelopes.parse(signed)
    except MalformedInput as error:
        raise StatusListRejected(f"the status list is malformed: {error.message}") from None
    if envelope.content_type != STATUS_LIST:
        raise StatusListRejected("the envelope does not carry a status list")
    checker = verifier or Verifier(trust)
    report = ReportBuilder(moment)
    # The e-certificate envelope checks, unchanged: attributes, digest, signature, ESS, chain.
    signer = checker.check_envelope(report, envelope)
    chain = checker.check_chain(report, signer, envelope) if signer is not None else None
    for check in report.checks:
        if check.result is CheckResult.FAILED:
            raise StatusListRejected(f"the status list fails its {check.name} check: "
                                     f"{check.detail}")
        if check.result is CheckResult.INDETERMINATE:
            raise StatusListUnavailable(f"the status list's signer cannot be checked now: "
                                        f"{check.detail}")
    if signer is None:
        raise StatusListRejected("the status list has no usable signer")
    allowed = signer_authorisation(signer)
    if allowed is None or allowed["uscc"] != issuer_uscc or allowed["region"] != region:
        raise StatusListRejected("the status list is not signed by its department")
    mismatch = checker.trust.region_mismatch(chain.path, region) if chain is not None else None
    if mismatch is not None:
        raise StatusListRejected(f"the status list's signer is not of its region: {mismatch}")
    try:
        document = parse_status_list_document(envelope.content)
    except MalformedInput as error:
        raise StatusListRejected(f"the status list is malformed: {error.message}") from None
    if document.uri != uri or document.issuer != issuer_urn(issuer_uscc):
        raise StatusListRejected("the status list names another list or issuer")
    entries = len(document.bitstring) * 8 // STATUS_SIZE
    if entries < min_entries:
        raise StatusListRejected(f"the status list has fewer than {min_entries} entries")
    if document.this_update > moment + CLOCK_SKEW:
        raise StatusListUnavailable("the status list is not valid yet")
    if moment >= document.next_update:
        raise StatusListUnavailable("the status list has expired")
    return VerifiedStatusList(
        uri=uri, issuer_uscc=issuer_uscc, region=region, number=document.number,
        this_update=document.this_update, next_update=document.next_update, ttl=document.ttl,
        entries=entries, statuses=document.statuses, bitstring=document.bitstring,
        signed=bytes(signed))


@dataclass(frozen=True)
class _Entry:
    """One cached list (or the reason there is none) and when to fetch it again."""

    verified: VerifiedStatusList | None
    answers: tuple[StatusAnswer, ...]
    refresh_at: datetime
    problem: str


class StatusListSource:
    """A StatusSource answering from fetched, verified and cached signed status lists.

    `fetch(uri)` returns the signed bytes of a list (from the local store, a file, a peer).
    A list is fetched again after its ttl (or `refresh_after`); a failed or rejected fetch
    keeps the last good list until its next-update, after which the answer is UNKNOWN.
    """

    def __init__(self, trust: TrustMaterial, fetch: Callable[[str], bytes], *,
                 clock: Callable[[], datetime] = utc_now,
                 refresh_after: timedelta | None = None,
                 retry_after: timedelta = timedelta(seconds=5),
                 min_entries: int = MIN_ENTRIES) -> None:
        self.trust = trust
        self.fetch = fetch
        self.clock = clock
        self.refresh_after = refresh_after
        self.retry_after = retry_after
        self.min_entries = min_entries
        self._verifier = Verifier(trust)
        self._entries: dict[str, _Entry] = {}
        self._highest: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        """Guards the cache, the rollback floors and the verifier (never held while fetching)."""
        self._fetching: dict[str, threading.Lock] = {}

    def status(self, list_uri: str, index: int, at: datetime) -> StatusAnswer:
        """The status of entry `index` of `list_uri`, as the newest good list says."""
        now = self.clock()
        entry = self._entries.get(list_uri)
        if entry is None or now >= entry.refresh_at:
            if parse_list_uri(list_uri) is None:
                return StatusAnswer(CertificateStatus.UNKNOWN, at, "status list",
                                    detail="not a certlib status list")
            entry = self._refreshed(list_uri, entry, now)
        verified = entry.verified
        if verified is None:
            return StatusAnswer(CertificateStatus.UNKNOWN, at, "status list",
                                detail=entry.problem)
        if now >= verified.next_update:
            return StatusAnswer(CertificateStatus.UNKNOWN, at, f"status list #{verified.number}",
                                detail=f"the list expired; {entry.problem or 'no newer one'}")
        if not 0 <= index < verified.entries:
            return StatusAnswer(CertificateStatus.UNKNOWN, at, f"status list #{verified.number}",
                                detail="the index lies outside the list")
        return entry.answers[(verified.bitstring[index >> 2] >> (6 - ((index & 3) << 1))) & 3]

    def set_trust(self, trust: TrustMaterial) -> None:
        """Check lists fetched from now on against newer trust material."""
        with self._lock:
            self.trust = trust
            self._verifier = Verifier(trust)

    def load(self, list_uri: str, signed: bytes) -> VerifiedStatusList:
        """Verify a signed list (fetched elsewhere, or stapled) and cache it; raise if unusable."""
        now = self.clock()
        with self._lock:
            verified = self._accept(list_uri, signed, now)
            self._entries[list_uri] = self._entry_for(verified, now)
        return verified

    def cached(self, list_uri: str) -> VerifiedStatusList | None:
        """The cached list for `list_uri`, if any (possibly expired)."""
        entry = self._entries.get(list_uri)
        return entry.verified if entry is not None else None

    def invalidate(self, list_uri: str | None = None) -> None:
        """Forget cached lists (all, or one), so the next question fetches; numbers stay."""
        with self._lock:
            if list_uri is None:
                self._entries.clear()
            else:
                self._entries.pop(list_uri, None)

    # -- internals ---------------------------------------------------------------------------

    def _refreshed(self, uri: str, entry: _Entry | None, now: datetime) -> _Entry:
        usable = entry is not None and entry.verified is not None and (
            now < entry.verified.next_update)
        with self._lock:  # one fetch per list at a time; lists of other sources go on
            fetching = self._fetching.setdefault(uri, threading.Lock())
        if not fetching.acquire(blocking=not usable):
            assert entry is not None
            return entry  # another thread is fetching; the current list is still good
        try:
            latest = self._entries.get(uri)
            if latest is not None and latest is not entry and now < latest.refresh_at:
                return latest
            fresh = self._fetched(uri, latest, now)
            with self._lock:
                if fresh.verified is None and len(self._entries) >= _STALE_ENTRY_LIMIT:
                    for key in [k for k, v in self._entries.items() if v.verified is None]:
                        del self._entries[key]
                        self._fetching.pop(key, None)
                self._entries[uri] = fresh
            return fresh
        finally:
            fetching.release()

    def _fetched(self, uri: str, previous: _Entry | None, now: datetime) -> _Entry:
        kept = previous.verified if previous is not None else None
        try:
            signed = self.fetch(uri)  # no lock held: a slow source delays only its own lists
            if kept is not None and signed == kept.signed:
                return self._entry_for(kept, now)
            with self._lock:
                accepted = self._accept(uri, signed, now)
            return self._entry_for(accepted, now)
        except CertlibError as error:
            problem = error.message
        except OSError as error:
            problem = f"the status list cannot be read ({type(error).__name__})"
        retry = now + self.retry_after
        if kept is not None:
            return _Entry(kept, previous.answers if previous else (), retry, problem)
        return _Entry(None, (), retry, problem)

    def _accept(self, uri: str, signed: bytes, now: datetime) -> VerifiedStatusList:
        verified = verify_status_list(signed, uri, self.trust, at=now,
                                      min_entries=self.min_entries, verifier=self._verifier)
        fingerprint = hashlib.sha256(signed).digest()
        highest = self._highest.get(uri)
        if highest is not None:
            if verified.number < highest[0]:
                raise StatusListRejected("the status list is older than one already seen "
                                         "(rollback)")
            if verified.number == highest[0] and fingerprint != highest[1]:
                raise StatusListRejected("two different status lists carry the same number")
        self._highest[uri] = (verified.number, fingerprint)
        return verified

    def _entry_for(self, verified: VerifiedStatusList, now: datetime) -> _Entry:
        source = f"status list #{verified.number}"
        answers = tuple(
            StatusAnswer(status, verified.this_update, source,
                         detail="" if status is not CertificateStatus.UNKNOWN
                         else "the list gives an undefined status")
            for status in verified.statuses)
        keep_for = (self.refresh_after if self.refresh_after is not None
                    else verified.ttl or verified.next_update - now)
        return _Entry(verified, answers, min(verified.next_update, now + keep_for), "")


def directory_fetcher(directory: Path) -> Callable[[str], bytes]:
    """A `fetch` for StatusListSource reading `<directory>/<USCC>/<list id>.cms`."""

    def fetch(uri: str) -> bytes:
        parsed = parse_list_uri(uri)
        if parsed is None:
            raise StatusListNotFound("not a certlib status-list URI")
        _, issuer_uscc, list_id = parsed
        try:
            return (directory / issuer_uscc / f"{list_id}.cms").read_bytes()
        except FileNotFoundError:
            raise StatusListUnavailable("no file for this status list") from None

    return fetch


# -- publishing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedStatusList:
    """One published snapshot of a status list."""

    uri: str
    issuer_uscc: str
    list_id: int
    number: int
    this_update: datetime
    next_update: datetime
    digest: bytes
    """SHA-256 of the raw bitstring: equal digests, equal statuses."""
    der: bytes
    """The signed list (CMS ContentInfo, DER)."""


@dataclass(frozen=True)
class _ListRow:
    issuer_uscc: str
    size: int
    region_code: str


@dataclass(frozen=True)
class _ListState:
    issuer_uscc: str
    newest: SignedStatusList | None
    bitstring: bytes
    digest: bytes


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class StatusListPublisher:
    """Builds, signs, stores and writes the status lists of the departments of one platform.

    Safe with several processes on one store: a snapshot number is taken once (the store
    refuses a second (list, number)); the loser of a race reuses the winner's snapshot when
    it says the same, and tries again otherwise.
    """

    def __init__(self, authority: Authority, directory: Path | None, *,
                 lifetime: timedelta = DEFAULT_LIFETIME, renew_before: timedelta | None = None,
                 ttl: timedelta = DEFAULT_TTL,
                 clock: Callable[[], datetime] | None = None) -> None:
        if lifetime <= timedelta(0) or ttl <= timedelta(0):
            raise InputError("a status list's lifetime and ttl must be positive")
        self.authority = authority
        self.directory = directory
        self.lifetime = lifetime
        self.renew_before = renew_before if renew_before is not None else lifetime / 4
        if not timedelta(0) <= self.renew_before < lifetime:
            raise InputError("renew_before must lie between zero and the lifetime")
        self.ttl = ttl
        self.clock = clock or authority.clock
        self._written: dict[int, int] = {}

    @classmethod
    def for_platform(cls, platform: Platform, **options: Any) -> StatusListPublisher:
        """A publisher writing files under `<CERTLIB_HOME>/status`."""
        return cls(platform.authority, platform.settings.home / "status", **options)

    def publish(self, list_id: int) -> SignedStatusList:
        """Sign and store a new snapshot of the list's current statuses, and write its file."""
        return self._publish(list_id, self._state(list_id))

    def current(self, list_id: int) -> SignedStatusList:
        """The newest snapshot; a new one first if a status changed or next-update is near."""
        state = self._state(list_id)
        newest = state.newest
        if newest is not None and newest.digest == state.digest and self._fresh(newest):
            self._export(newest)
            return newest
        return self._publish(list_id, state)

    def newest(self, list_id: int) -> SignedStatusList | None:
        """The newest stored snapshot, as it is (no re-publishing)."""
        with self.authority.store.transaction() as connection:
            return self._newest(connection, list_id, self._list_row(connection, list_id))

    def fetch(self, uri: str) -> bytes:
        """The current signed list for a URI of this platform (a `fetch` for StatusListSource)."""
        parsed = parse_list_uri(uri)
        if parsed is None:
            raise StatusListNotFound("not a certlib status-list URI")
        region, issuer_uscc, list_id = parsed
        with self.authority.store.transaction() as connection:
            row = self._list_row(connection, list_id)
        if row.issuer_uscc != issuer_uscc or row.region_code != region:
            raise StatusListNotFound("no such status list here")
        return self.current(list_id).der

    def list_ids(self, issuer_uscc: str | None = None) -> list[int]:
        """Every status list id (of one department, if given), oldest first."""
        query = sa.select(status_lists.c.id).order_by(status_lists.c.id)
        if issuer_uscc is not None:
            query = query.where(status_lists.c.issuer_uscc == issuer_uscc)
        with self.authority.store.transaction() as connection:
            return [int(row.id) for row in connection.execute(query)]

    def refresh_all(self) -> list[SignedStatusList]:
        """`current()` of every list: what a periodic job runs (every ttl or so)."""
        return [self.current(list_id) for list_id in self.list_ids()]

    def path_for(self, issuer_uscc: str, list_id: int) -> Path:
        """Where the list's newest snapshot is written."""
        if self.directory is None:
            raise InputError("this publisher writes no files")
        return self.directory / issuer_uscc / f"{list_id}.cms"

    def write_file(self, snapshot: SignedStatusList) -> bool:
        """Write the snapshot's file atomically, unless the file holds a newer one already."""
        path = self.path_for(snapshot.issuer_uscc, snapshot.list_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(path.parent / f".{snapshot.list_id}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _file_number(path) >= snapshot.number:
                return False
            descriptor, temporary = tempfile.mkstemp(dir=path.parent,
                                                     prefix=f".{snapshot.list_id}.",
                                                     suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(snapshot.der)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temporary, 0o644)
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            return True
        finally:
            os.close(lock)  # closing releases the lock

    # -- internals ---------------------------------------------------------------------------

    def _fresh(self, snapshot: SignedStatusList) -> bool:
        now = self.clock()
        return snapshot.this_update <= now + CLOCK_SKEW and (
            snapshot.next_update - now > self.renew_before)

    @staticmethod
    def _list_row(connection: sa.Connection, list_id: int) -> _ListRow:
        row = connection.execute(
            sa.select(status_lists.c.issuer_uscc, status_lists.c.size, issuers.c.region_code)
            .join(issuers, issuers.c.uscc == status_lists.c.issuer_uscc)
            .where(status_lists.c.id == list_id)).first()
        if row is None:
            raise StatusListNotFound("no status list with this id")
        return _ListRow(str(row.issuer_uscc), int(row.size), str(row.region_code))

    @staticmethod
    def _newest(connection: sa.Connection, list_id: int,
                list_row: _ListRow) -> SignedStatusList | None:
        row = connection.execute(
            sa.select(status_list_snapshots).where(status_list_snapshots.c.list_id == list_id)
            .order_by(status_list_snapshots.c.number.desc()).limit(1)).first()
        if row is None:
            return None
        return SignedStatusList(
            uri=list_uri(list_row.region_code, list_row.issuer_uscc, list_id),
            issuer_uscc=list_row.issuer_uscc, list_id=list_id, number=int(row.number),
            this_update=_aware(row.this_update), next_update=_aware(row.next_update),
            digest=bytes(row.digest), der=bytes(row.der))

    def _state(self, list_id: int) -> _ListState:
        with self.authority.store.transaction() as connection:
            row = self._list_row(connection, list_id)
            newest = self._newest(connection, list_id, row)
            # Two ranges of the covering index rather than `!=`, which would scan every entry.
            valid = CertificateStatus.VALID.value
            changed = connection.execute(
                sa.select(certificates.c.status_index, certificates.c.status)
                .where((certificates.c.status_list_id == list_id)
                       & ((certificates.c.status < valid) | (certificates.c.status > valid)))
            ).all()
        entries = max(row.size, MIN_ENTRIES)
        entries += -entries % 4
        bitstring = build_bitstring(entries, ((int(r.status_index), r.status) for r in changed))
        return _ListState(row.issuer_uscc, newest, bitstring,
                          hashlib.sha256(bitstring).digest())

    def _publish(self, list_id: int, state: _ListState) -> SignedStatusList:
        for _ in range(8):
            snapshot = self._sign(list_id, state)
            try:
                with self.authority.store.transaction() as connection:
                    connection.execute(sa.insert(status_list_snapshots).values(
                        list_id=list_id, number=snapshot.number,
                        this_update=snapshot.this_update, next_update=snapshot.next_update,
                        digest=snapshot.digest, der=snapshot.der))
            except sa.exc.IntegrityError:
                # Another process took this number first.
                state = self._state(list_id)
                winner = state.newest
                if winner is not None and winner.digest == state.digest and self._fresh(winner):
                    snapshot = winner
                else:
                    continue
            self._export(snapshot)
            return snapshot
        raise StatusListUnavailable("too many processes publish this status list at once")

    def _sign(self, list_id: int, state: _ListState) -> SignedStatusList:
        issuer = self.authority.issuer(state.issuer_uscc)
        uri = list_uri(issuer.region_code, issuer.uscc, list_id)
        number = state.newest.number + 1 if state.newest is not None else 1
        this_update = self.clock().astimezone(UTC).replace(microsecond=0)
        next_update = this_update + self.lifetime
        document = status_list_document(
            uri=uri, issuer_uscc=issuer.uscc, number=number, this_update=this_update,
            next_update=next_update, bitstring=state.bitstring, ttl=self.ttl)
        signer = envelopes.EnvelopeSigner(
            self.authority.keystore, self.authority.issuer_key(issuer),
            certificate=issuer.certificate,
            chain=(self.authority.region(issuer.region_code).issuing_certificate,))
        der = signer.sign(document, content_type=STATUS_LIST, signing_time=this_update)
        return SignedStatusList(uri, issuer.uscc, list_id, number, this_update, next_update,
                                state.digest, der)

    def _export(self, snapshot: SignedStatusList) -> None:
        if self.directory is None or self._written.get(snapshot.list_id, 0) >= snapshot.number:
            return
        self.write_file(snapshot)
        self._written[snapshot.list_id] = snapshot.number


def _file_number(path: Path) -> int:
    """The number of the list in a file certlib wrote; 0 if there is none (or it is damaged)."""
    try:
        content = envelopes.parse(path.read_bytes()).content
        number = json.loads(content)["number"]
    except (OSError, CertlibError, ValueError, KeyError, TypeError):
        return 0
    return number if isinstance(number, int) else 0


__all__ = [
    "DEFAULT_LIFETIME", "DEFAULT_TTL", "MIN_ENTRIES", "STATUS_LIST", "STATUS_SIZE",
    "SignedStatusList", "StatusListDocument", "StatusListNotFound", "StatusListPublisher",
    "StatusListRejected", "StatusListSource", "StatusListUnavailable", "VerifiedStatusList",
    "build_bitstring", "decode_bitstring", "directory_fetcher", "encode_bitstring",
    "issuer_urn", "parse_status_list_document", "status_code", "status_list_document",
    "verify_status_list",
]
