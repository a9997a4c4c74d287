"""Who is calling (mutual TLS client certificate) and what they may do (the policy file).

The caller is the department whose USCC the client certificate's subject carries
(organizationIdentifier). The policy file gives each department roles; each method
admits some roles. `issuer` on a method admits any `issuer:{type_id}` role: the handler
then checks the role of the certificate type at hand.

```toml
# <home>/policy.toml
[departments."11630000MB0000010N"]
roles = ["issuer:resident-id-card", "verifier"]
duties = ["630100-ZZ-001"]     # matters it may fetch certificates for without a grant

[methods]                      # optional: replaces the built-in roles of a method
"certsvc.v1.VerificationService/Verify" = ["verifier", "issuer"]
```
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from asn1crypto import pem, x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from certlib import regions as divisions
from certlib.audit import Actor
from certlib.errors import ConfigurationError
from daemon.errors import RpcFailure

ISSUER = "issuer"
VERIFIER = "verifier"
SEAL_KEEPER = "seal_keeper"
SEAL_MAKER = "seal_maker"
SEAL_USER = "seal_user"
APPROVER = "approver"
AUDITOR = "auditor"
ADMIN = "admin"
HOLDER_APP = "holder_app"
GRANT_USER = "grant_user"
DUTY_OFFICER = "duty_officer"

DEFAULT_METHOD_ROLES: dict[str, frozenset[str]] = {
    f"certsvc.v1.CertificateService/{name}": frozenset({ISSUER}) for name in (
        "IssueCertificate", "BatchIssueCertificates", "RevokeCertificate",
        "SuspendCertificate", "ResumeCertificate")
} | {
    "certsvc.v1.CertificateService/GetCertificate": frozenset({ISSUER, AUDITOR}),
    "certsvc.v1.VerificationService/Verify": frozenset({VERIFIER}),
    "certsvc.v1.VerificationService/VerifyStream": frozenset({VERIFIER}),
    "certsvc.v1.VerificationService/GetStatus": frozenset({VERIFIER, ISSUER}),
    "certsvc.v1.VerificationService/GetStatusList": frozenset({VERIFIER, ISSUER}),
    "certsvc.v1.KeyService/CreateKey": frozenset({ADMIN}),
    "certsvc.v1.KeyService/RotateKey": frozenset({ADMIN}),
    "certsvc.v1.KeyService/DisableKey": frozenset({ADMIN}),
    "certsvc.v1.KeyService/DestroyKey": frozenset({ADMIN}),
    "certsvc.v1.KeyService/GetKey": frozenset({ADMIN, AUDITOR}),
    "certsvc.v1.KeyService/ListKeys": frozenset({ADMIN, AUDITOR}),
    "certsvc.v1.AuditService/QueryAuditRecords": frozenset({AUDITOR}),
    "certsvc.v1.AuditService/VerifyAuditChain": frozenset({AUDITOR, ADMIN}),
} | {
    f"certsvc.v1.SealService/{name}": frozenset(roles) for name, roles in (
        ("CreateSeal", {SEAL_MAKER}),
        ("GetSeal", {SEAL_MAKER, SEAL_KEEPER, SEAL_USER, APPROVER, AUDITOR}),
        ("ListSeals", {SEAL_MAKER, SEAL_KEEPER, SEAL_USER, APPROVER, AUDITOR}),
        ("SuspendSeal", {SEAL_MAKER, SEAL_KEEPER}),
        ("ResumeSeal", {SEAL_MAKER, SEAL_KEEPER}),
        ("RevokeSeal", {SEAL_MAKER, SEAL_KEEPER}),
        ("UpdateSealPolicy", {SEAL_MAKER, SEAL_KEEPER}),
        ("CreateSealUseRequest", {SEAL_USER}),
        ("DecideSealUseRequest", {APPROVER}),
        ("ListSealUseRequests", {SEAL_KEEPER, SEAL_USER, APPROVER, AUDITOR}),
        ("ApplySeal", {SEAL_USER}),
        ("ListSealUses", {SEAL_KEEPER, SEAL_MAKER, AUDITOR}),
        ("VerifySealedDocument", {VERIFIER}),
    )
} | {
    f"certsvc.v1.HolderService/{name}": frozenset({HOLDER_APP}) for name in (
        "ListCertificates", "CreateGrant", "ListGrants", "RevokeGrant", "CreateDelegation",
        "ListDelegations", "RevokeDelegation", "ListUses", "ShowCertificate")
} | {
    f"certsvc.v1.UseService/{name}": frozenset(roles) for name, roles in (
        ("UseCertificate", {GRANT_USER}),
        ("PresentAsAgent", {GRANT_USER}),
        ("FetchForDuty", {DUTY_OFFICER}),
        ("VerifyShowing", {VERIFIER}),
        ("VerifyReceipt", {VERIFIER, HOLDER_APP, AUDITOR}),
    )
}
OPEN_METHODS = frozenset({"grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch"})
"""Answered without a client certificate."""
PUBLIC_METHODS = frozenset({"certsvc.v1.TrustService/GetRegionTrustList",
                            "certsvc.v1.TrustService/GetNationalTrustList",
                            "certsvc.v1.TrustService/GetCrls"})
"""Serve signed, public data: a caller of another region is not checked against its
region's CRL for them (two daemons fetching each other's CRLs would otherwise wait on
each other)."""
ANY_CALLER = frozenset({"grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                        *PUBLIC_METHODS})
"""Answered to any authenticated department."""


@dataclass(frozen=True)
class Caller:
    """An authenticated department and its roles."""

    uscc: str
    name: str
    roles: frozenset[str]
    serial: int
    duties: frozenset[str] = frozenset()
    """Matter codes the department may fetch certificates for without a grant (依职能)."""
    region: str | None = None
    """For a department of another region (recognised through its trust list): that region."""

    @property
    def actor(self) -> Actor:
        """How the audit log names this caller."""
        return Actor("department", self.uscc)

    @property
    def operator(self) -> Actor:
        """The one client certificate acting: seal policies can name it, and an approver
        must be another one. Pseudonymous (USCC and certificate serial), never a name."""
        return Actor("operator", f"{self.uscc}#{self.serial:x}")

    def may_issue(self, type_id: str) -> bool:
        """Whether the caller holds `issuer:{type_id}`."""
        return f"{ISSUER}:{type_id}" in self.roles

    def admits(self, required: frozenset[str]) -> bool:
        """Whether one of the caller's roles is among `required` (`issuer` = any issuer:*)."""
        for role in self.roles:
            if role in required or (role.startswith(f"{ISSUER}:") and ISSUER in required):
                return True
        return False


