"""`certctl seals` end to end in real subprocesses: two local users (the operating-system
user names the actor), approval, applying, verifying with exit statuses, revoking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certlib.ids import uscc_with_check

OWNER = uscc_with_check("11630100MB0000055")


def certctl(home: Path, *args: str, user: str = "root") -> subprocess.CompletedProcess[str]:
    """Run certctl against `home` as the local user `user`."""
    return subprocess.run([sys.executable, "-m", "certlib.cli", *args],
                          env={**os.environ, "CERTLIB_HOME": str(home), "USER": user,
                               "LOGNAME": user},
                          capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(scope="module")
def seal_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A state directory with a region and one seal that the clerk may apply with the
    director's approval."""
    home = tmp_path_factory.mktemp("seal-home")
    assert certctl(home, "pki", "init-region", "--region", "630000", "--name",
                   "青海省政务服务平台").returncode == 0
    made = certctl(home, "seals", "create", "--owner", OWNER, "--owner-name", "西宁市示例局",
                   "--region", "630000", "--users", "local:clerk", "--approvers",
                   "local:director", "--kinds", "data,pdf", "--json")
    assert made.returncode == 0, made.stderr
    return home, json.loads(made.stdout)["es_id"]


def test_request_approve_apply_verify(seal_home: tuple[Path, str], tmp_path: Path) -> None:
    """Without approval: refused (exit 5). The clerk cannot approve his own request; the
    director can. The sealed data verifies (exit 0); other data does not (exit 1)."""
    home, es_id = seal_home
    data, out = tmp_path / "doc.txt", tmp_path / "doc.ses"
    data.write_bytes("公文正文".encode() * 30)
    refused = certctl(home, "seals", "apply", es_id, str(data), "--out", str(out),
                      "--purpose", "示例", user="clerk")
    assert refused.returncode == 5 and "APPROVAL_REQUIRED" in refused.stderr
    asked = certctl(home, "seals", "request", es_id, str(data), "--purpose", "示例", "--json",
                    user="clerk")
    assert asked.returncode == 0, asked.stderr
    request_id = json.loads(asked.stdout)["id"]
    assert certctl(home, "seals", "approve", request_id, user="clerk").returncode == 5
    approved = certctl(home, "seals", "approve", request_id, "--note", "同意", user="director")
    assert approved.returncode == 0, approved.stderr
    applied = certctl(home, "seals", "apply", es_id, str(data), "--out", str(out),
                      "--purpose", "示例", "--request", request_id, "--json", user="clerk")
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["approver"] == "local:director"
    verified = certctl(home, "seals", "verify", str(out), "--data", str(data), "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["signatures"][0]["subject"]["es_id"] == es_id
    other = tmp_path / "other.txt"
    other.write_bytes(b"something else")
    assert certctl(home, "seals", "verify", str(out), "--data", str(other)).returncode == 1
    usage = certctl(home, "seals", "usage", es_id, "--json")
    assert [row["user"] for row in json.loads(usage.stdout)] == ["local:clerk"]


def test_export_show_revoke(seal_home: tuple[Path, str], tmp_path: Path) -> None:
    """The .esl export verifies; show writes the picture; a revoked seal is refused."""
    home, es_id = seal_home
    esl, picture = tmp_path / "seal.esl", tmp_path / "seal.png"
    assert certctl(home, "seals", "export", es_id, "--out", str(esl)).returncode == 0
    assert certctl(home, "seals", "verify", str(esl)).returncode == 0
    shown = certctl(home, "seals", "show", es_id, "--picture-out", str(picture), "--json")
    assert json.loads(shown.stdout)["policy"]["approvers"] == ["local:director"]
    assert picture.read_bytes()[:4] == b"\x89PNG"
    listed = certctl(home, "seals", "list", "--json")
    assert es_id in [row["es_id"] for row in json.loads(listed.stdout)]
    assert certctl(home, "seals", "policy", es_id, "--users", "local:clerk").returncode == 0
    data = tmp_path / "x.txt"
    data.write_bytes(b"x")
    assert certctl(home, "seals", "revoke", es_id, "--reason", "key_compromise").returncode == 0
    refused = certctl(home, "seals", "apply", es_id, str(data), "--out", str(tmp_path / "y"),
                      "--purpose", "示例", user="clerk")
    assert refused.returncode == 5 and "revoked" in refused.stderr
    assert certctl(home, "seals", "verify", str(tmp_path / "missing")).returncode == 2
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(200))
    assert certctl(home, "seals", "verify", str(junk)).returncode == 1
