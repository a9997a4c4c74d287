"""X.509 certification path validation (RFC 5280 §6) through pyhanko-certvalidator.

pyhanko-certvalidator builds and validates the paths; certlib adds SM2-with-SM3 certificate
and CRL signatures (through `certlib.algorithms`), strict input parsing, work and time
bounds, and an answer in ETSI EN 319 102-1 terms. Nothing is fetched from the network: the
caller passes every intermediate certificate and CRL. See docs/path-validation.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from asn1crypto import algos, crl, keys, x509
from cryptography.exceptions import InvalidSignature
from pyhanko_certvalidator.authority import (
    CertTrustAnchor,
    TrustAnchor,
    TrustedServiceType,
    TrustQualifiers,
)
from pyhanko_certvalidator.context import ValidationContext
from pyhanko_certvalidator.errors import (
    AlgorithmNotSupported,
    DisallowedAlgorithmError,
    DSAParametersUnavailable,
    ExpiredError,
    InsufficientPOEError,
    InsufficientRevinfoError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    StaleRevinfoError,
    ValidationError,
)
from pyhanko_certvalidator.name_trees import (
    default_excluded_subtrees,
    default_permitted_subtrees,
    process_general_subtrees,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import (
    DEFAULT_WEAK_HASH_ALGOS,
    CertRevTrustPolicy,
    DisallowWeakAlgorithmsPolicy,
    PKIXValidationParams,
    RevocationCheckingPolicy,
)
from pyhanko_certvalidator.registry import CertificateRegistry, SimpleTrustManager, TrustManager
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_SIGNATURE_VALIDATOR,
    DEFAULT_VALIDATION_CONTEXT,
    SignatureValidationContext,
    SignatureValidator,
)
from pyhanko_certvalidator.validate import SUPPORTED_EXTENSIONS, validate_usage
from pyhanko_certvalidator.validate import async_validate_path as _pkix_validate

from certlib.algorithms import get_algorithm, verify_signature
from certlib.errors import CertlibError, InputError, MalformedInput

SubIndication = Literal[
    "NO_CERTIFICATE_CHAIN_FOUND",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE",
    "CHAIN_CONSTRAINTS_FAILURE",
    "SIG_CRYPTO_FAILURE",
    "CRYPTO_CONSTRAINTS_FAILURE",
    "REVOKED",
    "EXPIRED",
    "NOT_YET_VALID",
    "TRY_LATER",
]
Indication = Literal["PASSED", "FAILED", "INDETERMINATE"]
Revocation = Literal["require", "if-declared", "soft-fail", "off"]

INDICATIONS: dict[str, Indication] = {
    "SIG_CRYPTO_FAILURE": "FAILED",
    "REVOKED": "FAILED",
    "EXPIRED": "FAILED",
    "NOT_YET_VALID": "FAILED",
    "NO_CERTIFICATE_CHAIN_FOUND": "INDETERMINATE",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": "INDETERMINATE",
    "CHAIN_CONSTRAINTS_FAILURE": "INDETERMINATE",
    "CRYPTO_CONSTRAINTS_FAILURE": "INDETERMINATE",
    "TRY_LATER": "INDETERMINATE",
}
"""The main indication EN 319 102-1 pairs with each sub-indication used here."""

ANY_POLICY = "2.5.29.32.0"
SM2_SM3_OID = get_algorithm("sm2-sm3").signature_oid

KEY_USAGES = frozenset(
    {
        "digital_signature",
        "non_repudiation",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    }
)
"""Key usage names, spelt as asn1crypto spells them (RFC 5280 §4.2.1.3)."""

_REVOCATION_MODES: dict[str, str] = {
    "require": "require",
    "if-declared": "hard-fail",
    "soft-fail": "soft-fail",
    "off": "none",
}
"""certlib's revocation modes and the pyhanko-certvalidator modes they stand for."""

_LOOKUP_BUDGET = 2000
"""Issuer candidates plus candidate paths one validation may consider."""

_NAME_CONSTRAINT_BUDGET = 250_000
"""Most name-against-subtree comparisons one path may need (Go's crypto/x509 bound)."""

_PROCESSING_ERRORS = (
    ValueError,
    TypeError,
    LookupError,
    OverflowError,
    NotImplementedError,
    AttributeError,
    AssertionError,
)
"""What asn1crypto and pyhanko-certvalidator raise on content they cannot process."""


