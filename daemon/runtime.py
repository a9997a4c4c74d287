"""What one worker process serves from: its platform (HSM session, database pool), the
verifier with cached trust material, the status lists."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from functools import cached_property

from certlib.auditbatch import AuditBatcher
from certlib.oidc import TokenVerifier
from certlib.platform import Platform
from certlib.status import StatusSource, StoreStatusSource
from certlib.statuslist import StatusListPublisher
from certlib.trust import TrustMaterial
from certlib.verify import Verifier
from daemon.config import DaemonConfig
from daemon.federation import FederatedStatusSource, Federation
from daemon.identity import PeerRecognition
from daemon.observe import HsmMetrics

TRUST_REFRESH_SECONDS = 5.0
"""How long a worker reuses its trust material (roots, department certificates, CRLs)."""


class WorkerRuntime:
    """Per-process state of certd, created after the worker process starts."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.platform = Platform(config.settings, key_observer=HsmMetrics())
        self.audit_batcher = AuditBatcher(self.platform.audit)
        """Group commit for the audit records of calls that change nothing else."""
        self.token_verifier = TokenVerifier(config.oidc) if config.oidc is not None else None
        """Checks holders' bearer tokens (keeps the identity provider's keys); None without
        `[oidc]`."""
        self._verifier: Verifier | None = None
        self._verifier_time = 0.0
        self._lock = threading.Lock()
        self.federation = Federation(self.platform, config.federation,
                                     str(config.tls_directory))
        """Other regions: their trust lists, CRLs, status lists and departments."""
        self._status: FederatedStatusSource | None = None
        self._crl_generation = 0

    @cached_property
    def local_status_source(self) -> StatusSource:
        """Online status straight from the store (authoritative for this platform)."""
        return StoreStatusSource(self.platform.store)

    @property
    def status_source(self) -> StatusSource:
        """This platform's status from the store, other regions' as federation finds it."""
        self.verifier()
        assert self._status is not None
        return self._status

    @cached_property
    def publisher(self) -> StatusListPublisher:
        """Signed status lists of this platform's departments."""
        return StatusListPublisher.for_platform(self.platform, lifetime=timedelta(
            seconds=self.config.federation.status_list_lifetime_seconds))

    def verifier(self) -> Verifier:
        """A verifier whose trust material (this platform's and every fresh foreign trust
        list's) is at most a few seconds old."""
        if self._verifier is None or time.monotonic() - self._verifier_time > \
                TRUST_REFRESH_SECONDS:
            # Fetch missing CRLs of other regions outside the lock: a region that hangs
            # must not hold up verifications of everyone else's certificates.
            self.federation.ensure_crls(self.federation.foreign_regions())
        with self._lock:
            if self._verifier is None or (
                    time.monotonic() - self._verifier_time > TRUST_REFRESH_SECONDS) or (
                    self._crl_generation != self.federation.crl_generation):
                trust = self.federation.trust_material(self.platform.trust_material())
                if self._status is None:
                    self._status = FederatedStatusSource(self.local_status_source,
                                                         self.federation, trust)
                else:
                    self._status.set_trust(trust)
                self._verifier = Verifier(trust, self._status, self.platform.types,
                                          issuer_check=self.federation.view_for_verifier())
                self._verifier_time = time.monotonic()
                self._crl_generation = self.federation.crl_generation
            return self._verifier

    def peer_recognition(self) -> PeerRecognition:
        """How the interceptor tells this region's departments from other regions'."""
        cache: dict[str, tuple[float, tuple[bytes, ...]]] = {}

        def local_issuers() -> tuple[bytes, ...]:
            cached = cache.get("issuers")
            if cached is None or time.monotonic() - cached[0] > TRUST_REFRESH_SECONDS:
                issuing = tuple(region.issuing_certificate
                                for region in self.platform.authority.regions())
                cached = cache["issuers"] = (time.monotonic(), issuing)
            return cached[1]

        return PeerRecognition(lambda: self.federation.local_regions, local_issuers,
                               self.federation.foreign_issuers, self.federation.revoked)

    def trust_material(self) -> TrustMaterial:
        """The verifier's trust material (refreshed as the verifier is)."""
        return self.verifier().trust

    def close(self) -> None:
        """Release the HSM session, the database pool and the channels to other regions."""
        self.federation.close()
        self.platform.close()
