"""The verifier's side: accept national and region lists only when they deserve it.

Start from a pinned national list (a bootstrap file the operator installs). A newer national
list needs the threshold of the keys in force AND of its own keys (rotation with overlap,
as TUF root metadata); a region list needs the threshold of the keys the national list
gives that region. Versions only go up, expired lists are refused, and whatever is refused
leaves the last good copy in force. State lives in the store (`trust_lists`), so it
survives restarts and is shared by every daemon on the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from certlib.clock import utc_now
from certlib.errors import CertlibError, InputError, UnavailableError
from certlib.report import Check
from certlib.store import Store
from certlib.trust import TrustMaterial
from certlib.trustlist import store as state
from certlib.trustlist.canonical import MAX_DOCUMENT_BYTES
from certlib.trustlist.errors import Rejection, TrustListMissing, TrustListRejected
from certlib.trustlist.model import (
    NATIONAL_TYPE,
    REGION_TYPE,
    Endpoint,
    NationalTrustList,
    RegionEntry,
    RegionTrustList,
    StatusLocation,
    check_type,
    format_time,
    parse_national_list,
    parse_region_list,
)
from certlib.trustlist.signing import SignedDocument, parse_signed, require_threshold
from certlib.trustlist.view import TrustView

if TYPE_CHECKING:
    from certlib.platform import Platform

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a list's `issued` may lie."""
BOOTSTRAP_FILE = Path("trust") / "national.json"
"""The pinned national list, relative to the state directory (`for_platform`)."""
MAX_CHAIN_STEPS = 64
"""At most this many national versions are walked in one `refresh`."""
_WRITE_ATTEMPTS = 16


@dataclass(frozen=True)
class _Snapshot:
    """The lists in force as last read from the store: (version, digest) and parsed list."""

    index: Mapping[str, tuple[int, str]]
    national: NationalTrustList | None
    regions: Mapping[str, RegionTrustList]
    loaded_at: float

    def digest(self, scope: str) -> str | None:
        entry = self.index.get(scope)
        return None if entry is None else entry[1]


