"""TLS material and the demo region: what `certd init` and `certd demo` set up.

gRPC's TLS stack (BoringSSL inside grpcio) cannot use a PKCS#11 key, so the TLS keys of
the daemon and of department clients are software keys in files of mode 0600; they
protect transport only. Every key that signs certificates, seals, status lists or audit
checkpoints stays in the HSM. Deployments that need TLS keys in an HSM terminate TLS at an
HSM-backed proxy in front of certd.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certlib.authority import RegionNotFound
from certlib.errors import ConfigurationError
from certlib.ids import uscc_with_check
from certlib.pki import DistinguishedName
from certlib.platform import Platform
from daemon.config import DaemonConfig
from daemon.identity import Policy, write_policy

SM2_ALGORITHM = "sm2-sm3"
SM2_TLS_PROBLEM = ("region {code}'s CAs would sign with SM2, which gRPC's TLS cannot verify: "
                   "certd needs a region whose CAs use ECDSA or RSA (its departments and seals "
                   "may still sign with SM2: certctl issuers add --alg sm2-sm3)")

DEMO_REGION = ("630000", "青海省政务服务平台")
DEMO_DEPARTMENTS = {
    # name -> (USCC body, display name, roles)
    "police": (uscc_with_check("11630100MB0000011"), "西宁市公安局",
               ["issuer:resident-id-card", "issuer:driving-licence", "verifier",
                "seal_keeper", "seal_user", "approver"]),
    "market": (uscc_with_check("11630000MB0000022"), "青海省市场监督管理局",
               ["issuer:business-licence", "verifier"]),
    "admin": (uscc_with_check("12630000MB0000033"), "青海省政务服务平台运营中心",
              ["admin", "auditor", "verifier", "seal_maker"]),
}


@dataclass(frozen=True)
class ClientFiles:
    """A department's TLS client credentials and the CA bundle to trust the daemon."""

    certificate: Path
    key: Path
    ca: Path


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _new_tls_key() -> tuple[bytes, bytes]:
    """A P-256 TLS key: (PKCS#8 PEM, SPKI DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def write_ca_bundle(platform: Platform, path: Path) -> None:
    """Every region root certificate, as PEM."""
    bundle = b"".join(pem.armor("CERTIFICATE", region.root_certificate)
                      for region in platform.authority.regions())
    if not bundle:
        raise ConfigurationError("no region exists yet: run `certd init` first")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(bundle)


def ensure_server_tls(platform: Platform, config: DaemonConfig, region_code: str,
                      hosts: tuple[str, ...] = ("localhost",),
                      addresses: tuple[str, ...] = ("127.0.0.1",)) -> None:
    """The daemon's TLS key and certificate (once), and a fresh client-CA bundle."""
    directory = config.tls_directory
    certificate, key = directory / "server.pem", directory / "server.key"
    if not certificate.exists() or not key.exists():
        region = platform.authority.region(region_code)
        if region.algorithm == SM2_ALGORITHM:
            raise ConfigurationError(SM2_TLS_PROBLEM.format(code=region.code))
        private, public = _new_tls_key()
        der = platform.authority.issue_tls_certificate(
            region.code, public_key=public, server=True, dns_names=hosts,
            ip_addresses=addresses,
            subject=DistinguishedName(f"certd {region.name}", organisation=region.name))
        _write_private(key, private)
        certificate.write_bytes(pem.armor("CERTIFICATE", der)
                                + pem.armor("CERTIFICATE", region.issuing_certificate))
    write_ca_bundle(platform, directory / "client-ca.pem")


OPERATOR_ROLES = ["admin", "auditor", "verifier", "seal_maker"]
"""The platform operator's roles in a region set up with `bootstrap_region`."""


def bootstrap_region(platform: Platform, config: DaemonConfig, *, code: str, name: str,
                     operator_uscc: str, operator_name: str,
                     algorithm: str | None = None) -> ClientFiles:
    """A region of its own (idempotent): root and issuing CA, the server's TLS files, and
    the platform operator's client certificate (label `operator`), which is also what this
    daemon calls other regions' daemons with."""
    try:
        platform.authority.region(code)
    except RegionNotFound:
        if algorithm == SM2_ALGORITHM:
            raise ConfigurationError(SM2_TLS_PROBLEM.format(code=code)) from None
        if algorithm is None:
            platform.authority.init_region(code, name)
        else:
            platform.authority.init_region(code, name, algorithm)
    ensure_server_tls(platform, config, code)
    existing = client_files(config, "operator")
    files = existing if existing.certificate.exists() else issue_client(
        platform, config, region_code=code, uscc=operator_uscc, name=operator_name,
        label="operator")
    departments = Policy(config.policy_file).departments()
    departments.setdefault(operator_uscc, OPERATOR_ROLES)
    write_policy(config.policy_file, departments)
    return files


def issue_client(platform: Platform, config: DaemonConfig, *, region_code: str, uscc: str,
                 name: str, label: str, not_before: datetime | None = None,
                 not_after: datetime | None = None) -> ClientFiles:
    """TLS client credentials for a department, written under <home>/tls/clients/."""
    private, public = _new_tls_key()
    region = platform.authority.region(region_code)
    der = platform.authority.issue_tls_certificate(
        region.code, public_key=public, server=False, not_before=not_before,
        not_after=not_after,
        subject=DistinguishedName(name, organisation=name, organisation_identifier=uscc))
    directory = config.tls_directory / "clients"
    files = ClientFiles(directory / f"{label}.pem", directory / f"{label}.key",
                        config.tls_directory / "ca.pem")
    _write_private(files.key, private)
    files.certificate.write_bytes(pem.armor("CERTIFICATE", der)
                                  + pem.armor("CERTIFICATE", region.issuing_certificate))
    write_ca_bundle(platform, files.ca)
    return files


def client_files(config: DaemonConfig, label: str) -> ClientFiles:
    """Where `issue_client` put a department's credentials."""
    directory = config.tls_directory / "clients"
    return ClientFiles(directory / f"{label}.pem", directory / f"{label}.key",
                       config.tls_directory / "ca.pem")


def bootstrap_demo(platform: Platform, config: DaemonConfig) -> dict[str, ClientFiles]:
    """Region 630000, three departments, the policy and every TLS file (idempotent)."""
    code, name = DEMO_REGION
    try:
        platform.authority.region(code)
    except RegionNotFound:
        platform.authority.init_region(code, name)
    types = platform.types
    known = {issuer.uscc for issuer in platform.authority.issuers()}
    for uscc, display, roles in DEMO_DEPARTMENTS.values():
        type_codes = [types.get(role.split(":", 1)[1]).code for role in roles
                      if role.startswith("issuer:")]
        if type_codes and uscc not in known:
            platform.authority.add_issuer(uscc, display, code, type_codes)
    ensure_server_tls(platform, config, code)
    files = {}
    for label, (uscc, display, _roles) in DEMO_DEPARTMENTS.items():
        existing = client_files(config, label)
        files[label] = existing if existing.certificate.exists() else issue_client(
            platform, config, region_code=code, uscc=uscc, name=display, label=label)
    write_policy(config.policy_file,
                 {uscc: roles for uscc, _display, roles in DEMO_DEPARTMENTS.values()})
    return files
