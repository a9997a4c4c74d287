"""The platform's own `use` key per region: it signs grant tokens, receipts, showings and
annotated copies, so that departments and holders can check them offline."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from certlib import pki
from certlib.authority import Authority
from certlib.clock import utc_now
from certlib.errors import KeyExistsError
from certlib.grants.tokens import PlatformSigner
from certlib.store.schema import platform_signers

PURPOSE = "use"


class PlatformKeys:
    """Finds (or makes, once) the `use` key and certificate of each region."""

    def __init__(self, authority: Authority, clock: Callable[[], datetime] = utc_now) -> None:
        self.authority = authority
        self.clock = clock
        self._signers: dict[str, PlatformSigner] = {}
        self._lock = threading.Lock()
        self._making = threading.Lock()
        self._known: frozenset[bytes] = frozenset()

    def signer(self, region_code: str) -> PlatformSigner:
        """The region's signer, made on first use."""
        with self._lock:
            cached = self._signers.get(region_code)
        if cached is not None:
            return cached
        with self._making:  # one thread makes the key; the others then find it
            row = self._row(region_code)
            if row is None:
                self._make(region_code)
                row = self._row(region_code)
                assert row is not None
        region = self.authority.region(region_code)
        signer = PlatformSigner(self.authority.keystore,
                                self.authority.keystore.get(row.key_name),
                                bytes(row.certificate), (region.issuing_certificate,))
        with self._lock:
            self._signers[region_code] = signer
        return signer

    def certificates(self) -> set[bytes]:
        """Every region's `use` certificate: the tokens this platform signed name one."""
        with self.authority.store.reading() as connection:
            found = {bytes(row.certificate) for row in connection.execute(
                sa.select(platform_signers.c.certificate)
                .where(platform_signers.c.purpose == PURPOSE))}
        self._known = frozenset(found)
        return found

    def signed_here(self, certificate: bytes) -> bool:
        """Whether a token's signer certificate is one of this platform's (cached; the
        store is asked again only for a certificate not seen yet)."""
        return certificate in self._known or certificate in self.certificates()

    def _row(self, region_code: str) -> sa.Row[tuple[object, ...]] | None:
        with self.authority.store.reading() as connection:
            return connection.execute(sa.select(platform_signers).where(
                (platform_signers.c.region_code == region_code)
                & (platform_signers.c.purpose == PURPOSE))).first()

    def _make(self, region_code: str) -> None:
        region = self.authority.region(region_code)
        name = f"platform-use-{region.code}"
        try:
            key = self.authority._fresh_key(region.algorithm, name)
        except KeyExistsError:  # another process made it between our look and our make
            key = self.authority.keystore.get(name)
        certificate = self.authority.issue_end_entity_certificate(
            region.code, public_key=key.public_key, profile=pki.SEAL_SIGNING,
            subject=pki.DistinguishedName(f"{region.name}用证服务", organisation=region.name))
        with self.authority.store.transaction() as connection:
            if connection.execute(sa.select(platform_signers.c.key_name).where(
                    (platform_signers.c.region_code == region.code)
                    & (platform_signers.c.purpose == PURPOSE))).first() is None:
                connection.execute(sa.insert(platform_signers).values(
                    region_code=region.code, purpose=PURPOSE, key_name=key.name,
                    certificate=certificate, created_at=self.clock()))
