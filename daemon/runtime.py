"""What one worker process serves from: its platform (HSM session, database pool), the
verifier with cached trust material, the status lists."""

from __future__ import annotations

import threading
import time
from functools import cached_property

from certlib.auditbatch import AuditBatcher
from certlib.oidc import TokenVerifier
from certlib.platform import Platform
from certlib.status import StatusSource, StoreStatusSource
from certlib.statuslist import StatusListPublisher
from certlib.trust import TrustMaterial
from certlib.verify import Verifier
from daemon.config import DaemonConfig
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

    @cached_property
    def status_source(self) -> StatusSource:
        """Online status straight from the store (authoritative for this platform)."""
        return StoreStatusSource(self.platform.store)

    @cached_property
    def publisher(self) -> StatusListPublisher:
        """Signed status lists of this platform's departments."""
        return StatusListPublisher.for_platform(self.platform)

    def verifier(self) -> Verifier:
        """A verifier whose trust material is at most a few seconds old."""
        with self._lock:
            if self._verifier is None or (
                    time.monotonic() - self._verifier_time > TRUST_REFRESH_SECONDS):
                self._verifier = Verifier(self.platform.trust_material(), self.status_source,
                                          self.platform.types)
                self._verifier_time = time.monotonic()
            return self._verifier

    def trust_material(self) -> TrustMaterial:
        """The verifier's trust material (refreshed as the verifier is)."""
        return self.verifier().trust

    def close(self) -> None:
        """Release the HSM session and database pool."""
        self.platform.close()
