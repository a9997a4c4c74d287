"""`certctl keys` as an administrator runs it: a real process on a real token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from certlib.algorithms import verify_signature


def certctl(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run certctl in a subprocess against `home`."""
    env = {**os.environ, "CERTLIB_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "certlib.cli", *args],
        env=env, capture_output=True, text=True, check=False, input=stdin,
    )


def _pin(home: Path) -> str:
    return (home / "softhsm" / "user.pin").read_text().strip()


@pytest.mark.parametrize("algorithm", ["ecdsa-p256-sha256", "rsa-pss-sha256", "ed25519", "sm2-sm3"])
def test_create_sign_export_verify(home: Path, tmp_path: Path, algorithm: str) -> None:
    """create -> sign -> export-public; the signature verifies against the exported key."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = certctl(home, "keys", "create", "--alg", algorithm, "--name", name, "--json")
    assert created.returncode == 0, created.stderr
    row = json.loads(created.stdout)[0]
    assert (row["name"], row["version"], row["state"]) == (name, 1, "active")
    assert row["protection"] == ("software" if algorithm == "sm2-sm3" else "hsm")
    data, sig, pem = tmp_path / "data", tmp_path / "sig", tmp_path / "pub.pem"
    data.write_bytes(b"signed from the command line")
    assert certctl(home, "keys", "sign", "--name", name, "--in", str(data),
                   "--out", str(sig)).returncode == 0
    assert certctl(home, "keys", "export-public", "--name", name, "--out", str(pem)).returncode == 0
    from asn1crypto import pem as asn1_pem

    _, _, spki = asn1_pem.unarmor(pem.read_bytes())
    if algorithm != "sm2-sm3":
        load_pem_public_key(pem.read_bytes())
    assert verify_signature(spki, algorithm, data.read_bytes(), sig.read_bytes())


def test_lifecycle_and_tables(home: Path) -> None:
    """list/show/rotate/disable/destroy, with tables for people and JSON for scripts."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert certctl(home, "keys", "create", "--alg", "ed25519", "--name", name).returncode == 0
    rotated = certctl(home, "--json", "keys", "rotate", "--name", name)
    assert json.loads(rotated.stdout)[0]["version"] == 2
    shown = certctl(home, "keys", "show", "--name", name, "--json")
    assert [(r["version"], r["state"]) for r in json.loads(shown.stdout)] == [
        (1, "verify-only"), (2, "active")]
    table = certctl(home, "keys", "list")
    assert table.returncode == 0
    header = table.stdout.splitlines()[0].split()
    assert header == ["NAME", "VERSION", "ALGORITHM", "STATE", "PROTECTION", "CREATED",
                      "FINGERPRINT"]
    lines = table.stdout.splitlines()
    assert any(line.startswith(name) and "verify-only" in line for line in lines)
    disabled = certctl(home, "keys", "disable", "--name", name, "--json")
    assert {r["state"] for r in json.loads(disabled.stdout)} == {"disabled"}
    refused = certctl(home, "keys", "destroy", "--name", name)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert certctl(home, "keys", "destroy", "--name", name, "--yes").returncode == 0
    gone = certctl(home, "keys", "show", "--name", name)
    assert gone.returncode == 2 and "HSM_KEY_NOT_FOUND" in gone.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create", "--alg", "rsa-pkcs1-sha256", "--name", "x"],
        ["keys", "create", "--alg", "ecdsa-p256-sha256-p1363", "--name", "x"],
        ["keys", "create", "--alg", "ecdsa-p256-sha256", "--name", "bad name!"],
        ["keys", "sign", "--name", "no-such-key", "--in", "/etc/hostname", "--out", "/dev/null"],
        ["keys", "sign", "--name", "no-such-key", "--in", "/no/such/file", "--out", "/dev/null"],
        ["keys", "rotate", "--name", "no-such-key"],
        ["keys", "frobnicate"],
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(home: Path, args: list[str]) -> None:
    """Bad input: exit status 2, one error line on stderr (after argparse's usage), no traceback."""
    result = certctl(home, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if "error:" in line] == lines[-1:]


def test_the_pin_is_never_printed(home: Path, tmp_path: Path) -> None:
    """No command prints the token PIN, and the PIN file is private to its owner."""
    pin = _pin(home)
    assert (home / "softhsm" / "user.pin").stat().st_mode & 0o077 == 0
    outputs = [certctl(home, "keys", "list", "--json"), certctl(home, "keys", "show",
                                                                 "--name", "nope")]
    for result in outputs:
        assert pin not in result.stdout + result.stderr


def test_a_world_readable_pin_file_is_refused(tmp_path: Path) -> None:
    """A production PIN file readable by others is refused before the module is loaded."""
    pin_file = tmp_path / "hsm.pin"
    pin_file.write_text("123456\n")
    pin_file.chmod(0o644)
    env_home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "certlib.cli", "keys", "list"],
        env={**os.environ, "CERTLIB_HOME": str(env_home),
             "CERTLIB_HSM_MODULE": "/usr/lib/softhsm/libsofthsm2.so",
             "CERTLIB_HSM_PIN_FILE": str(pin_file)},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 4
    assert "chmod 600" in result.stderr and "123456" not in result.stderr