@dataclass(frozen=True)
class PolicyInputs:
    """RFC 5280 §6.1.1 (c), (e), (f), (g): the caller's certificate policy inputs."""

    user_initial_policy_set: frozenset[str] = frozenset({ANY_POLICY})
    """Dotted policy OIDs the caller accepts; `2.5.29.32.0` (anyPolicy) accepts any."""
    initial_policy_mapping_inhibit: bool = False
    initial_explicit_policy: bool = False
    initial_any_policy_inhibit: bool = False


@dataclass(frozen=True)
class AlgorithmPolicy:
    """Which digests and key sizes may sign certificates and CRLs."""

    weak_digests: frozenset[str] = DEFAULT_WEAK_HASH_ALGOS
    """Digest names in asn1crypto spelling (`md5`, `sha1`) that disqualify a signature."""
    min_rsa_bits: int = 2048
    min_dsa_bits: int = 3192
    """pyhanko-certvalidator's default, kept."""


@dataclass(frozen=True)
class PathResult:
    """The outcome of validating one certificate: a valid path, or why there is none."""

    ok: bool
    sub_indication: SubIndication | None
    """None when `ok`; otherwise an ETSI EN 319 102-1 sub-indication (see INDICATIONS)."""
    message: str
    """What happened, naming positions in the path, never names or other field values."""
    path: tuple[bytes, ...]
    """DER certificates, end entity first and trust anchor last. On failure: the candidate
    path that gave the reported error, or only the end entity when there is none."""
    revocation_date: datetime | None = None
    """When REVOKED: the revocation date the CRL gives."""
    revocation_reason: str | None = None
    """When REVOKED: the CRL reason in asn1crypto spelling (`key_compromise`, ...)."""
    policies: frozenset[str] = field(default_factory=frozenset)
    """When `ok`: the valid policy OIDs in the caller's policy domain (may be empty)."""

    @property
    def indication(self) -> Indication:
        """PASSED when ok, else the main indication paired with the sub-indication."""
        if self.ok or self.sub_indication is None:
            return "PASSED"
        return INDICATIONS[self.sub_indication]


# -- signatures ------------------------------------------------------------------------


