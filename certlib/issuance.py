"""Issuing e-certificates: validate, salt, commit, sign in the HSM, record, all or nothing.

One issuance is one database transaction: the serial, the status index, the HSM signature
and the stored record either all happen or none does. The holder's fields, salts and
identity number are stored only sealed (`certlib.protect`); the signed object holds only
salted digests.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from asn1crypto import algos, cms, keys

from certlib import cms as envelopes
from certlib import ecert, oids
from certlib.algorithms import get_algorithm, load_public_key
from certlib.audit import Actor, AuditLog
from certlib.authority import Authority, IssuerRecord
from certlib.clock import utc_now
from certlib.errors import InputError, KeyNotUsableError, TrustError
from certlib.ids import CertificateIdentifier
from certlib.protect import DataProtector
from certlib.status import CertificateStatus, list_uri
from certlib.store import Store, next_counter
from certlib.store.schema import certificates, issue_requests, status_lists
from certlib.types import LONG_TERM, CertificateType, TypeRegistry, ValidatedData
from hsm import KeyRef, KeyState

STATUS_LIST_SIZE = 131_072
"""Entries per status list: large enough that one index says little about its holder."""
_STATUS_LIST_FILL = 0.5
"""Open a new list once this share of the current one is used (random indexes stay cheap)."""
CHINA = timezone(timedelta(hours=8))
HOLDER_ID_KINDS = {"person": "111", "organisation": "uscc"}
"""HolderItem idKind: GA/T 517 code 111 (居民身份证号码) for people, `uscc` for organisations."""


class CertificateNotFound(InputError):
    """No certificate with this identifier."""

    code = "CERTIFICATE_NOT_FOUND"


class IssuerNotAuthorised(InputError):
    """The department may not issue this certificate type."""

    code = "ISSUER_NOT_AUTHORISED"


class RequestIdReused(InputError):
    """A request id the caller already used for a different issuance."""

    code = "REQUEST_ID_REUSED"


class StatusChangeRefused(InputError):
    """The requested status change is not allowed from the current status."""

    code = "STATUS_CHANGE_REFUSED"


@dataclass(frozen=True)
class StatusChange:
    """The outcome of a status change request."""

    identifier: str
    status: CertificateStatus
    changed: bool
    """False when the certificate already had this status (nothing recorded)."""


@dataclass(frozen=True)
class CertificateRecord:
    """What the store knows of a certificate, without personal data."""

    identifier: str
    type_id: str
    type_code: str
    issuer_uscc: str
    version: int
    status: CertificateStatus
    status_changed_at: datetime | None
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime | None
    status_list: str
    status_index: int


@dataclass(frozen=True)
class IssuedCertificate:
    """An issued certificate: the holder's DER `ElectronicCertificate` and what it is."""

    identifier: str
    type_id: str
    issuer_uscc: str
    der: bytes
    warnings: tuple[str, ...] = ()


def new_salt() -> bytes:
    """A fresh random salt for one field."""
    return os.urandom(ecert.SALT_BYTES)


def digest_name_for(algorithm: str) -> str:
    """The field-digest algorithm: SM3 with SM2 issuers, SHA-256 otherwise."""
    return "sm3" if get_algorithm(algorithm).key_type == "sm2" else "sha256"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), CHINA).astimezone(UTC)


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), CHINA).astimezone(UTC)


def _validity(certificate_type: CertificateType, values: Mapping[str, str],
              issued_at: datetime) -> tuple[datetime, datetime | None]:
    start_field, end_field = certificate_type.validity
    start = values.get(start_field) if start_field else None
    end = values.get(end_field) if end_field else None
    not_before = _start_of(date.fromisoformat(start)) if start else issued_at
    not_after = _end_of(date.fromisoformat(end)) if end and end != LONG_TERM else None
    return not_before, not_after


