"""Signed grant tokens, use receipts and showings (亮证): DER structures in CMS SignedData
signed by the platform's `use` key, and their compact text forms for QR codes.

    GrantToken ::= SEQUENCE {
      version INTEGER (1), grantId UTF8String, holder UTF8String,   -- a pseudonym
      audience UTF8String,                                          -- the department's USCC
      certificates SEQUENCE OF UTF8String, fields SEQUENCE OF UTF8String,
      matterCode UTF8String, matterName UTF8String,
      notBefore GeneralizedTime, notAfter GeneralizedTime, maxUses INTEGER,
      issuedAt GeneralizedTime, agents SEQUENCE OF UTF8String }     -- the delegation chain
    UseReceipt ::= SEQUENCE {
      version INTEGER (1), receiptId UTF8String, kind UTF8String, holder UTF8String,
      caller UTF8String, matterCode UTF8String, matterName UTF8String,
      legalBasis [0] EXPLICIT UTF8String OPTIONAL, grantId [1] EXPLICIT UTF8String OPTIONAL,
      agents SEQUENCE OF UTF8String, certificates SEQUENCE OF UTF8String,
      fields SEQUENCE OF UTF8String,                                -- names only, no values
      useNumber INTEGER, usedAt GeneralizedTime }
    ShowToken ::= SEQUENCE {
      version INTEGER (1), holder UTF8String, presentation OCTET STRING,
      audience [0] EXPLICIT UTF8String OPTIONAL, nonce [1] EXPLICIT OCTET STRING OPTIONAL,
      notBefore GeneralizedTime, notAfter GeneralizedTime, agents SEQUENCE OF UTF8String }
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import core

from certlib import cms as envelopes
from certlib import oids
from certlib.errors import MalformedInput
from certlib.keys import CertlibKeyStore
from certlib.present import decode_text, encode_text
from certlib.report import ReportBuilder, SubIndication, ValidationReport
from certlib.trust import TrustMaterial
from certlib.verify import Verifier
from hsm import KeyRef

GRANT_PREFIX = "GT1:"
SHOW_PREFIX = "SH1:"


class Texts(core.SequenceOf):
    """A list of strings."""

    _child_spec = core.UTF8String


class GrantTokenInfo(core.Sequence):
    """What a grant token states."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer), ("grant_id", core.UTF8String),
        ("holder", core.UTF8String), ("audience", core.UTF8String),
        ("certificates", Texts), ("fields", Texts), ("matter_code", core.UTF8String),
        ("matter_name", core.UTF8String), ("not_before", core.GeneralizedTime),
        ("not_after", core.GeneralizedTime), ("max_uses", core.Integer),
        ("issued_at", core.GeneralizedTime), ("agents", Texts),
    ]


class UseReceiptInfo(core.Sequence):
    """What a use receipt states (field names only)."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer), ("receipt_id", core.UTF8String), ("kind", core.UTF8String),
        ("holder", core.UTF8String), ("caller", core.UTF8String),
        ("matter_code", core.UTF8String), ("matter_name", core.UTF8String),
        ("legal_basis", core.UTF8String, {"explicit": 0, "optional": True}),
        ("grant_id", core.UTF8String, {"explicit": 1, "optional": True}),
        ("agents", Texts), ("certificates", Texts), ("fields", Texts),
        ("use_number", core.Integer), ("used_at", core.GeneralizedTime),
    ]


class ShowTokenInfo(core.Sequence):
    """A presentation the platform vouches the holder showed, for a short while."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer), ("holder", core.UTF8String),
        ("presentation", core.OctetString),
        ("audience", core.UTF8String, {"explicit": 0, "optional": True}),
        ("nonce", core.OctetString, {"explicit": 1, "optional": True}),
        ("not_before", core.GeneralizedTime), ("not_after", core.GeneralizedTime),
        ("agents", Texts),
    ]


_KINDS: dict[str, tuple[str, type[core.Sequence]]] = {
    "grant": (oids.GRANT_TOKEN, GrantTokenInfo),
    "receipt": (oids.USE_RECEIPT, UseReceiptInfo),
    "show": (oids.SHOW_TOKEN, ShowTokenInfo),
}


class PlatformSigner:
    """Signs grant tokens, receipts and showings with the platform's `use` key."""

    def __init__(self, keystore: CertlibKeyStore, key: KeyRef, certificate: bytes,
                 chain: tuple[bytes, ...]) -> None:
        self.key = key
        self.certificate = certificate
        self.chain = chain
        self._envelope = envelopes.EnvelopeSigner(keystore, key, certificate=certificate,
                                                  chain=chain)

    def sign(self, kind: str, value: dict[str, Any], signing_time: datetime) -> bytes:
        """A SignedData envelope over the DER of `value` as a `kind` structure."""
        content_type, cls = _KINDS[kind]
        return self._envelope.sign(cls({"version": 1, **value}).dump(),
                                   content_type=content_type, signing_time=signing_time)


@dataclass(frozen=True)
class Opened:
    """A token's statement, once its envelope checked out."""

    info: dict[str, Any]
    signer_certificate: bytes
    report: ValidationReport


def open_token(data: bytes, kind: str, *, trust: TrustMaterial | None,
               at: datetime) -> Opened:
    """Check a token's envelope, signature and (with `trust`) its signer's chain; the
    report says how that went and `info` holds the statement only if it PASSED."""
    content_type, cls = _KINDS[kind]
    report = ReportBuilder(at)
    try:
        envelope = envelopes.parse(data)
    except MalformedInput as error:
        report.failed("format", SubIndication.FORMAT_FAILURE, error.message)
        return Opened({}, b"", report.build())
    if envelope.content_type != content_type:
        report.failed("format", SubIndication.FORMAT_FAILURE, f"not a signed {kind}")
        return Opened({}, b"", report.build())
    try:
        parsed = cls.load(envelope.content, strict=True)
        info = parsed.native
        if info.get("version") != 1:
            raise ValueError("version")
    except (ValueError, TypeError, KeyError):
        report.failed("format", SubIndication.FORMAT_FAILURE, f"the {kind} is malformed")
        return Opened({}, b"", report.build())
    report.passed("format", kind)
    verifier = Verifier(trust or TrustMaterial(anchors=[]))
    signer = verifier.check_envelope(report, envelope)
    if signer is None:
        return Opened({}, b"", report.build())
    if trust is None:
        report.skipped("certificate-chain", "no trust material given")
    else:
        verifier.check_chain(report, signer, envelope)
    built = report.build()
    return Opened(info if built.passed else {}, signer, built)


def to_text(kind: str, der: bytes) -> str:
    """The compact text (QR) form of a grant token (`GT1:`) or a showing (`SH1:`)."""
    return encode_text(GRANT_PREFIX if kind == "grant" else SHOW_PREFIX, der)


def from_text(text: str) -> tuple[str, bytes]:
    """(kind, DER) of a compact grant token or showing; MalformedInput if it is neither."""
    for kind, prefix in (("grant", GRANT_PREFIX), ("show", SHOW_PREFIX)):
        if isinstance(text, str) and text.startswith(prefix):
            return kind, decode_text(prefix, text)
    raise MalformedInput(f"a compact token starts with {GRANT_PREFIX!r} or {SHOW_PREFIX!r}")