class CertlibSignatureValidator(SignatureValidator):
    """pyhanko-certvalidator's signature hook: SM2-with-SM3 here, its default for the rest."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        """Return when the signature verifies; raise InvalidSignature otherwise."""
        if signature_algorithm["algorithm"].dotted == SM2_SM3_OID:
            _validate_sm2(signature, signed_data, public_key_info, signature_algorithm)
            return
        try:
            DEFAULT_SIGNATURE_VALIDATOR.validate_signature(
                signature, signed_data, public_key_info, signature_algorithm, context
            )
        except InvalidSignature:
            raise
        except Exception as error:  # it asserts key types and lets pyca errors through
            raise AlgorithmNotSupported(
                f"cannot verify this signature ({type(error).__name__})"
            ) from None


def _validate_sm2(
    signature: bytes,
    signed_data: bytes,
    public_key_info: keys.PublicKeyInfo,
    signature_algorithm: algos.SignedDigestAlgorithm,
) -> None:
    """GM/T 0015 certificate and CRL signatures: SM2 over SM3 with the default user id."""
    if signature_algorithm["parameters"].native is not None:  # absent or NULL only
        raise InvalidSignature("SM2-with-SM3 takes no algorithm parameters")
    try:
        valid = verify_signature(public_key_info.dump(), "sm2-sm3", signed_data, signature)
    except CertlibError:
        raise InvalidSignature("the issuer key is not an SM2 key") from None
    if not valid:
        raise InvalidSignature("the SM2 signature does not verify")


SIGNATURE_VALIDATOR = CertlibSignatureValidator()


# -- inputs ------------------------------------------------------------------------------


def _load_certificate(der: bytes, what: str) -> x509.Certificate:
    """Parse every field of a DER certificate now, rather than lazily inside the validator."""
    _require_bytes(der, what)
    try:
        certificate = x509.Certificate.load(bytes(der), strict=True)
        _ = certificate.native
        _ = certificate.public_key.native
        extensions = certificate["tbs_certificate"]["extensions"]
    except (*_PROCESSING_ERRORS, RecursionError):
        raise MalformedInput(f"the {what} is not a well-formed DER certificate") from None
    _require_unique_extensions(extensions, what)
    return certificate


def _load_crl(der: bytes) -> crl.CertificateList:
    """Parse every field of a DER CRL now."""
    _require_bytes(der, "CRL")
    try:
        certificate_list = crl.CertificateList.load(bytes(der), strict=True)
        _ = certificate_list.native
        extensions = certificate_list["tbs_cert_list"]["crl_extensions"]
    except (*_PROCESSING_ERRORS, RecursionError):
        raise MalformedInput("a CRL is not a well-formed DER CRL") from None
    _require_unique_extensions(extensions, "CRL")
    return certificate_list


def _require_bytes(value: object, what: str) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InputError(f"the {what} must be DER bytes")


def _require_unique_extensions(
    extensions: x509.Extensions | crl.TBSCertListExtensions, what: str
) -> None:
    """RFC 5280 §4.2, §5.2: at most one instance of an extension (else: which one counts?)."""
    identifiers = [extension["extn_id"].dotted for extension in extensions]
    if len(identifiers) != len(set(identifiers)):
        raise MalformedInput(f"the {what} repeats an extension")


def _check_options(
    moment: datetime,
    revocation: str,
    key_usage: set[str] | frozenset[str] | None,
    max_intermediates: int | None,
    time_limit: float,
) -> None:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InputError("moment must be a timezone-aware datetime")
    if revocation not in _REVOCATION_MODES:
        raise InputError(f"revocation must be one of: {', '.join(_REVOCATION_MODES)}")
    unknown = set(key_usage or ()) - KEY_USAGES
    if unknown:
        raise InputError(f"unknown key usage {min(unknown)!r}")
    if max_intermediates is not None and max_intermediates < 0:
        raise InputError("max_intermediates must be >= 0")
    if not time_limit > 0:
        raise InputError("time_limit must be > 0")


def _pkix_params(policy: PolicyInputs | None) -> PKIXValidationParams | None:
    if policy is None:
        return None
    return PKIXValidationParams(
        user_initial_policy_set=frozenset(
            x509.PolicyIdentifier.map(oid) for oid in policy.user_initial_policy_set
        ),
        initial_policy_mapping_inhibit=policy.initial_policy_mapping_inhibit,
        initial_explicit_policy=policy.initial_explicit_policy,
        initial_any_policy_inhibit=policy.initial_any_policy_inhibit,
    )


def _anchor(certificate: x509.Certificate, max_intermediates: int | None) -> CertTrustAnchor:
    """A trust anchor constrained by its certificate (RFC 5937): validity, path length, names.

    A certificate without basicConstraints cA, or with a critical extension
    pyhanko-certvalidator does not process, anchors nothing but itself. Key usage is not a
    trust anchor constraint, and real SM2 roots often lack keyCertSign.
    """
    limits = [n for n in (max_intermediates, certificate.max_path_length) if n is not None]
    limit = min(limits) if limits else None
    params = None
    constraints = certificate.name_constraints_value
    if constraints is not None:
        # Name types the anchor does not constrain stay unrestricted.
        permitted, excluded = default_permitted_subtrees(), default_excluded_subtrees()
        if constraints["permitted_subtrees"].native is not None:
            permitted.update(process_general_subtrees(constraints["permitted_subtrees"]))
        if constraints["excluded_subtrees"].native is not None:
            excluded.update(process_general_subtrees(constraints["excluded_subtrees"]))
        params = PKIXValidationParams(
            initial_permitted_subtrees=permitted, initial_excluded_subtrees=excluded
        )
    issues_certificates = certificate.ca and not (
        certificate.critical_extensions - SUPPORTED_EXTENSIONS
    )
    qualifiers = TrustQualifiers(
        standard_parameters=params,
        max_path_length=limit,
        max_aa_path_length=limit,  # pyhanko-certvalidator 0.33 reads it with max_path_length
        valid_from=certificate.not_valid_before,
        valid_until=certificate.not_valid_after,
        trusted_service_type=(
            TrustedServiceType.CERTIFICATE_AUTHORITY
            if issues_certificates
            else TrustedServiceType.UNSUPPORTED
        ),
    )
    return CertTrustAnchor(certificate, quals=qualifiers)


# -- bounds ------------------------------------------------------------------------------


class _SearchLimit(Exception):
    """The path search spent its budget of look-ups or its time."""


class _Unprocessable(Exception):
    """A candidate path pyhanko-certvalidator cannot process (a work limit or a gap)."""


class _BoundedRegistry(CertificateRegistry):
    """pyhanko-certvalidator's certificate registry, with a budget on issuer look-ups."""

    def __init__(self, *, lookups: int, deadline: float) -> None:
        super().__init__()
        self.lookups_left = lookups
        self.deadline = deadline

    def spend(self) -> None:
        """Count one unit of work; raise _SearchLimit past the budget or the deadline."""
        self.lookups_left -= 1
        if self.lookups_left < 0 or time.monotonic() > self.deadline:
            raise _SearchLimit

    def find_potential_issuers(
        self, cert: x509.Certificate, trust_manager: TrustManager
    ) -> Iterator[TrustAnchor | x509.Certificate]:
        """The registry's candidate issuers, each counted against the budget."""
        self.spend()
        for issuer in super().find_potential_issuers(cert, trust_manager):
            self.spend()
            yield issuer