def _stamp_of(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed (or replaced) policy file: its inode, size and mtime in ns."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


POLICY_CHECK_SECONDS = 0.5
"""How often the policy file is checked for changes (not on every call: a stat each)."""


class Policy:
    """Roles per department and per method, from the policy file (re-read when it changes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._reload_lock = threading.Lock()
        self._checked = 0.0
        self._departments: dict[str, frozenset[str]] = {}
        self._duties: dict[str, frozenset[str]] = {}
        self._methods: dict[str, frozenset[str]] = dict(DEFAULT_METHOD_ROLES)
        self._load()

    def departments(self) -> dict[str, list[str]]:
        """Every department the policy knows, with its roles."""
        self._reload_if_changed()
        return {uscc: sorted(roles) for uscc, roles in self._departments.items()}

    def roles_of(self, uscc: str) -> frozenset[str] | None:
        """The department's roles, or None if the policy does not know it."""
        self._reload_if_changed()
        return self._departments.get(uscc)

    def duties(self) -> dict[str, list[str]]:
        """Every department with duties, with their matter codes."""
        self._reload_if_changed()
        return {uscc: sorted(matters) for uscc, matters in self._duties.items()}

    def duties_of(self, uscc: str) -> frozenset[str]:
        """The matter codes the department has a legal duty for (empty if none)."""
        self._reload_if_changed()
        return self._duties.get(uscc, frozenset())

    def required(self, method: str) -> frozenset[str] | None:
        """The roles a method admits; None for a method the policy does not list."""
        self._reload_if_changed()
        return self._methods.get(method)

    def _reload_if_changed(self) -> None:
        if time.monotonic() - self._checked < POLICY_CHECK_SECONDS:
            return
        with self._reload_lock:  # callers arriving meanwhile wait for the new policy
            if time.monotonic() - self._checked < POLICY_CHECK_SECONDS:
                return
            if _stamp_of(self.path) != self._stamp:
                self._load()
            self._checked = time.monotonic()

    def _load(self) -> None:
        with self._lock:
            try:
                stamp = _stamp_of(self.path)
                document = tomllib.loads(self.path.read_text())
            except FileNotFoundError:
                stamp, document = None, {}
            except (OSError, tomllib.TOMLDecodeError) as error:
                raise ConfigurationError(f"cannot read the policy file: {error}") from None
            departments: dict[str, frozenset[str]] = {}
            duties: dict[str, frozenset[str]] = {}
            for uscc, entry in document.get("departments", {}).items():
                roles = entry.get("roles", []) if isinstance(entry, dict) else None
                if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                    raise ConfigurationError(f"policy: roles of {uscc} must be a list of text")
                departments[uscc.upper()] = frozenset(roles)
                matters = entry.get("duties", [])
                if not isinstance(matters, list) or not all(isinstance(m, str) for m in matters):
                    raise ConfigurationError(f"policy: duties of {uscc} must be a list of text")
                if matters:
                    duties[uscc.upper()] = frozenset(matters)
            methods = dict(DEFAULT_METHOD_ROLES)
            for method, roles in document.get("methods", {}).items():
                if not isinstance(roles, list):
                    raise ConfigurationError(f"policy: roles of {method} must be a list")
                methods[method] = frozenset(roles)
            self._departments, self._methods, self._stamp = departments, methods, stamp
            self._duties = duties


def write_policy(path: Path, departments: dict[str, list[str]],
                 duties: dict[str, list[str]] | None = None) -> None:
    """Write a policy file giving each department (by USCC) its roles and duties; without
    `duties`, the duties already in the file are kept."""
    if duties is None:
        try:
            duties = Policy(path).duties()
        except ConfigurationError:
            duties = {}
    lines = ["# certd policy: the roles of each department, by USCC (docs/operations.md).", ""]
    for uscc in sorted(departments.keys() | duties.keys()):
        lines.append(f'[departments."{uscc}"]')
        lines.append("roles = [" + ", ".join(f'"{role}"' for role in
                                             departments.get(uscc, [])) + "]")
        if duties.get(uscc):
            lines.append("duties = [" + ", ".join(f'"{matter}"' for matter in duties[uscc])
                         + "]")
        lines.append("")
    # Replaced in one step: a daemon re-reading the file never sees half of it.
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text("\n".join(lines))
    os.replace(partial, path)


class RevocationCache:
    """Serials of revoked client certificates, refreshed from the store every few seconds."""

    def __init__(self, load: object, ttl: float = 5.0) -> None:
        self._load = load
        self._ttl = ttl
        self._serials: frozenset[int] = frozenset()
        self._loaded = 0.0
        self._lock = threading.Lock()

    def revoked(self, serial: int) -> bool:
        """Whether a client certificate serial is revoked."""
        with self._lock:
            if time.monotonic() - self._loaded > self._ttl:
                self._serials = frozenset(self._load())  # type: ignore[operator]
                self._loaded = time.monotonic()
            return serial in self._serials


def peer_certificate(context: grpc.ServicerContext) -> x509.Certificate | None:
    """The verified client certificate of the call, if the connection has one."""
    properties = context.auth_context()
    chain = properties.get("x509_pem_cert")
    if not chain:
        return None
    _, _, der = pem.unarmor(chain[0])
    return x509.Certificate.load(der)


PEER_ROLES = frozenset({VERIFIER, "grant_user"})
"""What a department of another region may do here: verify, and use grants made to it
(跨省通办); its own region's policy says more, ours does not."""


def directly_issued_by(certificate: bytes, issuer: bytes) -> bool:
    """Whether `issuer` (DER) signed `certificate` (DER) and is named as its issuer."""
    try:
        cx509.load_der_x509_certificate(certificate).verify_directly_issued_by(
            cx509.load_der_x509_certificate(issuer))
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


class PeerRecognition:
    """Tells this region's client certificates from other regions' departments by checking
    which CA's key signed them (never by the key identifiers or the USCC they carry)."""

    CACHE_SECONDS = 5.0

    def __init__(self, local_regions: Callable[[], Iterable[str]],
                 local_issuers: Callable[[], Sequence[bytes]],
                 foreign_issuers: Callable[[], Mapping[str, Sequence[bytes]]],
                 foreign_revoked: Callable[[str, int], bool | None]) -> None:
        self.local_regions = local_regions
        """This daemon's regions."""
        self.local_issuers = local_issuers
        """Issuing-CA certificates of this daemon's regions."""
        self.foreign_issuers = foreign_issuers
        """Issuing-CA certificates of every other region whose list is fresh, by region."""
        self.foreign_revoked = foreign_revoked
        """Whether a region's CRL revokes a serial; None when no current CRL is at hand."""
        self._seen: dict[bytes, tuple[float, str | None, bool]] = {}
        self._lock = threading.Lock()

    def origin(self, certificate: bytes) -> tuple[bool, str | None]:
        """(issued here, else the other region whose issuing CA signed it or None)."""
        digest = hashlib.sha256(certificate).digest()
        with self._lock:
            cached = self._seen.get(digest)
        if cached is not None and time.monotonic() - cached[0] < self.CACHE_SECONDS:
            return cached[2], cached[1]
        local = any(directly_issued_by(certificate, ca) for ca in self.local_issuers())
        region = None if local else next(
            (code for code, cas in self.foreign_issuers().items()
             if any(directly_issued_by(certificate, ca) for ca in cas)), None)
        with self._lock:
            if len(self._seen) > 4096:
                self._seen.clear()
            self._seen[digest] = (time.monotonic(), region, local)
        return local, region


def _innermost(division: str, regions: Iterable[str]) -> str | None:
    """The innermost of `regions` that is or contains the GB/T 2260 code `division`."""
    if not divisions.is_well_formed(division):
        return None
    known = set(regions)
    return next((code for code in divisions.ancestors(division) if code in known), None)


def foreign_caller(certificate: x509.Certificate, region: str | None, uscc: str, name: str,
                   peers: PeerRecognition, *, public: bool = False) -> Caller:
    """The caller a client certificate of another region (`region`, None if no fresh
    region's issuing CA signed it) stands for; RpcFailure when it is not accepted."""
    if region is None:
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED",
                         "the client certificate comes from no CA this daemon trusts")
    # The innermost region that contains the department speaks for it: a province's CA
    # cannot vouch for a department of its city when the city is a region of its own.
    innermost = _innermost(uscc[2:8], [*peers.local_regions(), *peers.foreign_issuers()])
    if innermost != region:
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED",
                         f"region {region} may not vouch for department {uscc}")
    revoked = False if public else peers.foreign_revoked(region, certificate.serial_number)
    if revoked is None:
        raise RpcFailure(grpc.StatusCode.UNAVAILABLE, "PEER_REVOCATION_UNKNOWN",
                         f"no current CRL of region {region} to check the client certificate "
                         "against; try again later")
    if revoked:
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED",
                         "the client certificate is revoked by its region")
    return Caller(uscc, name, PEER_ROLES, certificate.serial_number, region=region)


