"""Interop both ways with the `openssl` CLI, for every algorithm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import algos, pem

from certlib.algorithms import verify_signature
from certlib.keys import CertlibKeyStore

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")

DATA = "跨地区互通互认 interop test data\n".encode() * 50
SM2_ID = ["-sigopt", "distid:1234567812345678"]
PSS = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
       "-sigopt", "rsa_mgf1_md:sha256"]


def openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """Run openssl; the result carries its exit status."""
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=False)


def openssl_verify_command(algorithm: str, public: Path, data: Path, sig: Path) -> list[str | Path]:
    """The openssl command that verifies a certlib signature of this algorithm."""
    if algorithm == "ed25519":
        return ["pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin", "-in", data,
                "-sigfile", sig]
    digest = "-sm3" if algorithm == "sm2-sm3" else "-sha256"
    options = SM2_ID if algorithm == "sm2-sm3" else PSS if algorithm == "rsa-pss-sha256" else []
    return ["dgst", digest, *options, "-verify", public, "-signature", sig, data]


@pytest.mark.parametrize("algorithm", ["ecdsa-p256-sha256", "rsa-pss-sha256", "ed25519", "sm2-sm3"])
def test_openssl_verifies_certlib_signatures(
    keystore: CertlibKeyStore, key_name: str, tmp_path: Path, algorithm: str
) -> None:
    """A signature from the HSM key store verifies with openssl; altered data does not."""
    ref = keystore.generate(algorithm, key_name)
    public, data, altered, sig = (tmp_path / n for n in ("pub.pem", "data", "altered", "sig"))
    public.write_bytes(pem.armor("PUBLIC KEY", ref.public_key))
    data.write_bytes(DATA)
    altered.write_bytes(DATA + b"x")
    sig.write_bytes(keystore.sign(ref, DATA))
    good = openssl(*openssl_verify_command(algorithm, public, data, sig))
    assert good.returncode == 0, good.stderr.decode()
    bad = openssl(*openssl_verify_command(algorithm, public, altered, sig))
    assert bad.returncode != 0


def _generate(tmp_path: Path, *genpkey: str) -> tuple[Path, bytes]:
    key = tmp_path / "key.pem"
    assert openssl("genpkey", *genpkey, "-out", key).returncode == 0
    spki = openssl("pkey", "-in", key, "-pubout", "-outform", "DER")
    assert spki.returncode == 0
    return key, spki.stdout


def _sign(tmp_path: Path, *command: str | Path) -> bytes:
    data = tmp_path / "data"
    data.write_bytes(DATA)
    result = openssl(*command, data)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.mark.parametrize(
    ("algorithm", "genpkey"),
    [
        ("ecdsa-p256-sha256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        ("ecdsa-p256-sha256-p1363", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        ("rsa-pkcs1-sha256", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
        ("rsa-pss-sha256", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"]),
        ("rsa-pss-sha256", ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048",
                            "-pkeyopt", "rsa_pss_keygen_md:sha256",
                            "-pkeyopt", "rsa_pss_keygen_mgf1_md:sha256",
                            "-pkeyopt", "rsa_pss_keygen_saltlen:32"]),
        ("ed25519", ["-algorithm", "ED25519"]),
        ("sm2-sm3", ["-algorithm", "SM2"]),
    ],
)
def test_certlib_verifies_openssl_signatures(
    tmp_path: Path, algorithm: str, genpkey: list[str]
) -> None:
    """A signature made by openssl verifies with certlib; altered data does not."""
    key, spki = _generate(tmp_path, *genpkey)
    if algorithm == "ed25519":
        signature = _sign(tmp_path, "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in")
    elif algorithm == "sm2-sm3":
        signature = _sign(tmp_path, "dgst", "-sm3", "-sign", key, *SM2_ID)
    elif algorithm == "rsa-pss-sha256":
        signature = _sign(tmp_path, "dgst", "-sha256", "-sign", key, *PSS)
    else:
        signature = _sign(tmp_path, "dgst", "-sha256", "-sign", key)
    if algorithm.endswith("-p1363"):
        parsed = algos.DSASignature.load(signature)
        signature = parsed["r"].native.to_bytes(32, "big") + parsed["s"].native.to_bytes(32, "big")
    assert verify_signature(spki, algorithm, DATA, signature)
    assert not verify_signature(spki, algorithm, DATA + b"x", signature)


def test_sm2_without_the_default_id_does_not_verify(tmp_path: Path) -> None:
    """OpenSSL 3.0 signs SM2 with an empty id unless told otherwise: certlib must notice."""
    key, spki = _generate(tmp_path, "-algorithm", "SM2")
    signature = _sign(tmp_path, "dgst", "-sm3", "-sign", key)
    assert not verify_signature(spki, "sm2-sm3", DATA, signature)