def _check_name_constraint_work(path: ValidationPath) -> None:
    """Refuse a path whose name-constraint checks could exceed _NAME_CONSTRAINT_BUDGET."""
    subtrees = names = 0
    for certificate in path.iter_certs(include_root=True):
        constraints = certificate.name_constraints_value
        if constraints is not None:
            for part in ("permitted_subtrees", "excluded_subtrees"):
                if constraints[part].native is not None:
                    subtrees += len(constraints[part])
        alternative = certificate.subject_alt_name_value
        attributes = sum(len(rdn) for rdn in certificate.subject.chosen)
        names = max(names, attributes + (len(alternative) if alternative is not None else 0))
    if subtrees * names > _NAME_CONSTRAINT_BUDGET:
        raise _Unprocessable("name-constraint checking would exceed the work limit")


# -- validation --------------------------------------------------------------------------


async def async_validate_path(
    end_entity: bytes,
    *,
    trust_anchors: Sequence[bytes],
    intermediates: Sequence[bytes] = (),
    moment: datetime,
    crls: Sequence[bytes] = (),
    revocation: Revocation = "require",
    retroactive_crls: bool = False,
    key_usage: set[str] | frozenset[str] | None = None,
    extended_key_usage: set[str] | frozenset[str] | None = None,
    policy: PolicyInputs | None = None,
    max_intermediates: int | None = None,
    algorithms: AlgorithmPolicy | None = None,
    time_limit: float = 5.0,
) -> PathResult:
    """Validate `end_entity` at `moment` against `trust_anchors` (async validate_path)."""
    _check_options(moment, revocation, key_usage, max_intermediates, time_limit)
    leaf = _load_certificate(end_entity, "end-entity certificate")
    anchors = [_load_certificate(der, "trust anchor") for der in trust_anchors]
    others = [_load_certificate(der, "intermediate certificate") for der in intermediates]
    lists = [_load_crl(der) for der in crls]
    algorithms = algorithms or AlgorithmPolicy()
    registry = _BoundedRegistry(lookups=_LOOKUP_BUDGET, deadline=time.monotonic() + time_limit)
    try:
        registry.register_multiple(others)
        context = ValidationContext(
            trust_manager=SimpleTrustManager.build(
                trust_roots=[_anchor(anchor, max_intermediates) for anchor in anchors]
            ),
            certificate_registry=registry,
            moment=moment.replace(microsecond=0),  # RFC 5280 times have whole seconds
            allow_fetching=False,
            crls=lists,
            ocsps=[],
            revinfo_policy=CertRevTrustPolicy(
                RevocationCheckingPolicy.from_legacy(_REVOCATION_MODES[revocation]),
                retroactive_revinfo=retroactive_crls,
            ),
            time_tolerance=timedelta(0),
            algorithm_usage_policy=DisallowWeakAlgorithmsPolicy(  # type: ignore[no-untyped-call]
                weak_hash_algos=algorithms.weak_digests,
                rsa_key_size_threshold=algorithms.min_rsa_bits,
                dsa_key_size_threshold=algorithms.min_dsa_bits,
            ),
            signature_validator=SIGNATURE_VALIDATOR,
        )
    except _PROCESSING_ERRORS:
        raise InputError("a trust anchor's constraints cannot be processed") from None
    return await _search(
        context,
        registry,
        leaf,
        _pkix_params(policy),
        key_usage=set(key_usage or ()),
        extended_key_usage=set(extended_key_usage or ()),
    )


