"""A region's PKI: root and issuing CA in the HSM, department signing certificates, CRLs.

Keys are named `region-<code>-root`, `region-<code>-issuing` and `issuer-<USCC>` in the
key store; certificates and CRLs live in the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from asn1crypto import x509
from sqlalchemy.engine import Connection

from certlib import pki
from certlib.algorithms import DEFAULT_ALGORITHM, get_algorithm
from certlib.audit import Actor, AuditLog
from certlib.clock import utc_now
from certlib.errors import InputError, KeyNotFoundError
from certlib.ids import check_uscc
from certlib.keys import CertlibKeyStore
from certlib.store import Store, next_counter
from certlib.store.schema import crls, issuers, regions, revoked_ca_certificates
from certlib.trust import TrustMaterial
from hsm import KeyRef

CRL_LIFETIME = timedelta(days=7)
CRL_RENEW_BEFORE = timedelta(days=1)


class RegionNotFound(InputError):
    """No PKI has been set up for this region code."""

    code = "REGION_NOT_FOUND"


class RegionExists(InputError):
    """This region already has a PKI."""

    code = "REGION_EXISTS"


class IssuerNotFound(InputError):
    """No issuing department with this USCC."""

    code = "ISSUER_NOT_FOUND"


class IssuerExists(InputError):
    """A department with this USCC is already registered."""

    code = "ISSUER_EXISTS"


@dataclass(frozen=True)
class Region:
    """A region's certification authorities."""

    code: str
    name: str
    algorithm: str
    root_key: str
    issuing_key: str
    root_certificate: bytes
    issuing_certificate: bytes


@dataclass(frozen=True)
class IssuerRecord:
    """A department allowed to issue certain certificate types."""

    uscc: str
    name: str
    region_code: str
    type_codes: tuple[str, ...]
    algorithm: str
    key_name: str
    certificate: bytes
    state: str


def _crl_url(region: str, authority: str) -> str:
    return f"urn:certlib:crl:{region}:{authority}"


