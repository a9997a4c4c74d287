"""Cross-region trust in certd (跨地区互通互认): other regions' signed trust lists (kept by
certlib.trustlist), their CRLs and status lists fetched from their daemons over mutual TLS,
their departments recognised as callers, and a status source that says which source was
missing when it cannot answer, so a verification is INDETERMINATE / TRY_LATER, never PASSED.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

import grpc
from asn1crypto import crl as asn1_crl
from asn1crypto import pem

from certlib.client import CertlibClient, ClientCredentials
from certlib.clock import utc_now
from certlib.errors import CertlibError, UnavailableError
from certlib.platform import Platform
from certlib.report import Check
from certlib.status import CertificateStatus, StatusAnswer, StatusSource, parse_list_uri
from certlib.statuslist import StatusListSource
from certlib.trust import TrustMaterial
from certlib.trustlist import ListState, RegionTrustList, TrustListClient, TrustView
from certlib.verify import IssuerCheck
from certsvc.v1 import trust_service_pb2, trust_service_pb2_grpc, verification_service_pb2
from daemon.config import FederationSettings

log = logging.getLogger("certd.federation")

T = TypeVar("T")

PEER_CALLS = {"status": 0, "status_list": 0, "crl": 0}
"""Calls made to other regions' daemons by this process (bench.federation counts them)."""


CRL_RETRY_SECONDS = 5.0
"""After a failed fetch, verifications do not wait on that region's CRLs again sooner than
this (the refresh thread keeps trying at its own pace)."""


@dataclass(frozen=True)
class _Crls:
    root: bytes
    issuing: bytes
    next_update: datetime
    revoked: frozenset[int]
    """Serials on the issuing CA's CRL (departments', TLS and seal certificates)."""


@dataclass
class _Peers:
    clients: dict[str, tuple[tuple[str, str, tuple[bytes, ...]], CertlibClient]] = field(
        default_factory=dict)
    """Region -> (the endpoint as listed: address, TLS name, CAs; the client)."""
    crls: dict[str, _Crls] = field(default_factory=dict)
    crl_attempts: dict[str, float] = field(default_factory=dict)