def authenticate(context: grpc.ServicerContext, policy: Policy,
                 revocations: RevocationCache, peers: PeerRecognition | None = None,
                 method: str = "") -> Caller:
    """The caller of this call (to `method`); UNAUTHENTICATED when there is none the daemon
    accepts."""
    certificate = peer_certificate(context)
    if certificate is None:
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED",
                         "this method needs a TLS client certificate of a department")
    subject = certificate.subject.native
    uscc = str(subject.get("organization_identifier", "")).upper()
    if not uscc:
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED",
                         "the client certificate names no department (organizationIdentifier)")
    if peers is not None:
        local, region = peers.origin(certificate.dump())
        if not local:
            return foreign_caller(certificate, region, uscc,
                                  str(subject.get("common_name", "")), peers,
                                  public=method in PUBLIC_METHODS)
    if revocations.revoked(certificate.serial_number):
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED",
                         "the client certificate is revoked")
    roles = policy.roles_of(uscc)
    if roles is None:
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED",
                         f"department {uscc} is not known to this daemon's policy")
    return Caller(uscc, str(subject.get("common_name", "")), roles, certificate.serial_number,
                  policy.duties_of(uscc))


def authorise(caller: Caller, method: str, policy: Policy) -> None:
    """PERMISSION_DENIED unless the caller's roles admit the method."""
    if method in ANY_CALLER:
        return
    required = policy.required(method)
    if required is None or not caller.admits(required):
        raise RpcFailure(grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED",
                         f"department {caller.uscc} may not call {method}",
                         metadata={"method": method})