class CertificateOffice:
    """Issue, look up and change the status of e-certificates."""

    def __init__(self, authority: Authority, types: TypeRegistry, protector: DataProtector,
                 audit: AuditLog, clock: Callable[[], datetime] = utc_now) -> None:
        self.authority = authority
        self.types = types
        self.protector = protector
        self.audit = audit
        self.clock = clock
        self._keys: dict[str, KeyRef] = {}
        self._chains: dict[str, tuple[bytes, ...]] = {}
        self._signers: dict[tuple[str, str, bytes, tuple[bytes, ...]],
                            envelopes.EnvelopeSigner] = {}

    @property
    def store(self) -> Store:
        """The store the authority uses."""
        return self.authority.store

    def issue(
        self, *, issuer_uscc: str, type_id: str, data: Mapping[str, object],
        holder_key: bytes | None = None, version: int = 1, actor: Actor | None = None,
        request_id: str | None = None,
    ) -> IssuedCertificate:
        """Issue one certificate of `type_id` by department `issuer_uscc` (audited)."""
        certificate_type = self.types.get(type_id)
        issuer = self.authority.issuer(issuer_uscc)
        if issuer.state != "active":
            raise IssuerNotAuthorised(f"department {issuer_uscc} may no longer issue")
        if certificate_type.code not in issuer.type_codes:
            raise IssuerNotAuthorised(
                f"department {issuer_uscc} may not issue {certificate_type.id}")
        validated = certificate_type.validate(data)
        if holder_key is not None:
            load_public_key(holder_key)
        actor = actor or Actor.local()
        request_digest = _request_digest(certificate_type.id, issuer.uscc, validated,
                                         holder_key, version)
        if request_id is not None:
            earlier = self._earlier_issuance(actor, request_id, request_digest)
            if earlier is not None:
                return earlier
        key = self._keys.get(issuer.uscc) or self.authority.issuer_key(issuer)
        chain = self._chains.get(issuer.region_code)
        if chain is None:
            chain = (self.authority.region(issuer.region_code).issuing_certificate,)
            self._chains[issuer.region_code] = chain
        for attempt in range(3):
            if key.state is not KeyState.ACTIVE:  # refuse before reserving a serial
                raise KeyNotUsableError(f"key {key.label} is {key.state.value} and cannot sign")
            try:
                issued = self._issue_once(
                    certificate_type=certificate_type, issuer=issuer, validated=validated,
                    key=key, chain=chain, holder_key=holder_key, version=version,
                    actor=actor, request_id=request_id, request_digest=request_digest)
                self._keys[issuer.uscc] = key
                return issued
            except KeyNotUsableError:
                # The cached key version was rotated away: look the current one up once.
                self._keys.pop(issuer.uscc, None)
                fresh = self.authority.issuer_key(issuer)
                if fresh == key or attempt == 2:
                    raise
                key = fresh
            except sa.exc.IntegrityError:
                # A concurrent retry of the same request may have won: answer with it.
                if request_id is not None:
                    earlier = self._earlier_issuance(actor, request_id, request_digest)
                    if earlier is not None:
                        return earlier
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _earlier_issuance(self, actor: Actor, request_id: str,
                          request_digest: bytes) -> IssuedCertificate | None:
        with self.store.reading() as connection:
            row = connection.execute(sa.select(issue_requests).where(
                (issue_requests.c.actor == actor.label)
                & (issue_requests.c.request_id == request_id))).first()
        if row is None:
            return None
        if bytes(row.request_digest) != request_digest:
            raise RequestIdReused("this request id was used for a different issuance")
        return self.get(row.identifier)

    def _issue_once(
        self, *, certificate_type: CertificateType, issuer: IssuerRecord,
        validated: ValidatedData, key: KeyRef, chain: tuple[bytes, ...],
        holder_key: bytes | None, version: int, actor: Actor, request_id: str | None,
        request_digest: bytes,
    ) -> IssuedCertificate:
        issued_at = self.clock()
        not_before, not_after = _validity(certificate_type, validated.values, issued_at)
        digest_name = digest_name_for(issuer.algorithm)
        items = [ecert.frozen(ecert.FieldItem({"salt": new_salt(), "name": name, "value": value}))
                 for name, value in validated.values.items()]
        holder = ecert.frozen(ecert.HolderItem({
            "salt": new_salt(), "id_kind": HOLDER_ID_KINDS[certificate_type.holder_kind],
            "id_value": validated.holder_id}))
        # Reserve the serial and status index in a short transaction of their own, so that
        # building and signing (the slow part) hold no write lock. A process that dies
        # before the second transaction leaves an unused serial and index, never a
        # half-issued certificate.
        with self.store.transaction() as connection:
            serial = f"{issued_at:%Y}{next_counter(connection, f'serial:{issuer.uscc}'):08d}"
            list_id, index = _allocate_status(connection, issuer.uscc, issued_at)
        identifier = CertificateIdentifier.generate(
            certificate_type.code, issuer.uscc, serial, version)
        security_object = ecert.CertificateSecurityObject({
            "version": 1,
            "identifier": str(identifier),
            "type_code": certificate_type.code,
            "type_key": certificate_type.id,
            "issuer": {"uscc": issuer.uscc, "name": issuer.name,
                       "region": issuer.region_code},
            "holder_reference": ecert.item_digest(digest_name, holder),
            "validity": {"not_before": not_before, "not_after": not_after},
            "issued_at": issued_at,
            "status": {"list": list_uri(issuer.region_code, issuer.uscc, list_id),
                       "index": index},
            "digest_algorithm": algos.DigestAlgorithm(
                {"algorithm": "2.16.840.1.101.3.4.2.1" if digest_name == "sha256"
                 else oids.SM3}),
            "field_digests": ecert.frozen(ecert.FieldDigests([
                ecert.frozen(ecert.FieldDigest({
                    "name": item["name"].native,
                    "digest": ecert.item_digest(digest_name, item)}))
                for item in items])),
            "holder_key": keys.PublicKeyInfo.load(holder_key) if holder_key else None,
        })
        signed_object = self._envelope_signer(issuer, key, chain).sign(
            security_object.dump(), content_type=oids.CERTIFICATE_SECURITY_OBJECT,
            signing_time=issued_at)
        certificate = ecert.ElectronicCertificate({
            "version": 1,
            "signed_object": cms.ContentInfo.load(signed_object),
            "fields": ecert.frozen(ecert.FieldItems(items)),
            "holder": holder,
        }).dump()
        self.protector.prepare()
        with self.store.transaction() as connection:
            key_id, sealed = self.protector.seal(certificate, str(identifier).encode(), connection)
            connection.execute(sa.insert(certificates).values(
                identifier=str(identifier), type_code=certificate_type.code,
                type_name=certificate_type.id, issuer_uscc=issuer.uscc, serial=serial,
                version=version,
                holder_index=self.protector.blind_index(
                    f"{HOLDER_ID_KINDS[certificate_type.holder_kind]}:{validated.holder_id}",
                    connection),
                status_list_id=list_id, status_index=index,
                status=CertificateStatus.VALID.value, issued_at=issued_at,
                valid_from=not_before, valid_until=not_after, signed_object=signed_object,
                data_key_id=key_id, sealed_payload=sealed))
            if request_id is not None:
                connection.execute(sa.insert(issue_requests).values(
                    actor=actor.label, request_id=request_id, request_digest=request_digest,
                    identifier=str(identifier), created_at=issued_at))
            self.audit.append(connection, actor=actor, method="certificate.issue",
                              objects=(str(identifier), issuer.uscc), request_id=request_id,
                              details={"type": certificate_type.id})
        return IssuedCertificate(str(identifier), certificate_type.id, issuer.uscc, certificate,
                                 validated.warnings)

    def _envelope_signer(self, issuer: IssuerRecord, key: KeyRef,
                         chain: tuple[bytes, ...]) -> envelopes.EnvelopeSigner:
        cache_key = (issuer.uscc, key.label, issuer.certificate, chain)
        signer = self._signers.get(cache_key)
        if signer is None:
            signer = envelopes.EnvelopeSigner(self.authority.keystore, key,
                                              certificate=issuer.certificate, chain=chain)
            self._signers[cache_key] = signer
        return signer

    def get(self, identifier: str) -> IssuedCertificate:
        """The holder's full certificate, unsealed from the store."""
        row = self._row(identifier)
        der = self.protector.open(row.data_key_id, bytes(row.sealed_payload), identifier.encode())
        if ecert.ElectronicCertificate.load(der)["signed_object"].dump() != bytes(
                row.signed_object):
            raise TrustError("stored certificate does not match its signed object")
        return IssuedCertificate(identifier, row.type_name, row.issuer_uscc, der)

    def status(self, identifier: str) -> CertificateStatus:
        """The certificate's current status."""
        return CertificateStatus(self._row(identifier).status)

    def record(self, identifier: str) -> CertificateRecord:
        """The certificate's metadata and status (no personal data)."""
        row = self._row(identifier)
        region = self.authority.issuer(row.issuer_uscc).region_code
        return CertificateRecord(
            identifier=row.identifier, type_id=row.type_name, type_code=row.type_code,
            issuer_uscc=row.issuer_uscc, version=row.version,
            status=CertificateStatus(row.status),
            status_changed_at=_utc(row.status_changed_at), issued_at=_utc(row.issued_at),
            valid_from=_utc(row.valid_from), valid_until=_utc(row.valid_until),
            status_list=list_uri(region, row.issuer_uscc, row.status_list_id),
            status_index=row.status_index)

    def revoke(self, identifier: str, *, actor: Actor | None = None,
               request_id: str | None = None, reason: str = "unspecified") -> StatusChange:
        """Revoke for good (from valid or suspended)."""
        return self._change(identifier, CertificateStatus.REVOKED,
                            allowed_from={CertificateStatus.VALID, CertificateStatus.SUSPENDED},
                            actor=actor, request_id=request_id, reason=reason)

    def suspend(self, identifier: str, *, actor: Actor | None = None,
                request_id: str | None = None, reason: str = "unspecified") -> StatusChange:
        """Suspend a valid certificate until it is resumed or revoked."""
        return self._change(identifier, CertificateStatus.SUSPENDED,
                            allowed_from={CertificateStatus.VALID},
                            actor=actor, request_id=request_id, reason=reason)

    def resume(self, identifier: str, *, actor: Actor | None = None,
               request_id: str | None = None, reason: str = "unspecified") -> StatusChange:
        """Make a suspended certificate valid again."""
        return self._change(identifier, CertificateStatus.VALID,
                            allowed_from={CertificateStatus.SUSPENDED},
                            actor=actor, request_id=request_id, reason=reason)

    def _change(self, identifier: str, target: CertificateStatus, *,
                allowed_from: set[CertificateStatus], actor: Actor | None,
                request_id: str | None, reason: str) -> StatusChange:
        """One status change with its audit record; a repeat of the same change is a no-op.

        The row is updated only if it still has the status read, so concurrent requests
        make exactly one change and one audit record."""
        with self.store.transaction() as connection:
            row = connection.execute(sa.select(certificates.c.status, certificates.c.issuer_uscc)
                                     .where(certificates.c.identifier == identifier)
                                     .with_for_update()).first()
            if row is None:
                raise CertificateNotFound("no certificate with this identifier")
            current = CertificateStatus(row.status)
            if current is target:
                return StatusChange(identifier, target, changed=False)
            if current not in allowed_from:
                raise StatusChangeRefused(
                    f"a {current.value} certificate cannot become {target.value}")
            updated = connection.execute(sa.update(certificates).where(
                (certificates.c.identifier == identifier) & (certificates.c.status == row.status)
            ).values(status=target.value, status_changed_at=self.clock())).rowcount
            if updated != 1:
                return StatusChange(identifier, target, changed=False)
            verb = {CertificateStatus.REVOKED: "revoke", CertificateStatus.SUSPENDED: "suspend",
                    CertificateStatus.VALID: "resume"}[target]
            self.audit.append(connection, actor=actor or Actor.local(),
                              method=f"certificate.{verb}",
                              objects=(identifier, row.issuer_uscc), request_id=request_id,
                              details={"from": current.value, "reason": reason[:100]})
        return StatusChange(identifier, target, changed=True)

    def _row(self, identifier: str) -> sa.Row[tuple[object, ...]]:
        with self.store.reading() as connection:
            row = connection.execute(sa.select(certificates).where(
                certificates.c.identifier == identifier)).first()
        if row is None:
            raise CertificateNotFound("no certificate with this identifier")
        return row