class Federation:
    """What one worker knows of other regions and how it reaches them."""

    def __init__(self, platform: Platform, settings: FederationSettings,
                 tls_directory: str | None = None) -> None:
        self.platform = platform
        self.settings = settings
        self.trust_lists = TrustListClient.for_platform(platform)
        self.local_regions = frozenset(region.code for region in platform.authority.regions())
        self._tls_directory = tls_directory
        self._peers = _Peers()
        self._lock = threading.Lock()
        self._view: tuple[float, TrustView] | None = None
        self.crl_generation = 0
        """Goes up whenever another region's CRLs change (the verifier is rebuilt then)."""

    # -- what the lists say ------------------------------------------------------------------

    def view(self) -> TrustView:
        """The trust lists in force (re-read from the store every few seconds)."""
        cached = self._view
        if cached is not None and time.monotonic() - cached[0] < 2.0:
            return cached[1]
        view = self.trust_lists.view()
        self._view = (time.monotonic(), view)
        return view

    def foreign_regions(self, view: TrustView | None = None) -> tuple[str, ...]:
        """Other regions whose lists are fresh (in `view`, default the current one)."""
        try:
            fresh = (view or self.view()).regions(ListState.FRESH)
        except CertlibError:
            return ()
        return tuple(region for region in fresh if region not in self.local_regions)

    def _fresh_lists(self) -> dict[str, RegionTrustList]:
        """The fresh lists of other regions, from one view (a region that turns stale
        between two looks is left out, not an error)."""
        try:
            view = self.view()
        except CertlibError:
            return {}
        lists = {}
        for region in self.foreign_regions(view):
            try:
                lists[region] = view.region_list(region)
            except CertlibError:
                continue
        return lists

    def trust_material(self, local: TrustMaterial) -> TrustMaterial:
        """This platform's own trust material plus that of every fresh foreign list, with
        the foreign CRLs last fetched; anchors are told apart by region."""
        merged = TrustMaterial(anchors=list(local.anchors),
                               certificates=list(local.certificates), crls=list(local.crls),
                               anchor_regions=dict(local.anchor_regions))
        try:
            view = self.view()
        except CertlibError:
            return merged
        for region in self.foreign_regions(view):
            try:
                material = view.trust_material_for(region, crls=self._crls_of(region))
            except CertlibError:
                continue  # turned stale since the look at the lists: left out
            merged.anchors += [a for a in material.anchors if a not in merged.anchor_regions]
            merged.anchor_regions = {**material.anchor_regions, **merged.anchor_regions}
            merged.certificates += [c for c in material.certificates
                                    if c not in merged.certificates]
            merged.crls += material.crls
        return merged

    def view_for_verifier(self) -> IssuerCheck:
        """The trust lists' word on issuers of other regions (province authorisations);
        nothing for this platform's own regions."""

        def check(region: str, uscc: str, type_code: str) -> Check | None:
            if region in self.local_regions:
                return None
            try:
                view = self.view()
            except CertlibError:
                return None
            if view.state_of(region) is ListState.NOT_LISTED:
                return None  # no list speaks for it: the chain decides alone
            return view.issuer_check(region, uscc, type_code)

        return check

    def client_roots(self) -> list[bytes]:
        """Root certificates of fresh foreign regions: their departments may call us."""
        return [root for listed in self._fresh_lists().values() for root in listed.roots]

    def foreign_issuers(self) -> dict[str, tuple[bytes, ...]]:
        """Issuing-CA certificates of every fresh foreign region, by region."""
        return {region: tuple(listed.issuing) for region, listed in self._fresh_lists().items()}

    # -- reaching other regions ---------------------------------------------------------------

    def client(self, region: str) -> CertlibClient:
        """A client to a foreign region's daemon as its list describes it now, authenticated
        by this daemon's peer client certificate; UnavailableError if it cannot be reached."""
        if self._tls_directory is None:
            raise UnavailableError("this daemon has no TLS client files for other regions")
        endpoint = self.view().endpoint_of(region)
        wanted = (endpoint.address, endpoint.server_name, tuple(endpoint.ca_certificates))
        with self._lock:
            existing = self._peers.clients.get(region)
        if existing is not None and existing[0] == wanted:
            return existing[1]
        directory = f"{self._tls_directory}/clients/{self.settings.peer_client}"
        try:
            credentials = ClientCredentials.from_files(
                f"{directory}.pem", f"{directory}.key", "/dev/null")
        except CertlibError:
            raise UnavailableError(
                f"no peer client certificate {self.settings.peer_client!r} to call region "
                f"{region} with (certd client-cert --label {self.settings.peer_client})"
            ) from None
        credentials = replace(credentials, ca=b"".join(
            pem.armor("CERTIFICATE", der) for der in endpoint.ca_certificates))
        client = CertlibClient(endpoint.address, credentials,
                               timeout=self.settings.peer_timeout_seconds,
                               server_name=endpoint.server_name)
        with self._lock:
            replaced = self._peers.clients.get(region)
            self._peers.clients[region] = (wanted, client)
        if replaced is not None and replaced[0] != wanted:
            replaced[1].close()  # the region moved or changed its TLS identity
        return client

    def _call(self, region: str, kind: str, action: Callable[[CertlibClient], T]) -> T:
        PEER_CALLS[kind] += 1
        try:
            return action(self.client(region))
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                self._forget(region)  # a fresh channel tries at once, not after gRPC's backoff
            name = code.name if code is not None else "error"
            raise UnavailableError(f"region {region}'s daemon did not answer ({name})") from None
        except UnavailableError:
            self._forget(region)
            raise

    def _forget(self, region: str) -> None:
        # Not closed here: other threads may be mid-call on it; gRPC closes it when the
        # last reference goes.
        with self._lock:
            self._peers.clients.pop(region, None)

    def refresh_crls(self) -> None:
        """Fetch the CRLs of every fresh foreign region again (a revocation there is seen
        within refresh_seconds, not only when the CRL nears its next update)."""
        for region in self.foreign_regions():
            self._fetch_crls(region, throttled=False, always=True)

    def ensure_crls(self, regions: Sequence[str]) -> None:
        """Fetch, side by side, the CRLs of the regions this worker has none of yet (a cold
        verification's first round trip; the refresh thread keeps them current after)."""
        missing = [region for region in regions if region not in self._peers.crls]
        if len(missing) == 1:
            self._fetch_crls(missing[0])
        elif missing:
            with ThreadPoolExecutor(max_workers=min(len(missing), 16)) as pool:
                list(pool.map(self._fetch_crls, missing))

    def revoked(self, region: str, serial: int) -> bool | None:
        """Whether the region's issuing CA has revoked this serial, by its current CRL
        (fetched now if there is none); None when no current CRL can be had."""
        known = self._peers.crls.get(region)
        if known is None or known.next_update <= utc_now():
            self._fetch_crls(region, always=True)
            known = self._peers.crls.get(region)
        if known is None or known.next_update <= utc_now():
            return None
        return serial in known.revoked

    def _crls_of(self, region: str) -> list[bytes]:
        known = self._peers.crls.get(region)
        return [] if known is None else [known.root, known.issuing]

    def _fetch_crls(self, region: str, throttled: bool = True, always: bool = False) -> None:
        known = self._peers.crls.get(region)
        if not always and known is not None and \
                known.next_update - utc_now() > timedelta(minutes=5):
            return
        now = time.monotonic()
        with self._lock:
            last = self._peers.crl_attempts.get(region)
            if throttled and last is not None and now - last < CRL_RETRY_SECONDS:
                return  # failed a moment ago: do not hold up verifications again
            self._peers.crl_attempts[region] = now
        try:
            response = self._call(region, "crl", lambda client: trust_service_pb2_grpc
                                  .TrustServiceStub(client.channel).GetCrls(
                                      trust_service_pb2.GetCrlsRequest(region=region),
                                      timeout=self.settings.peer_timeout_seconds))
            root, issuing = (asn1_crl.CertificateList.load(bytes(der))
                             for der in (response.root_crl, response.issuing_crl))
            next_update = min(crl["tbs_cert_list"]["next_update"].native
                              for crl in (root, issuing))
            revoked = frozenset(int(entry["user_certificate"].native) for entry in
                                issuing["tbs_cert_list"]["revoked_certificates"])
        except (CertlibError, ValueError, TypeError) as error:
            log.warning("could not fetch CRLs", extra={"region": region,
                                                       "problem": str(error)[:200]})
            return
        fetched = _Crls(root.dump(), issuing.dump(), next_update, revoked)
        with self._lock:
            self._peers.crl_attempts.pop(region, None)
            if self._peers.crls.get(region) != fetched:
                self._peers.crls[region] = fetched
                self.crl_generation += 1

    def status_list(self, list_uri: str) -> bytes:
        """A foreign region's signed status list, from its daemon."""
        parsed = parse_list_uri(list_uri)
        if parsed is None:
            raise UnavailableError("not a certlib status-list URI")
        region, _, list_id = parsed
        response = self._call(region, "status_list", lambda client: client.verification
                              .GetStatusList(verification_service_pb2.GetStatusListRequest(
                                  name=f"statusLists/{list_id}"),
                                  timeout=self.settings.peer_timeout_seconds))
        return bytes(response.status_list.signed_list)

    def status_online(self, list_uri: str, index: int, at: datetime) -> StatusAnswer:
        """Ask the issuing region's daemon for one entry's status."""
        region = parse_list_uri(list_uri)[0]  # type: ignore[index]
        text = self._call(region, "status", lambda client: client.status(list_uri, index))
        status = CertificateStatus(str(text).lower()) if str(text).lower() in {
            s.value for s in CertificateStatus} else CertificateStatus.UNKNOWN
        return StatusAnswer(status, at, f"region {region}'s daemon")

    def close(self) -> None:
        """Close the channels to other regions."""
        with self._lock:
            for _, client in self._peers.clients.values():
                client.close()
            self._peers.clients.clear()