class Authority:
    """Set up regions and departments, and publish their CRLs."""

    def __init__(self, keystore: CertlibKeyStore, store: Store,
                 audit: AuditLog | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.keystore = keystore
        self.store = store
        self.audit = audit
        self.clock = clock

    def _record(self, connection: Connection, actor: Actor | None, method: str,
                objects: tuple[str, ...], **details: str) -> None:
        if self.audit is not None:
            self.audit.append(connection, actor=actor or Actor.local(), method=method,
                              objects=objects, details=details)

    # -- regions ---------------------------------------------------------------

    def init_region(self, code: str, name: str, algorithm: str = DEFAULT_ALGORITHM, *,
                    actor: Actor | None = None) -> Region:
        """Create the root and issuing CA of a region, keys in the HSM."""
        code = _check_region_code(code)
        name = _check_name(name, "region name")
        if not get_algorithm(algorithm).generates_keys:
            raise InputError(f"{algorithm} cannot be used for new keys")
        with self.store.transaction() as connection:
            if connection.execute(sa.select(regions.c.code).where(regions.c.code == code)).first():
                raise RegionExists(f"region {code} already has a PKI")
        now = self.clock()
        root_key = self._fresh_key(algorithm, f"region-{code}-root")
        issuing_key = self._fresh_key(algorithm, f"region-{code}-issuing")
        root_name = pki.DistinguishedName(f"{name} 电子证照根CA", organisation=name)
        issuing_name = pki.DistinguishedName(f"{name} 电子证照签发CA", organisation=name)
        root = pki.build_certificate(
            self.keystore, pki.Issuer(root_key, root_name), subject=root_name,
            public_key=root_key.public_key, profile=pki.ROOT_CA, not_before=now)
        issuing = pki.build_certificate(
            self.keystore, pki.Issuer(root_key, root_name, root), subject=issuing_name,
            public_key=issuing_key.public_key, profile=pki.ISSUING_CA, not_before=now,
            crl_distribution_point=_crl_url(code, "root"))
        with self.store.transaction() as connection:
            connection.execute(sa.insert(regions).values(
                code=code, name=name, algorithm=algorithm, root_key=root_key.name,
                issuing_key=issuing_key.name, root_certificate=root,
                issuing_certificate=issuing, created_at=now))
            self._record(connection, actor, "region.init", (code,), algorithm=algorithm)
        region = self.region(code)
        self.publish_crl(code, "root")
        self.publish_crl(code, "issuing")
        return region

    def region(self, code: str) -> Region:
        """The region's CAs; RegionNotFound if it has none."""
        with self.store.reading() as connection:
            row = connection.execute(sa.select(regions).where(regions.c.code == code)).first()
        if row is None:
            raise RegionNotFound(f"no PKI for region {code!r}")
        return Region(row.code, row.name, row.algorithm, row.root_key, row.issuing_key,
                      row.root_certificate, row.issuing_certificate)

    def regions(self) -> list[Region]:
        """Every region with a PKI."""
        with self.store.transaction() as connection:
            codes = connection.execute(sa.select(regions.c.code).order_by(regions.c.code))
            names = [row.code for row in codes]
        return [self.region(code) for code in names]

    # -- departments ---------------------------------------------------------------

    def add_issuer(
        self, uscc: str, name: str, region_code: str, type_codes: Sequence[str],
        algorithm: str | None = None, *, actor: Actor | None = None,
    ) -> IssuerRecord:
        """Register a department: an HSM key and a certificate naming what it may issue."""
        uscc = check_uscc(uscc).value
        name = _check_name(name, "department name")
        if not type_codes:
            raise InputError("a department must be allowed at least one certificate type")
        region = self.region(region_code)
        algorithm = algorithm or region.algorithm
        with self.store.transaction() as connection:
            if connection.execute(sa.select(issuers.c.uscc).where(issuers.c.uscc == uscc)).first():
                raise IssuerExists(f"department {uscc} is already registered")
        key = self._fresh_key(algorithm, f"issuer-{uscc}")
        certificate = self._issuer_certificate(region, uscc, name, key, tuple(type_codes))
        with self.store.transaction() as connection:
            connection.execute(sa.insert(issuers).values(
                uscc=uscc, name=name, region_code=region.code,
                type_codes=json.dumps(list(type_codes)), algorithm=algorithm,
                key_name=key.name, certificate=certificate, state="active",
                created_at=self.clock()))
            self._record(connection, actor, "issuer.add", (uscc, region.code),
                         types=",".join(type_codes)[:400], algorithm=algorithm)
        return self.issuer(uscc)

    def _issuer_certificate(self, region: Region, uscc: str, name: str, key: KeyRef,
                            type_codes: tuple[str, ...]) -> bytes:
        authorisation = pki.IssuerAuthorisation({
            "uscc": uscc, "region": region.code, "certificate_types": list(type_codes)})
        return pki.build_certificate(
            self.keystore, self._issuing_ca(region),
            subject=pki.DistinguishedName(name, organisation=name,
                                          organisation_identifier=uscc),
            public_key=key.public_key, profile=pki.ISSUER_SIGNING, not_before=self.clock(),
            crl_distribution_point=_crl_url(region.code, "issuing"),
            authorisation=authorisation)

    def issuer(self, uscc: str) -> IssuerRecord:
        """A registered department; IssuerNotFound if unknown."""
        with self.store.reading() as connection:
            row = connection.execute(sa.select(issuers).where(issuers.c.uscc == uscc)).first()
        if row is None:
            raise IssuerNotFound(f"no department with USCC {uscc!r}")
        return IssuerRecord(row.uscc, row.name, row.region_code,
                            tuple(json.loads(row.type_codes)), row.algorithm, row.key_name,
                            row.certificate, row.state)

    def issuers(self) -> list[IssuerRecord]:
        """Every registered department."""
        with self.store.transaction() as connection:
            usccs = [r.uscc for r in connection.execute(
                sa.select(issuers.c.uscc).order_by(issuers.c.uscc))]
        return [self.issuer(uscc) for uscc in usccs]

    def issuer_key(self, record: IssuerRecord) -> KeyRef:
        """The department's current signing key."""
        return self.keystore.get(record.key_name)

    def revoke_issuer(self, uscc: str, reason: str = "cessation_of_operation", *,
                      actor: Actor | None = None) -> None:
        """Revoke a department's signing certificate and publish the issuing CA's CRL."""
        record = self.issuer(uscc)
        serial = x509.Certificate.load(record.certificate).serial_number
        with self.store.transaction() as connection:
            connection.execute(sa.update(issuers).where(issuers.c.uscc == uscc)
                               .values(state="revoked"))
            connection.execute(sa.insert(revoked_ca_certificates).values(
                region_code=record.region_code, authority="issuing", serial=str(serial),
                revoked_at=self.clock(), reason=reason))
            self._record(connection, actor, "issuer.revoke", (uscc, record.region_code),
                         reason=reason)
        self.publish_crl(record.region_code, "issuing")

    def revoked_serials(self) -> set[int]:
        """Serials of every certificate the regions' issuing CAs have revoked (for TLS)."""
        with self.store.reading() as connection:
            return {int(row.serial) for row in connection.execute(
                sa.select(revoked_ca_certificates.c.serial).where(
                    revoked_ca_certificates.c.authority == "issuing"))}

    def revoke_tls_certificate(self, region_code: str, certificate: bytes,
                               reason: str = "cessation_of_operation", *,
                               actor: Actor | None = None) -> None:
        """Revoke a TLS client or server certificate and publish the issuing CA's CRL."""
        serial = x509.Certificate.load(certificate).serial_number
        region = self.region(region_code)
        with self.store.transaction() as connection:
            connection.execute(sa.insert(revoked_ca_certificates).values(
                region_code=region.code, authority="issuing", serial=str(serial),
                revoked_at=self.clock(), reason=reason))
            self._record(connection, actor, "tls.revoke", (region.code, str(serial)),
                         reason=reason)
        self.publish_crl(region.code, "issuing")

    def revoke_certificate(self, region_code: str, certificate: bytes,
                           reason: str = "cessation_of_operation", *,
                           connection: Connection | None = None) -> None:
        """Put a certificate of the region's issuing CA on its CRL (published afterwards
        by the caller, or now when there is no caller's transaction)."""
        serial = x509.Certificate.load(certificate).serial_number
        region = self.region(region_code)
        values = {"region_code": region.code, "authority": "issuing", "serial": str(serial),
                  "revoked_at": self.clock(), "reason": reason}
        if connection is not None:
            connection.execute(sa.insert(revoked_ca_certificates).values(**values))
            return
        with self.store.transaction() as own:
            own.execute(sa.insert(revoked_ca_certificates).values(**values))
        self.publish_crl(region.code, "issuing")

    def issue_end_entity_certificate(
        self, region_code: str, *, public_key: bytes, subject: pki.DistinguishedName,
        profile: pki.Profile, not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> bytes:
        """A signing certificate (seals, seal making) from the region's issuing CA."""
        region = self.region(region_code)
        return pki.build_certificate(
            self.keystore, self._issuing_ca(region), subject=subject, public_key=public_key,
            profile=profile, not_before=not_before or self.clock(), not_after=not_after,
            crl_distribution_point=_crl_url(region.code, "issuing"))

    # -- TLS ---------------------------------------------------------------------

    def issue_tls_certificate(
        self, region_code: str, *, public_key: bytes, subject: pki.DistinguishedName,
        server: bool, dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = (),
        not_before: datetime | None = None, not_after: datetime | None = None,
    ) -> bytes:
        """A TLS server or client certificate from the region's issuing CA."""
        region = self.region(region_code)
        return pki.build_certificate(
            self.keystore, self._issuing_ca(region), subject=subject, public_key=public_key,
            profile=pki.TLS_SERVER if server else pki.TLS_CLIENT,
            not_before=not_before or self.clock(), not_after=not_after,
            crl_distribution_point=_crl_url(region.code, "issuing"),
            dns_names=dns_names, ip_addresses=ip_addresses)

    # -- CRLs ---------------------------------------------------------------------

    def publish_crl(self, region_code: str, authority: str) -> bytes:
        """Sign and store a new CRL of the region's root or issuing CA."""
        region = self.region(region_code)
        signer = self._root_ca(region) if authority == "root" else self._issuing_ca(region)
        now = self.clock()
        with self.store.transaction() as connection:
            revoked = [
                pki.RevokedEntry(int(row.serial), row.revoked_at.replace(tzinfo=UTC)
                                 if row.revoked_at.tzinfo is None else row.revoked_at, row.reason)
                for row in connection.execute(sa.select(revoked_ca_certificates).where(
                    (revoked_ca_certificates.c.region_code == region.code)
                    & (revoked_ca_certificates.c.authority == authority)))
            ]
            number = next_counter(connection, f"crl:{region.code}:{authority}")
            der = pki.build_crl(self.keystore, signer, number=number, this_update=now,
                                next_update=now + CRL_LIFETIME, revoked=revoked)
            connection.execute(sa.insert(crls).values(
                region_code=region.code, authority=authority, number=number,
                this_update=now, next_update=now + CRL_LIFETIME, der=der))
        return der

    def current_crl(self, region_code: str, authority: str) -> bytes:
        """The newest CRL, renewed first when it is about to expire."""
        with self.store.transaction() as connection:
            row = connection.execute(
                sa.select(crls.c.der, crls.c.next_update)
                .where((crls.c.region_code == region_code) & (crls.c.authority == authority))
                .order_by(crls.c.number.desc()).limit(1)).first()
        if row is not None:
            next_update = row.next_update if row.next_update.tzinfo else row.next_update.replace(
                tzinfo=UTC)
            if next_update - self.clock() > CRL_RENEW_BEFORE:
                return bytes(row.der)
        return self.publish_crl(region_code, authority)

    def trust_material(self) -> TrustMaterial:
        """Anchors, CA and department certificates and current CRLs of every region here."""
        material = TrustMaterial(anchors=[])
        for region in self.regions():
            material.anchors.append(region.root_certificate)
            material.anchor_regions[region.root_certificate] = region.code
            material.certificates.append(region.issuing_certificate)
            material.crls += [self.current_crl(region.code, "root"),
                              self.current_crl(region.code, "issuing")]
        material.certificates += [issuer.certificate for issuer in self.issuers()]
        return material

    # -- internals -------------------------------------------------------------------

    def _root_ca(self, region: Region) -> pki.Issuer:
        subject = x509.Certificate.load(region.root_certificate).subject
        return pki.Issuer(self.keystore.get(region.root_key), _name_of(subject),
                          region.root_certificate)

    def _issuing_ca(self, region: Region) -> pki.Issuer:
        subject = x509.Certificate.load(region.issuing_certificate).subject
        return pki.Issuer(self.keystore.get(region.issuing_key), _name_of(subject),
                          region.issuing_certificate)

    def _fresh_key(self, algorithm: str, name: str) -> KeyRef:
        try:
            existing = self.keystore.get(name)
        except KeyNotFoundError:
            return self.keystore.generate(algorithm, name)
        if existing.algorithm != algorithm:
            raise InputError(f"the HSM already holds a {existing.algorithm} key named {name}")
        if existing.can_sign:
            return existing  # left by an earlier attempt that failed before it was recorded
        return self.keystore.rotate(name)


def _name_of(name: x509.Name) -> pki.DistinguishedName:
    native = name.native
    return pki.DistinguishedName(
        common_name=str(native.get("common_name", "")),
        organisation=native.get("organization_name"),
        organisation_identifier=native.get("organization_identifier"),
        province=native.get("state_or_province_name"),
        locality=native.get("locality_name"),
        country=str(native.get("country_name", "CN")),
    )


def _check_region_code(code: str) -> str:
    if not isinstance(code, str) or len(code) != 6 or not code.isdigit():
        raise InputError("a region code is six digits (GB/T 2260)")
    return code


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InputError(f"the {what} must be 1-200 characters")
    return name.strip()