class TrustListClient:
    """The national list and region lists in force at this verifier, and their updates."""

    def __init__(self, store: Store, *, bootstrap: bytes | Path | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 max_bytes: int = MAX_DOCUMENT_BYTES, clock_skew: timedelta = CLOCK_SKEW,
                 reload_after: timedelta = timedelta(seconds=30)) -> None:
        self.store = store
        self.clock = clock
        self.max_bytes = max_bytes
        self.clock_skew = clock_skew
        self.reload_after = reload_after
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._written = False
        if bootstrap is not None:
            self.install_bootstrap(bootstrap)

    @classmethod
    def for_platform(cls, platform: Platform, *,
                     clock: Callable[[], datetime] = utc_now) -> TrustListClient:
        """A client on the platform's store, pinned by `<home>/trust/national.json` if present."""
        pinned = platform.settings.home / BOOTSTRAP_FILE
        return cls(platform.store, bootstrap=pinned if pinned.is_file() else None, clock=clock)

    # -- reading ----------------------------------------------------------------------------------

    def view(self, at: datetime | None = None) -> TrustView:
        """The lists in force, judged at `at` (default now)."""
        snapshot = self._load()
        return TrustView(snapshot.national, snapshot.regions, at or self.clock())

    def national(self) -> NationalTrustList:
        """The national list in force (TrustListMissing / TrustListStale if unusable)."""
        return self.view().national

    def region_list(self, region: str) -> RegionTrustList:
        """The region's list in force, if fresh."""
        return self.view().region_list(region)

    def trust_material_for(self, region: str, crls: Sequence[bytes] = ()) -> TrustMaterial:
        """Anchors and certificates from the region's fresh list (+ `crls`)."""
        return self.view().trust_material_for(region, crls)

    def trust_material(self, crls: Sequence[bytes] = ()) -> TrustMaterial:
        """Anchors and certificates of every region with a fresh list (+ `crls`)."""
        return self.view().trust_material(crls)

    def issuer_allowed(self, region: str, uscc: str, type_code: str) -> bool:
        """Whether the lists let department `uscc` of `region` issue `type_code`."""
        return self.view().issuer_allowed(region, uscc, type_code)

    def issuer_check(self, region: str, uscc: str, type_code: str) -> Check:
        """`issuer_allowed` as a report check (never PASSED from a stale list)."""
        return self.view().issuer_check(region, uscc, type_code)

    def endpoint_of(self, region: str) -> Endpoint:
        """The region's daemon endpoint and TLS identity."""
        return self.view().endpoint_of(region)

    def status_location_of(self, region: str) -> StatusLocation:
        """Where the region's status lists and CRLs are fetched from."""
        return self.view().status_location_of(region)

    # -- installing and updating ----------------------------------------------------------------

    def install_bootstrap(self, document: bytes | Path) -> NationalTrustList:
        """Pin the operator's national list if none is in force yet; the one in force."""
        data = _read(document, self.max_bytes)
        parsed, candidate = self._self_signed_national(data)
        for _ in range(_WRITE_ATTEMPTS):  # False: another process pinned one meanwhile
            if self._write_national(parsed, candidate, data, expect=None, only_if_empty=True):
                break
        current = self._load(force=True).national
        assert current is not None
        return current

    def pin_national(self, document: bytes | Path) -> NationalTrustList:
        """Replace the national list by an operator's decision (recovery): checked for form
        and its own signatures only, whatever its version."""
        data = _read(document, self.max_bytes)
        parsed, candidate = self._self_signed_national(data)
        for _ in range(_WRITE_ATTEMPTS):
            if self._write_national(parsed, candidate, data, expect=None, only_if_empty=False):
                return candidate
        raise UnavailableError("the trust lists kept changing meanwhile; try again")

    def update_national(self, document: bytes) -> NationalTrustList:
        """Accept a newer national list signed by the thresholds of the keys in force and of
        its own keys; TrustListRejected (last good copy kept) otherwise."""
        return self._update_national(document)[0]

    def update_region(self, document: bytes) -> RegionTrustList:
        """Accept a newer list of a region the national list names, signed by that region's
        threshold of keys; TrustListRejected (last good copy kept) otherwise."""
        return self._update_region(document)[0]

    def refresh(self, fetch: Callable[[str], bytes]) -> dict[str, str]:
        """Fetch and apply the national list, then every region's list; the outcome by scope:
        `accepted`, `unchanged`, or the error code (`TRUST_LIST_REJECTED:<reason>`)."""
        outcomes: dict[str, str] = {}
        outcomes[state.NATIONAL] = self._refresh_national(fetch)
        try:
            entries = list(self.national().regions.values())
        except CertlibError:
            return outcomes
        for entry in entries:
            outcomes[entry.code] = _outcome(self._update_region, fetch, entry.location)
        return outcomes

    def _refresh_national(self, fetch: Callable[[str], bytes]) -> str:
        current = self._load(force=True).national
        if current is None:
            return TrustListMissing.code
        if "{version}" not in current.location:
            return _outcome(self._update_national, fetch, current.location)
        result = "unchanged"
        for _ in range(MAX_CHAIN_STEPS):  # TUF: walk every version, one step at a time
            location = current.location.replace("{version}", str(current.version + 1))
            try:
                document = fetch(location)
            except (UnavailableError, OSError):
                break
            step = _applied(self._update_national, document)
            if step != "accepted":
                return step
            result = step
            newer = self._load(force=True).national
            assert newer is not None
            current = newer
        return result

    # -- the checks ---------------------------------------------------------------------------

    def _self_signed_national(self, data: bytes) -> tuple[SignedDocument, NationalTrustList]:
        parsed = parse_signed(data, self.max_bytes)
        check_type(parsed.signed, NATIONAL_TYPE)
        candidate = parse_national_list(parsed.signed)
        require_threshold(parsed, candidate.keys, candidate.threshold, "its own")
        return parsed, candidate

    def _update_national(self, document: bytes) -> tuple[NationalTrustList, bool]:
        parsed = parse_signed(document, self.max_bytes)
        check_type(parsed.signed, NATIONAL_TYPE)
        for _ in range(_WRITE_ATTEMPTS):
            snapshot = self._load(force=True)
            current = snapshot.national
            if current is None:
                raise TrustListMissing("no national trust list is pinned: install the "
                                       "operator's bootstrap file first")
            current_version, current_digest = snapshot.index[state.NATIONAL]
            if parsed.digest == current_digest:
                return current, False
            require_threshold(parsed, current.keys, current.threshold, "the current national")
            candidate = parse_national_list(parsed.signed)
            require_threshold(parsed, candidate.keys, candidate.threshold, "the new national")
            if candidate.version <= current_version:
                raise TrustListRejected(Rejection.ROLLBACK, (
                    f"national version {candidate.version} is not above the "
                    f"{current_version} in force"))
            self._check_times(candidate)
            if self._write_national(parsed, candidate, document,
                                    expect=(current_version, current_digest),
                                    only_if_empty=False):
                return candidate, True
        raise UnavailableError("the trust lists kept changing meanwhile; try again")

    def _update_region(self, document: bytes) -> tuple[RegionTrustList, bool]:
        parsed = parse_signed(document, self.max_bytes)
        check_type(parsed.signed, REGION_TYPE)
        code = parsed.signed.get("region")
        if not isinstance(code, str):
            raise TrustListRejected(Rejection.MALFORMED, "the list names no region")
        for _ in range(_WRITE_ATTEMPTS):
            snapshot = self._load(force=True)
            # A stale or missing national list raises here: nothing can be judged by it.
            national = TrustView(snapshot.national, {}, self.clock()).national
            entry = national.regions.get(code)
            if entry is None:
                raise TrustListRejected(Rejection.REGION_NOT_LISTED,
                                        "the national list does not name this region")
            floor = snapshot.index.get(code)
            if floor is not None and parsed.digest == floor[1]:
                return snapshot.regions[code], False
            require_threshold(parsed, entry.keys, entry.threshold, f"region {code}'s")
            candidate = parse_region_list(parsed.signed)
            if floor is not None and candidate.version <= floor[0]:
                raise TrustListRejected(Rejection.ROLLBACK, (
                    f"region {code} version {candidate.version} is not above the {floor[0]} "
                    "in force"))
            self._check_times(candidate)
            if self._write_region(parsed, candidate, document,
                                  snapshot.index[state.NATIONAL], floor):
                return candidate, True
        raise UnavailableError("the trust lists kept changing meanwhile; try again")

    def _check_times(self, candidate: NationalTrustList | RegionTrustList) -> None:
        now = self.clock()
        if candidate.expires <= now:
            raise TrustListRejected(Rejection.EXPIRED,
                                    f"it expired at {format_time(candidate.expires)}")
        if candidate.issued > now + self.clock_skew:
            raise TrustListRejected(Rejection.NOT_YET_VALID, "it is issued in the future")

    # -- the store ---------------------------------------------------------------------------

    def _write_national(self, parsed: SignedDocument, candidate: NationalTrustList,
                        document: bytes, *, expect: tuple[int, str] | None,
                        only_if_empty: bool) -> bool:
        try:
            with self.store.transaction() as connection:
                locked = state.lock_national(connection)
                if only_if_empty and locked is not None:
                    return True
                if expect is not None and locked != expect:
                    return False
                stored = state.read_lists(connection, state.read_index(connection))
                before = stored.pop(state.NATIONAL, None)
                previous = None if before is None else parse_national_list(
                    parse_signed(before.document, len(before.document)).signed)
                state.put(connection, state.NATIONAL, version=candidate.version,
                          digest=parsed.digest, issued=candidate.issued,
                          expires=candidate.expires, document=bytes(document), now=self.clock())
                state.remove(connection, _orphaned(stored, previous, candidate, self.max_bytes))
        except sa.exc.IntegrityError:
            return False  # another process pinned a national list at the same moment
        finally:
            self._written = True
        return True

    def _write_region(self, parsed: SignedDocument, candidate: RegionTrustList,
                      document: bytes, national: tuple[int, str],
                      floor: tuple[int, str] | None) -> bool:
        try:
            with self.store.transaction() as connection:
                if state.lock_national(connection) != national:
                    return False
                if state.region_version(connection, candidate.region) != floor:
                    return False
                state.put(connection, candidate.region, version=candidate.version,
                          digest=parsed.digest, issued=candidate.issued,
                          expires=candidate.expires, document=bytes(document), now=self.clock())
        finally:
            self._written = True
        return True

    def _load(self, force: bool = False) -> _Snapshot:
        with self._lock:
            previous = self._snapshot
            if previous is not None and not force and not self._written and (
                    time.monotonic() - previous.loaded_at < self.reload_after.total_seconds()):
                return previous
            self._written = False
            with self.store.reading() as connection:
                index = state.read_index(connection)
                changed = [scope for scope, (_, digest) in index.items()
                           if previous is None or previous.digest(scope) != digest]
                stored = state.read_lists(connection, changed)
            national = None if previous is None else previous.national
            regions = {} if previous is None else dict(previous.regions)
            for scope, row in stored.items():
                signed = parse_signed(row.document, max(self.max_bytes, len(row.document)))
                if scope == state.NATIONAL:
                    national = parse_national_list(signed.signed)
                else:
                    regions[scope] = parse_region_list(signed.signed)
            snapshot = _Snapshot(
                index=index, national=national if state.NATIONAL in index else None,
                regions={scope: listed for scope, listed in regions.items() if scope in index},
                loaded_at=time.monotonic())
            self._snapshot = snapshot
            return snapshot


