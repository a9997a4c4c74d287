"""Seal making (制发): the seal-making authority, creating, listing, suspending and
revoking departments' electronic seals."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from certlib import pki, ses
from certlib.algorithms import DEFAULT_ALGORITHM
from certlib.audit import Actor, AuditLog
from certlib.authority import Authority
from certlib.clock import utc_now
from certlib.errors import InputError
from certlib.ids import check_uscc
from certlib.keys import CertlibKeyStore
from certlib.sealpicture import load_picture, round_seal
from certlib.seals.errors import SealExists, SealNotFound, SealStateError
from certlib.seals.records import DocumentKind, SealPolicy, SealRecord, SealState, SealType
from certlib.store import Store
from certlib.store.db import next_counter
from certlib.store.schema import seal_makers, seal_policies, seals
from hsm import KeyRef

SEAL_ALGORITHM = "sm2-sm3"
"""SES seals and OFD signatures are SM2 with SM3, as GB/T 38540 requires."""
MAX_VALIDITY = timedelta(days=10 * 365)
_PICTURE_LIMIT = 512 * 1024


class SealRegistry:
    """The seals a region's seal-making authority has made, with their keys in the HSM."""

    def __init__(self, authority: Authority, audit: AuditLog,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.authority = authority
        self.audit = audit
        self.clock = clock

    @property
    def keystore(self) -> CertlibKeyStore:
        """The HSM key store."""
        return self.authority.keystore

    @property
    def store(self) -> Store:
        """The database."""
        return self.authority.store

    # -- the seal-making authority -------------------------------------------------------

    def maker(self, region_code: str, *, actor: Actor | None = None) -> tuple[KeyRef, bytes]:
        """The region's seal-making key and certificate, created on first use."""
        with self.store.reading() as connection:
            row = connection.execute(sa.select(seal_makers).where(
                seal_makers.c.region_code == region_code)).first()
        if row is not None:
            return self.keystore.get(row.key_name), bytes(row.certificate)
        region = self.authority.region(region_code)
        key = self._fresh_key(SEAL_ALGORITHM, f"seal-maker-{region.code}")
        certificate = self.authority.issue_end_entity_certificate(
            region.code, public_key=key.public_key, profile=pki.SEAL_MAKING,
            subject=pki.DistinguishedName(f"{region.name}电子印章制作系统",
                                          organisation=region.name))
        with self.store.transaction() as connection:
            existing = connection.execute(sa.select(seal_makers.c.key_name).where(
                seal_makers.c.region_code == region.code)).first()
            if existing is None:
                connection.execute(sa.insert(seal_makers).values(
                    region_code=region.code, key_name=key.name, certificate=certificate,
                    created_at=self.clock()))
                self._record(connection, actor, "seal.maker", (region.code,))
        return self.maker(region.code)

    # -- making seals ---------------------------------------------------------------------

    def create(
        self, *, owner_uscc: str, owner_name: str, region_code: str, name: str,
        seal_type: SealType = SealType.OFFICIAL, valid_from: datetime | None = None,
        valid_until: datetime | None = None, picture: bytes | None = None,
        picture_size_mm: tuple[int, int] = (42, 42), policy: SealPolicy,
        pdf_algorithm: str | None = None, actor: Actor | None = None,
    ) -> SealRecord:
        """Make a seal for a department: keys, signer certificates, picture, SESeal, policy."""
        owner_uscc = check_uscc(owner_uscc).value
        _check_text(owner_name, "owner name", 100)
        _check_text(name, "seal name", 40)
        check_policy(policy)
        now = self.clock()
        valid_from = valid_from or now
        valid_until = valid_until or valid_from + timedelta(days=3 * 365)
        if not valid_from < valid_until <= valid_from + MAX_VALIDITY:
            raise InputError("a seal is valid for a positive time of at most ten years")
        region = self.authority.region(region_code)
        pdf_algorithm = pdf_algorithm or (region.algorithm if region.algorithm != SEAL_ALGORITHM
                                          else DEFAULT_ALGORITHM)
        if pdf_algorithm == SEAL_ALGORITHM:
            raise InputError("PDF seals need an ECDSA or RSA key: PDF readers know no SM2")
        maker_key, maker_certificate = self.maker(region.code, actor=actor)
        with self.store.transaction() as connection:
            es_id = f"{region.code}{next_counter(connection, f'seal:{region.code}'):08d}"
        width_mm, height_mm = picture_size_mm
        if picture is None:
            picture = round_seal(owner_name, name, code=es_id, diameter_mm=width_mm)
            height_mm = width_mm
        else:
            if len(picture) > _PICTURE_LIMIT:
                raise InputError("the seal picture is larger than 512 KiB")
            picture = load_picture(picture, width_mm, height_mm)
        subject = pki.DistinguishedName(f"{owner_name}{name}", organisation=owner_name,
                                        organisation_identifier=owner_uscc)
        # A random part keeps key names unique even if a restored database hands out an
        # esID again: a revoked seal's disabled keys are never reused.
        unique = secrets.token_hex(4)
        ses_key = self.keystore.generate(SEAL_ALGORITHM, f"seal-{es_id}-{unique}-ses")
        pdf_key = self.keystore.generate(pdf_algorithm, f"seal-{es_id}-{unique}-pdf")
        ses_certificate, pdf_certificate = (
            self.authority.issue_end_entity_certificate(
                region.code, public_key=key.public_key, subject=subject,
                profile=pki.SEAL_SIGNING, not_before=valid_from, not_after=valid_until)
            for key in (ses_key, pdf_key))
        seal = ses.make_seal(ses.SealSpec(
            es_id=es_id, seal_type=int(seal_type), name=name,
            signer_certificates=(ses_certificate,), created=now, valid_from=valid_from,
            valid_until=valid_until,
            picture=ses.SealPicture("png", picture, width_mm, height_mm)),
            maker_certificate, lambda tbs: self.keystore.sign(maker_key, tbs))
        with self.store.transaction() as connection:
            if connection.execute(sa.select(seals.c.es_id).where(
                    seals.c.es_id == es_id)).first():
                raise SealExists(f"seal {es_id} exists already")
            connection.execute(sa.insert(seals).values(
                es_id=es_id, region_code=region.code, owner_uscc=owner_uscc,
                owner_name=owner_name, name=name, seal_type=int(seal_type),
                state=SealState.ACTIVE.value, valid_from=valid_from, valid_until=valid_until,
                created_at=now, ses_key_name=ses_key.name, ses_certificate=ses_certificate,
                pdf_key_name=pdf_key.name, pdf_certificate=pdf_certificate, picture=picture,
                picture_width_mm=width_mm, picture_height_mm=height_mm, seal=seal))
            _write_policy(connection, es_id, policy, now)
            self._record(connection, actor, "seal.create", (es_id, owner_uscc),
                         type=seal_type.name.lower())
        return self.get(es_id)

    # -- reading ---------------------------------------------------------------------------

    def get(self, es_id: str) -> SealRecord:
        """One seal; SealNotFound if unknown."""
        with self.store.reading() as connection:
            row = connection.execute(sa.select(seals).where(seals.c.es_id == es_id)).first()
        if row is None:
            raise SealNotFound(f"no seal with esID {es_id!r}")
        return _seal(row)

    def list(self, owner_uscc: str | None = None) -> list[SealRecord]:
        """Every seal made here, or those of one department."""
        query = sa.select(seals).order_by(seals.c.es_id)
        if owner_uscc is not None:
            query = query.where(seals.c.owner_uscc == owner_uscc)
        with self.store.reading() as connection:
            return [_seal(row) for row in connection.execute(query)]

    def policy(self, es_id: str) -> SealPolicy:
        """The seal's use policy."""
        with self.store.reading() as connection:
            row = connection.execute(sa.select(seal_policies).where(
                seal_policies.c.es_id == es_id)).first()
        if row is None:
            raise SealNotFound(f"no seal with esID {es_id!r}")
        return _policy(row)

    def export(self, es_id: str) -> bytes:
        """The seal as a `.esl` file (DER SESeal)."""
        return self.get(es_id).seal

    # -- changing ----------------------------------------------------------------------------

    def set_policy(self, es_id: str, policy: SealPolicy, *, actor: Actor | None = None) -> None:
        """Replace the seal's use policy."""
        check_policy(policy)
        self.get(es_id)
        with self.store.transaction() as connection:
            _write_policy(connection, es_id, policy, self.clock())
            self._record(connection, actor, "seal.policy", (es_id,),
                         users=len(policy.users), approvers=len(policy.approvers),
                         quota=policy.daily_quota or 0)

    def suspend(self, es_id: str, *, actor: Actor | None = None) -> SealRecord:
        """Stop a seal from being applied until it is resumed."""
        return self._change(es_id, SealState.SUSPENDED, {SealState.ACTIVE}, actor, None)

    def resume(self, es_id: str, *, actor: Actor | None = None) -> SealRecord:
        """Let a suspended seal be applied again."""
        return self._change(es_id, SealState.ACTIVE, {SealState.SUSPENDED}, actor, None)

    def revoke(self, es_id: str, reason: str = "cessation_of_operation", *,
               actor: Actor | None = None) -> SealRecord:
        """End a seal for good; its signer certificates go on the region's CRL."""
        return self._change(es_id, SealState.REVOKED, {SealState.ACTIVE, SealState.SUSPENDED},
                            actor, reason)

    def _change(self, es_id: str, target: SealState, allowed: set[SealState],
                actor: Actor | None, reason: str | None) -> SealRecord:
        record = self.get(es_id)
        if record.state is target:
            return record
        if record.state not in allowed:
            raise SealStateError(f"seal {es_id} is {record.state.value} and cannot become "
                                 f"{target.value}")
        with self.store.transaction() as connection:
            changed = connection.execute(
                sa.update(seals).where((seals.c.es_id == es_id)
                                       & (seals.c.state == record.state.value))
                .values(state=target.value, state_changed_at=self.clock())).rowcount
            if not changed:
                raise SealStateError(f"seal {es_id} changed meanwhile; try again")
            if target is SealState.REVOKED:
                for certificate in (record.ses_certificate, record.pdf_certificate):
                    self.authority.revoke_certificate(record.region_code, certificate,
                                                      reason or "cessation_of_operation",
                                                      connection=connection)
            self._record(connection, actor, f"seal.{_VERBS[target]}", (es_id,),
                         **({"reason": reason} if reason else {}))
        if target is SealState.REVOKED:
            self.authority.publish_crl(record.region_code, "issuing")
            for key_name in (record.ses_key_name, record.pdf_key_name):
                self.keystore.disable(key_name)  # nothing can sign with it again
        return self.get(es_id)

    # -- internals ------------------------------------------------------------------------------

    def _fresh_key(self, algorithm: str, name: str) -> KeyRef:
        return self.authority._fresh_key(algorithm, name)

    def _record(self, connection: Connection, actor: Actor | None, method: str,
                objects: tuple[str, ...], **details: object) -> None:
        self.audit.append(connection, actor=actor or Actor.local(), method=method,
                          objects=objects, details=details)


_VERBS = {SealState.ACTIVE: "resume", SealState.SUSPENDED: "suspend",
          SealState.REVOKED: "revoke"}


def check_policy(policy: SealPolicy) -> None:
    """InputError unless the policy is complete and sane."""
    if not isinstance(policy, SealPolicy):
        raise InputError("policy must be a SealPolicy")
    if not policy.users:
        raise InputError("a seal policy names at least one user")
    for entry in (*policy.users, *policy.approvers):
        kind, _, value = entry.partition(":")
        if kind not in ("department", "operator", "local", "admin") or not value:
            raise InputError("policy entries are department:<USCC>, operator:<USCC>#<id> "
                             "or local:<user>")
    if not policy.document_kinds or not all(isinstance(k, DocumentKind)
                                            for k in policy.document_kinds):
        raise InputError("a seal policy names the document kinds it allows")
    if policy.daily_quota is not None and not 1 <= policy.daily_quota <= 1_000_000:
        raise InputError("the daily quota is 1 to 1,000,000 uses")


def _write_policy(connection: Connection, es_id: str, policy: SealPolicy,
                  now: datetime) -> None:
    connection.execute(sa.delete(seal_policies).where(seal_policies.c.es_id == es_id))
    connection.execute(sa.insert(seal_policies).values(
        es_id=es_id, users=json.dumps(list(policy.users)),
        document_kinds=json.dumps([kind.value for kind in policy.document_kinds]),
        daily_quota=policy.daily_quota, approvers=json.dumps(list(policy.approvers)),
        changed_at=now))


def _policy(row: sa.Row[tuple[object, ...]]) -> SealPolicy:
    return SealPolicy(tuple(json.loads(row.users)),
                      tuple(DocumentKind(k) for k in json.loads(row.document_kinds)),
                      row.daily_quota, tuple(json.loads(row.approvers)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _seal(row: sa.Row[tuple[object, ...]]) -> SealRecord:
    return SealRecord(
        es_id=row.es_id, region_code=row.region_code, owner_uscc=row.owner_uscc,
        owner_name=row.owner_name, name=row.name, seal_type=SealType(row.seal_type),
        state=SealState(row.state), valid_from=_aware(row.valid_from),
        valid_until=_aware(row.valid_until), created_at=_aware(row.created_at),
        ses_key_name=row.ses_key_name, ses_certificate=bytes(row.ses_certificate),
        pdf_key_name=row.pdf_key_name, pdf_certificate=bytes(row.pdf_certificate),
        picture=bytes(row.picture), picture_width_mm=row.picture_width_mm,
        picture_height_mm=row.picture_height_mm, seal=bytes(row.seal))


def _check_text(value: object, what: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InputError(f"the {what} is 1 to {limit} characters")
    if any(ord(c) < 0x20 for c in value):
        raise InputError(f"the {what} holds control characters")
