"""Signed metadata: `{"signed": {...}, "signatures": [{"keyid", "sig"}]}`, k-of-n checked.

Each signature covers the RFC 8785 bytes of the `signed` member. A key is named by its
keyid, the hex SHA-256 of its SubjectPublicKeyInfo DER; which algorithm it signs with is
stated next to the key in the signed list that names it, never by the signature itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from certlib.algorithms import get_algorithm, load_public_key, verify_signature
from certlib.errors import CertlibError, InputError
from certlib.keys import CertlibKeyStore
from certlib.trustlist.canonical import MAX_DOCUMENT_BYTES, canonical, parse_document
from certlib.trustlist.errors import Rejection, TrustListRejected
from hsm import KeyRef

MAX_SIGNATURES = 32
"""A document carries at most this many signatures (bounds the work of checking it)."""
MAX_SIGNATURE_BYTES = 1024
_KEYID = re.compile(r"[0-9a-f]{64}")


def keyid(public_key: bytes) -> str:
    """A key's identifier: lowercase hex SHA-256 of its SubjectPublicKeyInfo DER."""
    return hashlib.sha256(bytes(public_key)).hexdigest()


@dataclass(frozen=True)
class KeyDefinition:
    """A signing key as trust lists name it: keyid, algorithm, SubjectPublicKeyInfo DER."""

    keyid: str
    algorithm: str
    public_key: bytes

    @classmethod
    def of(cls, key: KeyRef | KeyDefinition) -> KeyDefinition:
        """The definition of an HSM key (or the definition itself)."""
        if isinstance(key, KeyDefinition):
            return key
        return cls.create(key.algorithm, key.public_key)

    @classmethod
    def create(cls, algorithm: str, public_key: bytes) -> KeyDefinition:
        """A checked definition: the algorithm is known and the key is one of its type."""
        entry = get_algorithm(algorithm)
        if not entry.generates_keys:
            raise InputError(f"{algorithm} is kept for old signatures only")
        parsed = load_public_key(public_key)
        if parsed.key_type != entry.key_type:
            raise InputError(f"a {parsed.key_type} key cannot sign {algorithm}")
        return cls(keyid(public_key), algorithm, bytes(public_key))

    def to_json(self) -> dict[str, str]:
        """`{"algorithm", "public_key"}` (base64 SPKI DER); the keyid is its member name."""
        return {"algorithm": self.algorithm,
                "public_key": base64.b64encode(self.public_key).decode("ascii")}


@dataclass(frozen=True)
class Signature:
    """One signature of a document: who (keyid) and the signature bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class SignedDocument:
    """A parsed, not yet verified document: the signed part, its bytes, its signatures."""

    signed: dict[str, Any]
    signed_bytes: bytes
    """RFC 8785 bytes of `signed`: what every signature covers."""
    signatures: tuple[Signature, ...]

    @property
    def digest(self) -> str:
        """Hex SHA-256 of the signed bytes: names this content independently of signatures."""
        return hashlib.sha256(self.signed_bytes).hexdigest()


def sign(metadata: Mapping[str, Any], keystore: CertlibKeyStore,
         keys: Sequence[KeyRef]) -> bytes:
    """The signed document (canonical JSON, UTF-8) of `metadata`, signed by each HSM key."""
    if not keys:
        raise InputError("a trust list is signed by at least one key")
    signed = dict(metadata)
    return _document(signed, _signatures(canonical(signed), keystore, keys, ()))


def add_signatures(document: bytes, keystore: CertlibKeyStore, keys: Sequence[KeyRef],
                   max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The document with signatures of further keys added (k-of-n by separate holders)."""
    parsed = parse_signed(document, max_bytes)
    signatures = _signatures(parsed.signed_bytes, keystore, keys, parsed.signatures)
    return _document(parsed.signed, signatures)


def _signatures(data: bytes, keystore: CertlibKeyStore, keys: Sequence[KeyRef],
                existing: Sequence[Signature]) -> list[Signature]:
    result = list(existing)
    present = {signature.keyid for signature in existing}
    for key in keys:
        identifier = keyid(key.public_key)
        if identifier in present:
            continue
        result.append(Signature(identifier, keystore.sign(key, data)))
        present.add(identifier)
    if len(result) > MAX_SIGNATURES:
        raise InputError(f"a trust list carries at most {MAX_SIGNATURES} signatures")
    return result


def _document(signed: dict[str, Any], signatures: Sequence[Signature]) -> bytes:
    return canonical({
        "signed": signed,
        "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                       for s in signatures],
    })


def parse_signed(document: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> SignedDocument:
    """Split a document into its signed part and signatures; TrustListRejected if malformed."""
    value = parse_document(document, max_bytes)
    if not isinstance(value, dict) or set(value) != {"signed", "signatures"}:
        raise TrustListRejected(Rejection.MALFORMED,
                                "a trust list is an object of `signed` and `signatures`")
    signed, entries = value["signed"], value["signatures"]
    if not isinstance(signed, dict) or not isinstance(entries, list):
        raise TrustListRejected(Rejection.MALFORMED,
                                "`signed` is an object and `signatures` an array")
    if len(entries) > MAX_SIGNATURES:
        raise TrustListRejected(Rejection.MALFORMED,
                                f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for entry in entries:
        if (not isinstance(entry, dict) or set(entry) != {"keyid", "sig"}
                or not isinstance(entry["keyid"], str) or not isinstance(entry["sig"], str)
                or not _KEYID.fullmatch(entry["keyid"])):
            raise TrustListRejected(Rejection.MALFORMED,
                                    "a signature is {keyid: 64 hex digits, sig: base64}")
        try:
            sig = base64.b64decode(entry["sig"], validate=True)
        except (binascii.Error, ValueError):
            raise TrustListRejected(Rejection.MALFORMED, "a signature is not base64") from None
        if not 0 < len(sig) <= MAX_SIGNATURE_BYTES:
            raise TrustListRejected(Rejection.MALFORMED, "a signature has an impossible size")
        signatures.append(Signature(entry["keyid"], sig))
    try:
        signed_bytes = canonical(signed)
    except InputError as error:
        raise TrustListRejected(Rejection.MALFORMED, error.message) from None
    return SignedDocument(signed, signed_bytes, tuple(signatures))


def valid_signers(document: SignedDocument, keys: Mapping[str, KeyDefinition]) -> set[str]:
    """The keyids among `keys` whose signature on the document verifies (each counted once)."""
    valid: set[str] = set()
    for signature in document.signatures:
        key = keys.get(signature.keyid)
        if key is None or key.keyid in valid:
            continue
        try:
            ok = verify_signature(key.public_key, key.algorithm, document.signed_bytes,
                                  signature.sig)
        except CertlibError:
            ok = False
        if ok:
            valid.add(key.keyid)
    return valid


def require_threshold(document: SignedDocument, keys: Mapping[str, KeyDefinition],
                      threshold: int, whose: str) -> None:
    """TrustListRejected unless `threshold` distinct keys of `keys` signed the document."""
    count = len(valid_signers(document, keys))
    if count < threshold:
        raise TrustListRejected(
            Rejection.SIGNATURES,
            f"{count} valid signature(s) by {whose} keys, {threshold} required")
