"""`certctl --endpoint`: the same commands against a real certd over mutual TLS."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.daemon_support import POLICE, RunningDaemon
from tests.samples import SAMPLES, ZHANG_SAN


def _sample() -> dict[str, str]:
    return {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
            for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}


def certctl(daemon: RunningDaemon, label: str, *args: str,
            **environment: str) -> subprocess.CompletedProcess[str]:
    """Run certctl against `daemon` as the department whose TLS files are named `label`."""
    clients = daemon.home / "tls" / "clients"
    return subprocess.run(
        [sys.executable, "-m", "certlib.cli", *args, "--endpoint", daemon.listen,
         "--client-cert", str(clients / f"{label}.pem"),
         "--client-key", str(clients / f"{label}.key")],
        env={**os.environ, "CERTLIB_HOME": str(daemon.home), **environment},
        capture_output=True, text=True, check=False, timeout=120)


def test_issue_verify_revoke_through_the_daemon(daemon: RunningDaemon, tmp_path: Path) -> None:
    """Issue, verify and revoke over gRPC; exit statuses follow the report."""
    data = tmp_path / "person.json"
    data.write_text(json.dumps(_sample(), ensure_ascii=False), encoding="utf-8")
    certificate = tmp_path / "zs.ecert"
    issued = certctl(daemon, "police", "certs", "issue", "--type", "resident-id-card",
                     "--issuer", POLICE, "--data", str(data), "--out", str(certificate), "--json")
    assert issued.returncode == 0, issued.stderr
    identifier = json.loads(issued.stdout)["identifier"]
    assert certificate.stat().st_size > 500
    verified = certctl(daemon, "market", "certs", "verify", str(certificate), "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["indication"] == "PASSED"
    revoked = certctl(daemon, "police", "certs", "revoke", identifier, "--json")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["status"] == "revoked"
    after = certctl(daemon, "market", "certs", "verify", str(certificate), "--json")
    assert after.returncode in (1, 3)
    assert json.loads(after.stdout)["indication"] != "PASSED"
    assert ZHANG_SAN in verified.stdout  # the verifier sees what the holder disclosed
    assert ZHANG_SAN not in issued.stdout + revoked.stdout


def test_batch_reports_each_failed_row(daemon: RunningDaemon, tmp_path: Path) -> None:
    """A remote batch issues the good rows, names the bad one without its content, exits 2."""
    sample = _sample()
    batch = tmp_path / "batch.csv"
    with batch.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(sample))
        writer.writeheader()
        for row in range(3):
            writer.writerow({**sample, "id_number": "not-a-number"} if row == 1 else sample)
    out = tmp_path / "out"
    result = certctl(daemon, "police", "certs", "issue", "--type", "resident-id-card",
                     "--issuer", POLICE, "--in", str(batch), "--out-dir", str(out))
    assert result.returncode == 2, result.stderr
    assert len(list(out.glob("*.ecert"))) == 2
    assert "row 3" in result.stdout and "not-a-number" not in result.stdout + result.stderr


def test_keys_need_the_admin_role(daemon: RunningDaemon) -> None:
    """Admin creates and rotates a key; a department without the role is refused (exit 5)."""
    created = certctl(daemon, "admin", "keys", "create", "--name", "cli-remote", "--alg",
                      "ecdsa-p256-sha256")
    assert created.returncode == 0, created.stderr
    again = certctl(daemon, "admin", "keys", "create", "--name", "cli-remote", "--alg",
                    "ecdsa-p256-sha256")
    assert again.returncode == 2 and "exists" in again.stderr
    rotated = certctl(daemon, "admin", "keys", "rotate", "--name", "cli-remote", "--json")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["versions"] >= 2
    listed = certctl(daemon, "admin", "keys", "list", "--json")
    assert "cli-remote" in {row["name"] for row in json.loads(listed.stdout)}
    refused = certctl(daemon, "police", "keys", "list")
    assert refused.returncode == 5
    assert "PERMISSION_DENIED" in refused.stderr and "request " in refused.stderr


def test_audit_chain_and_query(daemon: RunningDaemon) -> None:
    """The auditor checks the chain and reads records through the daemon."""
    chain = certctl(daemon, "admin", "audit", "verify", "--json")
    assert chain.returncode == 0, chain.stderr
    assert json.loads(chain.stdout)["ok"] is True
    records = certctl(daemon, "admin", "audit", "query", "--method", "certificate.issue",
                      "--limit", "5", "--json")
    assert records.returncode == 0, records.stderr
    assert all(row["method"] == "certificate.issue" for row in json.loads(records.stdout))


def test_environment_names_the_endpoint(daemon: RunningDaemon) -> None:
    """CERTLIB_ENDPOINT works like --endpoint; an unreachable daemon exits 4."""
    clients = daemon.home / "tls" / "clients"
    environment = {**os.environ, "CERTLIB_HOME": str(daemon.home),
                   "CERTLIB_ENDPOINT": "127.0.0.1:1",
                   "CERTLIB_CLIENT_CERT": str(clients / "admin.pem"),
                   "CERTLIB_CLIENT_KEY": str(clients / "admin.key")}
    down = subprocess.run([sys.executable, "-m", "certlib.cli", "keys", "list"],
                          env=environment, capture_output=True, text=True, check=False,
                          timeout=120)
    assert down.returncode == 4, down.stderr
    environment["CERTLIB_ENDPOINT"] = daemon.listen
    up = subprocess.run([sys.executable, "-m", "certlib.cli", "keys", "list", "--json"],
                        env=environment, capture_output=True, text=True, check=False,
                        timeout=120)
    assert up.returncode == 0, up.stderr