def validate_path(
    end_entity: bytes,
    *,
    trust_anchors: Sequence[bytes],
    intermediates: Sequence[bytes] = (),
    moment: datetime,
    crls: Sequence[bytes] = (),
    revocation: Revocation = "require",
    retroactive_crls: bool = False,
    key_usage: set[str] | frozenset[str] | None = None,
    extended_key_usage: set[str] | frozenset[str] | None = None,
    policy: PolicyInputs | None = None,
    max_intermediates: int | None = None,
    algorithms: AlgorithmPolicy | None = None,
    time_limit: float = 5.0,
) -> PathResult:
    """Validate `end_entity` at `moment` against `trust_anchors`; see docs/path-validation.md."""
    coroutine = async_validate_path(
        end_entity,
        trust_anchors=trust_anchors,
        intermediates=intermediates,
        moment=moment,
        crls=crls,
        revocation=revocation,
        retroactive_crls=retroactive_crls,
        key_usage=key_usage,
        extended_key_usage=extended_key_usage,
        policy=policy,
        max_intermediates=max_intermediates,
        algorithms=algorithms,
        time_limit=time_limit,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from a coroutine: asyncio.run cannot nest, so run on a thread of our own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _search(
    context: ValidationContext,
    registry: _BoundedRegistry,
    leaf: x509.Certificate,
    params: PKIXValidationParams | None,
    *,
    key_usage: set[str],
    extended_key_usage: set[str],
) -> PathResult:
    """Try candidate paths in pyhanko-certvalidator's order until one validates."""
    failures: list[ValidationError | _Unprocessable] = []
    candidates = None
    try:
        candidates = context.path_builder.async_build_paths_lazy(leaf)
        async for candidate in candidates:
            registry.spend()
            try:
                _check_name_constraint_work(candidate)
                await _pkix_validate(context, candidate, parameters=params)
            except (ValidationError, _Unprocessable) as error:
                failures.append(error)
            except _PROCESSING_ERRORS as error:  # its gaps, e.g. iPAddress name constraints
                failures.append(_Unprocessable(f"unsupported content ({type(error).__name__})"))
            else:
                return _valid(leaf, candidate, key_usage, extended_key_usage)
    except PathBuildingError:
        pass
    except _SearchLimit:
        return _general_failure(leaf, "the path search stopped at its work or time limit")
    except RecursionError:
        return _general_failure(leaf, "a certificate is too deeply structured to process")
    except _PROCESSING_ERRORS as error:  # while looking for issuers
        return _general_failure(leaf, f"path building failed ({type(error).__name__})")
    finally:
        if candidates is not None:
            await candidates.cancel()  # type: ignore[no-untyped-call]
    if not failures:
        return PathResult(
            ok=False,
            sub_indication="NO_CERTIFICATE_CHAIN_FOUND",
            message="no path from the end-entity certificate to a trust anchor was found",
            path=(leaf.dump(),),
        )
    # A candidate issuer whose signature does not verify is usually just the wrong candidate:
    # report a definite path error first, then a path that could not be processed.
    errors = [f for f in failures if isinstance(f, ValidationError)]
    definite = [e for e in errors if not isinstance(e.__context__, InvalidSignature)]
    if definite:
        return _failure(definite[0], leaf)
    unprocessable = [f for f in failures if isinstance(f, _Unprocessable)]
    if unprocessable:
        return _general_failure(leaf, f"a candidate path cannot be processed: {unprocessable[0]}")
    return _failure(errors[0], leaf)


def _valid(
    leaf: x509.Certificate,
    path: ValidationPath,
    key_usage: set[str],
    extended_key_usage: set[str],
) -> PathResult:
    """The result for a path that validated, once the end entity's usages are checked."""
    certificates = _path_der(path, leaf)
    try:
        # An absent extKeyUsage allows any purpose (RFC 5280 §4.2.1.12).
        validate_usage(leaf, key_usage, extended_key_usage, True)
    except ValidationError:
        return PathResult(
            ok=False,
            sub_indication="CHAIN_CONSTRAINTS_FAILURE",
            message="the end-entity certificate lacks a required key usage or extended "
            "key usage",
            path=certificates,
        )
    qualified = path.qualified_policies() or frozenset()
    return PathResult(
        ok=True,
        sub_indication=None,
        message="the path is valid",
        path=certificates,
        policies=frozenset(
            x509.PolicyIdentifier.unmap(p.user_domain_policy_id) for p in qualified
        ),
    )


def _general_failure(leaf: x509.Certificate, message: str) -> PathResult:
    return PathResult(
        ok=False,
        sub_indication="CERTIFICATE_CHAIN_GENERAL_FAILURE",
        message=message,
        path=(leaf.dump(),),
    )


def _path_der(path: ValidationPath, leaf: x509.Certificate) -> tuple[bytes, ...]:
    """End entity first, anchor last; only the anchor when the end entity is one."""
    chain = [c.dump() for c in path.iter_certs(include_root=True)]
    chain.reverse()
    return tuple(chain) if chain else (leaf.dump(),)


def _where(error: ValidationError) -> str:
    if not isinstance(error, PathValidationError):
        return "the end-entity certificate"
    if "the trust anchor" in str(error):  # pyhanko-certvalidator's phrase for position 0
        return "the trust anchor"
    if error.is_side_validation:
        return "a certificate on a CRL issuer's path"
    return "the end-entity certificate" if error.is_ee_cert else "a CA certificate in the path"


def _failure(error: ValidationError, leaf: x509.Certificate) -> PathResult:
    """Map a pyhanko-certvalidator error to a PathResult (table in docs/path-validation.md)."""
    where = _where(error)
    path = (
        _path_der(error.original_path, leaf)
        if isinstance(error, PathValidationError)
        else (leaf.dump(),)
    )
    cause = error.__context__
    sub: SubIndication
    date: datetime | None = None
    reason: str | None = None
    if isinstance(error, RevokedError):
        sub, date, reason = "REVOKED", error.revocation_dt, str(error.reason.native)
        message = f"{where} was revoked on {date.isoformat()} (reason: {reason})"
    elif isinstance(error, StaleRevinfoError):
        sub = "TRY_LATER"
        message = f"the revocation information for {where} is out of date"
    elif isinstance(error, InsufficientRevinfoError | InsufficientPOEError):
        sub = "TRY_LATER"
        message = f"no usable revocation information for {where}"
    elif isinstance(error, ExpiredError):
        sub = "EXPIRED"
        message = f"{where} expired on {error.expired_dt.isoformat()}"
    elif isinstance(error, NotYetValidError):
        sub = "NOT_YET_VALID"
        message = f"{where} is not valid before {error.valid_from.isoformat()}"
    elif isinstance(error, DisallowedAlgorithmError):
        sub = "CRYPTO_CONSTRAINTS_FAILURE"
        message = f"{where} is signed with an algorithm or key size that is not allowed"
    elif isinstance(cause, AlgorithmNotSupported | DSAParametersUnavailable):
        sub = "CRYPTO_CONSTRAINTS_FAILURE"
        message = f"the signature on {where} uses an algorithm or key that cannot be verified"
    elif isinstance(cause, InvalidSignature):
        sub = "SIG_CRYPTO_FAILURE"
        message = f"the signature on {where} does not verify"
    else:
        sub = "CHAIN_CONSTRAINTS_FAILURE"
        message = f"{where} violates {_constraint(str(error))}"
    return PathResult(
        ok=False,
        sub_indication=sub,
        message=message,
        path=path,
        revocation_date=date,
        revocation_reason=reason,
    )


_CONSTRAINTS = (
    ("not a CA", "the basic constraints (it is not a CA certificate)"),
    ("maximum path length", "a path length constraint"),
    ("not allowed to sign certificates", "its key usage (no keyCertSign)"),
    ("namespace", "the name constraints of an issuing CA"),
    ("polic", "the certificate policy requirements"),
    ("critical extension", "the rules on critical extensions (one is not supported)"),
    ("issuer name", "name chaining (its issuer name does not match)"),
    ("signature parameters", "the signature parameters its issuer's key fixes"),
)


def _constraint(detail: str) -> str:
    """A fixed phrase for pyhanko-certvalidator's failure text, which may contain names."""
    for needle, phrase in _CONSTRAINTS:
        if needle in detail:
            return phrase
    return "an RFC 5280 path validation rule"