def _orphaned(stored: dict[str, state.StoredList], previous: NationalTrustList | None,
              candidate: NationalTrustList, max_bytes: int) -> list[str]:
    """Region lists the new national list no longer vouches for: regions it drops, and
    lists that do not verify under a region's changed keys. Their version floors go too,
    so a region recovers from a list its compromised old key signed far ahead (TUF 5.3.11)."""
    dropped = []
    for scope, row in stored.items():
        entry = candidate.regions.get(scope)
        if entry is None:
            dropped.append(scope)
            continue
        before = previous.regions.get(scope) if previous is not None else None
        if before is not None and _same_keys(before, entry):
            continue
        try:
            require_threshold(parse_signed(row.document, max(max_bytes, len(row.document))),
                              entry.keys, entry.threshold, f"region {scope}'s")
        except TrustListRejected:
            dropped.append(scope)
    return dropped


def _same_keys(before: RegionEntry, after: RegionEntry) -> bool:
    return set(before.keys) == set(after.keys) and before.threshold == after.threshold


def _outcome(update: Callable[[bytes], tuple[object, bool]], fetch: Callable[[str], bytes],
             location: str) -> str:
    try:
        document = fetch(location)
    except CertlibError as error:
        return error.code
    except OSError:
        return UnavailableError.code
    return _applied(update, document)


def _applied(update: Callable[[bytes], tuple[object, bool]], document: bytes) -> str:
    try:
        _, changed = update(document)
    except TrustListRejected as error:
        return f"{error.code}:{error.reason.value}"
    except CertlibError as error:
        return error.code
    return "accepted" if changed else "unchanged"


def _read(document: bytes | Path, max_bytes: int) -> bytes:
    if isinstance(document, bytes | bytearray | memoryview):
        return bytes(document)
    try:
        with Path(document).open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise InputError(f"cannot read the trust list file: {error.strerror}") from None
    return data