def _request_digest(type_id: str, issuer: str, validated: ValidatedData,
                    holder_key: bytes | None, version: int) -> bytes:
    """A digest of what an issuance request asks for, to tell a retry from a new request."""
    body = json.dumps({"type": type_id, "issuer": issuer, "values": dict(validated.values),
                       "holder_key": (holder_key or b"").hex(), "version": version},
                      sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(body).digest()


def _utc(moment: Any) -> Any:
    """A stored time as aware UTC (SQLite returns naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _allocate_status(connection: sa.Connection, issuer_uscc: str,
                     now: datetime) -> tuple[int, int]:
    """A random free index in the issuer's open status list (opening a new list if full)."""
    row = connection.execute(
        sa.select(status_lists.c.id, status_lists.c.size, status_lists.c.used)
        .where(status_lists.c.issuer_uscc == issuer_uscc)
        .order_by(status_lists.c.id.desc()).limit(1)).first()
    if row is None or row.used >= row.size * _STATUS_LIST_FILL:
        list_id = int(connection.execute(
            sa.insert(status_lists).values(issuer_uscc=issuer_uscc, size=STATUS_LIST_SIZE,
                                           used=0, created_at=now)
            .returning(status_lists.c.id)).scalar_one())
        size = STATUS_LIST_SIZE
    else:
        list_id, size = int(row.id), int(row.size)
    chooser = random.SystemRandom()
    for _ in range(64):
        index = chooser.randrange(size)
        taken = connection.execute(sa.select(certificates.c.id).where(
            (certificates.c.status_list_id == list_id)
            & (certificates.c.status_index == index))).first()
        if taken is None:
            connection.execute(sa.update(status_lists).where(status_lists.c.id == list_id)
                               .values(used=status_lists.c.used + 1))
            return list_id, index
    raise TrustError("no free status index found")
