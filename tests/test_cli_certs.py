"""`certctl pki|issuers|certs` end to end: a fresh state directory, real subprocesses."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certlib.ids import uscc_with_check
from tests.samples import SAMPLES, ZHANG_SAN

DEPARTMENT = uscc_with_check("11630100000000330")


def certctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run certctl against `home`."""
    return subprocess.run([sys.executable, "-m", "certlib.cli", *args],
                          env={**os.environ, "CERTLIB_HOME": str(home)},
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory with region 630000 and one department, set up through the CLI.

    SoftHSM2 reads its configuration once per process, so the CLI gets its own token in
    its own processes."""
    home = tmp_path_factory.mktemp("cli-home")
    assert certctl(home, "pki", "init-region", "--region", "630000", "--name",
                   "青海省政务服务平台").returncode == 0
    added = certctl(home, "issuers", "add", "--uscc", DEPARTMENT, "--name", "西宁市公安局",
                    "--types", "resident-id-card,driving-licence", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["region"] == "630000"
    return home


def _write_sample(tmp_path: Path) -> Path:
    data = {key: (value.isoformat() if hasattr(value, "isoformat") else value)
            for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}
    path = tmp_path / "person.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


def test_issue_verify_present_export(cli_home: Path, tmp_path: Path) -> None:
    """One certificate through every command; exit statuses follow the report."""
    certificate, presentation = tmp_path / "zs.ecert", tmp_path / "zs.pres"
    issued = certctl(cli_home, "certs", "issue", "--type", "resident-id-card", "--issuer",
                     DEPARTMENT, "--data", str(_write_sample(tmp_path)), "--out",
                     str(certificate), "--json")
    assert issued.returncode == 0, issued.stderr
    identifier = json.loads(issued.stdout)["identifier"]
    verified = certctl(cli_home, "certs", "verify", str(certificate), "--json")
    assert verified.returncode == 0
    report = json.loads(verified.stdout)
    assert (report["indication"], report["sub_indication"]) == ("PASSED", None)
    assert certctl(cli_home, "certs", "present", str(certificate), "--fields",
                   "name,birth_date", "--out", str(presentation)).returncode == 0
    shown = json.loads(certctl(cli_home, "certs", "verify", str(presentation), "--json").stdout)
    assert set(shown["disclosed"]) == {"name", "birth_date"}
    human = certctl(cli_home, "certs", "verify", str(presentation))
    assert human.stdout.startswith("PASSED") and ZHANG_SAN not in human.stdout
    for fmt in ("cms", "qr", "pdf"):
        out = tmp_path / f"zs.{fmt}"
        exported = certctl(cli_home, "certs", "export", str(certificate), "--format", fmt,
                           "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        assert out.stat().st_size > 0
    assert (tmp_path / "zs.pdf").read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(tmp_path / "zs.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "居民身份证" in text and identifier in text.replace("\n", "")
    assert certctl(cli_home, "certs", "suspend", identifier).returncode == 0
    suspended = certctl(cli_home, "certs", "verify", str(certificate), "--json")
    assert suspended.returncode == 1
    assert json.loads(suspended.stdout)["sub_indication"] == "SUSPENDED"


def test_batch_issue_from_csv(cli_home: Path, tmp_path: Path) -> None:
    """A CSV batch: every row issued into the output folder; one bad row stops them all."""
    sample = {key: (value.isoformat() if hasattr(value, "isoformat") else value)
              for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}
    batch = tmp_path / "batch.csv"
    with batch.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(sample))
        writer.writeheader()
        for _ in range(5):
            writer.writerow(sample)
    out = tmp_path / "out"
    result = certctl(cli_home, "certs", "issue", "--type", "resident-id-card", "--issuer",
                     DEPARTMENT, "--in", str(batch), "--out-dir", str(out))
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("*.ecert"))) == 5
    assert "issuing" in result.stderr  # the progress bar
    broken = tmp_path / "broken.csv"
    broken.write_text(batch.read_text(encoding="utf-8").replace(
        str(sample["id_number"]), "not-a-number", 1), encoding="utf-8")
    refused = certctl(cli_home, "certs", "issue", "--type", "resident-id-card", "--issuer",
                      DEPARTMENT, "--in", str(broken), "--out-dir", str(tmp_path / "none"))
    assert refused.returncode == 2
    assert "row 2" in refused.stderr and "not-a-number" not in refused.stderr
    assert not (tmp_path / "none").exists()


def test_indeterminate_exit_status(cli_home: Path, tmp_path: Path) -> None:
    """A certificate whose issuer this platform does not know: INDETERMINATE, exit 3."""
    other_home = tmp_path / "other"
    assert certctl(other_home, "pki", "init-region", "--region", "620000", "--name",
                   "甘肃省政务服务平台").returncode == 0
    other = uscc_with_check("11620100000000330")
    assert certctl(other_home, "issuers", "add", "--uscc", other, "--name", "兰州市公安局",
                   "--types", "resident-id-card").returncode == 0
    certificate = tmp_path / "gs.ecert"
    assert certctl(other_home, "certs", "issue", "--type", "resident-id-card", "--issuer",
                   other, "--data", str(_write_sample(tmp_path)), "--out",
                   str(certificate)).returncode == 0
    foreign = certctl(cli_home, "certs", "verify", str(certificate), "--json")
    assert foreign.returncode == 3
    assert json.loads(foreign.stdout)["indication"] == "INDETERMINATE"


@pytest.mark.parametrize("args", [
    ["certs", "issue", "--type", "no-such-type", "--issuer", DEPARTMENT, "--data", "/dev/null",
     "--out", "/dev/null"],
    ["certs", "issue", "--type", "business-licence", "--issuer", DEPARTMENT, "--data",
     "/dev/null", "--out", "/dev/null"],
    ["certs", "verify", "/no/such/file"],
    ["pki", "init-region", "--region", "63000", "--name", "x"],
    ["issuers", "add", "--uscc", "not-a-uscc", "--name", "x", "--types", "resident-id-card"],
    ["certs", "revoke", "1.2.156.3005.2.unknown"],
])
def test_input_errors_exit_2(cli_home: Path, args: list[str]) -> None:
    """Bad input: exit 2 and one line on stderr."""
    result = certctl(cli_home, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_garbage_file_fails_format(cli_home: Path, tmp_path: Path) -> None:
    """A file that is no certificate: FAILED / FORMAT_FAILURE, exit 1."""
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(300))
    result = certctl(cli_home, "certs", "verify", str(junk), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["sub_indication"] == "FORMAT_FAILURE"