class FederatedStatusSource:
    """This platform's status from its store; other regions' from their signed status
    lists (cached, refetched) or, failing those, from their daemons; otherwise UNKNOWN
    naming what was missing."""

    def __init__(self, local: StatusSource, federation: Federation,
                 trust: TrustMaterial) -> None:
        self.local = local
        self.federation = federation
        settings = federation.settings
        self.lists = StatusListSource(
            trust, federation.status_list,
            refresh_after=timedelta(seconds=settings.status_refresh_seconds),
            retry_after=timedelta(seconds=min(5.0, settings.status_refresh_seconds)))

    def set_trust(self, trust: TrustMaterial) -> None:
        """Use newer trust material to check foreign status lists' signatures."""
        self.lists.set_trust(trust)

    def status(self, list_uri: str, index: int, at: datetime) -> StatusAnswer:
        """The status of one entry, from wherever it can be had."""
        parsed = parse_list_uri(list_uri)
        if parsed is None or parsed[0] in self.federation.local_regions:
            return self.local.status(list_uri, index, at)
        region = parsed[0]
        if self.federation.settings.status_online:
            try:
                online = self.federation.status_online(list_uri, index, at)
                if online.status is not CertificateStatus.UNKNOWN:
                    return online
            except CertlibError:
                pass  # fall back to the list
        answer = self.lists.status(list_uri, index, at)
        if answer.status is not CertificateStatus.UNKNOWN:
            return answer
        if not self.federation.settings.status_online:
            try:
                return self.federation.status_online(list_uri, index, at)
            except CertlibError as error:
                return StatusAnswer(CertificateStatus.UNKNOWN, at, f"region {region}",
                                    detail=f"no fresh status list of region {region} "
                                           f"({answer.detail}) and {error.message}")
        return StatusAnswer(CertificateStatus.UNKNOWN, at, f"region {region}",
                            detail=f"region {region}'s daemon did not answer and its status "
                                   f"list is not fresh ({answer.detail})")
