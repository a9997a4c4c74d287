"""`certctl grants` and `certctl delegations` in real subprocesses on a fresh state directory:
the 免证办 walk-through, refusals with their exit statuses, showings, delegations, and the
holder's identity number never on a command line nor in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from certlib.grants import from_text
from certlib.ids import uscc_with_check
from tests.samples import BABY_MOTHER, COMPANY, LI_SI, WANG_WU, ZHANG_SAN

POLICE = uscc_with_check("11630100MB0000081")
OFFICE = uscc_with_check("11630100MB0000082")
OTHER = uscc_with_check("11630100MB0000083")
MATTER = ("--matter-code", "630100-ZZ-001", "--matter-name", "户籍迁入登记")
NUMBERS = (ZHANG_SAN, LI_SI, WANG_WU, BABY_MOTHER)


@dataclass
class Home:
    """A state directory with 张三's identity card, and every output certctl gave."""

    path: Path
    identifier: str
    files: Path
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str, holder: str | None = None) -> subprocess.CompletedProcess[str]:
        """certctl with the acting person's number in $CERTLIB_HOLDER_ID (if any)."""
        env = {key: value for key, value in os.environ.items() if key != "CERTLIB_HOLDER_ID"}
        env["CERTLIB_HOME"] = str(self.path)
        if holder is not None:
            env["CERTLIB_HOLDER_ID"] = holder
        for argument in args:
            assert not any(number in argument for number in NUMBERS), "number on a command line"
        done = subprocess.run([sys.executable, "-m", "certlib.cli", *args], env=env,
                              capture_output=True, text=True, check=False, timeout=300)
        self.outputs += [done.stdout, done.stderr]
        return done

    def ok(self, *args: str, holder: str | None = None) -> str:
        """certctl that must succeed; its stdout."""
        done = self.run(*args, holder=holder)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def id_file(self, number: str) -> str:
        """A file whose first line is `number`."""
        path = self.files / f"id-{NUMBERS.index(number)}.txt"
        path.write_text(number + "\n")
        return str(path)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """Region 630000, the police department, 张三's identity card issued from a JSON file.
    At the end: no identity number in anything certctl printed."""
    path = tmp_path_factory.mktemp("grants-home")
    files = tmp_path_factory.mktemp("grants-files")
    made = Home(path, "", files)
    made.ok("pki", "init-region", "--region", "630000", "--name", "青海省政务服务平台")
    made.ok("issuers", "add", "--uscc", POLICE, "--name", "西宁市公安局", "--types",
            "resident-id-card", "--region", "630000")
    person = files / "person.json"
    person.write_text(json.dumps({
        "name": "张三", "sex": "1", "ethnicity": "汉", "birth_date": "1985-06-15",
        "address": "青海省西宁市城东区示例路1号", "id_number": ZHANG_SAN,
        "issuing_authority": "西宁市公安局城东分局", "valid_from": "2015-03-01",
        "valid_until": "2035-03-01"}, ensure_ascii=False))
    issued = made.ok("certs", "issue", "--type", "resident-id-card", "--issuer", POLICE,
                     "--data", str(person), "--out", str(files / "zs.ecert"), "--json")
    made.identifier = json.loads(issued)["identifier"]
    yield made
    text = "".join(made.outputs)
    assert len(made.outputs) > 10
    leaked = [n for n in NUMBERS if n in text or n.lower() in text]
    assert not leaked, "an identity number appeared in certctl's output"


def _grant(state: Home, *extra: str, to: str = OFFICE, fields: str = "name,address") -> dict[
        str, object]:
    made: dict[str, object] = json.loads(state.ok(
        "grants", "create", "--to", to, "--cert", state.identifier, "--fields", fields, *MATTER,
        "--json", *extra, holder=ZHANG_SAN))
    return made


def test_walk_through(state: Home, tmp_path: Path) -> None:
    """免证办: the holder grants name and address; the office uses the grant and gets the
    presentation, the receipt and the 加注件; the holder sees the use; the receipt verifies;
    a second use of the one-use grant is refused (exit 5)."""
    out = tmp_path / "office"
    qr = tmp_path / "grant.png"
    text = state.ok("grants", "create", "--holder-id-file", state.id_file(ZHANG_SAN), "--to",
                   OFFICE, "--cert", state.identifier, "--fields", "name,address", *MATTER,
                   "--reason", "为张三办理户籍迁入", "--valid-for", "24h", "--qr", str(qr))
    grant_id = text.split()[1].rstrip(":")
    [token] = [line for line in text.splitlines() if line.startswith("GT1:")]
    assert from_text(token)[0] == "grant" and qr.read_bytes()[:4] == b"\x89PNG"
    token_file = tmp_path / "token.txt"
    token_file.write_text(token + "\n")

    used = json.loads(state.ok("grants", "use", str(token_file), "--as", OFFICE, "--out-dir",
                              str(out), "--annotated", "--json"))
    assert used["fields"] == ["name", "address"]
    receipt_id = used["receipt_id"]
    [presentation] = used["presentations"]
    assert Path(presentation["out"]).name == f"{state.identifier}.pres"
    assert Path(used["receipt"]).name == f"{receipt_id}.receipt"
    verified = json.loads(state.ok("certs", "verify", presentation["out"], "--json"))
    assert verified["indication"] == "PASSED"
    assert verified["disclosed"] == {"name": "张三", "address": "青海省西宁市城东区示例路1号"}
    # the 加注件, checked in another process (one SoftHSM2 configuration per process)
    copy = json.loads(state.ok("seals", "verify", used["annotated"], "--json"))
    assert copy["indication"] == "PASSED"
    assert "用证服务" in copy["signatures"][0]["subject"]["signer_subject"]

    history = json.loads(state.ok("grants", "history", "--json", holder=ZHANG_SAN))
    assert [(use["receipt_id"], use["grant"], use["caller"], use["fields"])
            for use in history] == [(receipt_id, grant_id, f"department:{OFFICE}",
                                     ["name", "address"])]
    receipt = state.ok("grants", "verify-receipt", used["receipt"])
    assert receipt.startswith("PASSED") and "户籍迁入登记" in receipt
    listed = json.loads(state.ok("grants", "list", "--json", holder=ZHANG_SAN))
    assert [(row["id"], row["uses"], row["max_uses"]) for row in listed
            if row["id"] == grant_id] == [(grant_id, 1, 1)]

    again = state.run("grants", "use", token, "--as", OFFICE, "--out-dir", str(out))
    assert again.returncode == 5 and "GRANT_USED_UP" in again.stderr
    forged = tmp_path / "forged.receipt"
    forged.write_bytes(Path(used["receipt"]).read_bytes()[:-30] + bytes(30))
    assert state.run("grants", "verify-receipt", str(forged)).returncode == 1
    assert state.run("grants", "verify-receipt", str(tmp_path / "missing")).returncode == 2


def test_refusals(state: Home, tmp_path: Path) -> None:
    """Another department: 5, and nothing consumed. An altered token (DER or text): 2.
    A revoked grant: 5."""
    grant = _grant(state)
    token = str(grant["token"])
    wrong = state.run("grants", "use", token, "--as", OTHER, "--out-dir", str(tmp_path))
    assert wrong.returncode == 5 and "GRANT_AUDIENCE" in wrong.stderr
    der = bytearray(from_text(token)[1])
    der[-40] ^= 1
    altered = tmp_path / "altered.der"
    altered.write_bytes(bytes(der))
    bad = state.run("grants", "use", str(altered), "--as", OFFICE, "--out-dir", str(tmp_path))
    assert bad.returncode == 2 and "GRANT_TOKEN_INVALID" in bad.stderr
    garbled = state.run("grants", "use", token[:-8] + "AAAAAAAA", "--as", OFFICE)
    assert garbled.returncode == 2 and "GRANT_TOKEN_INVALID" in garbled.stderr
    state.ok("grants", "use", token, "--as", OFFICE, "--out-dir", str(tmp_path))  # unconsumed

    revoked = _grant(state)
    state.ok("grants", "revoke", str(revoked["id"]), holder=ZHANG_SAN)
    refused = state.run("grants", "use", str(revoked["token"]), "--as", OFFICE)
    assert refused.returncode == 5 and "revoked" in refused.stderr
    # someone else cannot revoke (or even see) 张三's grant
    other = _grant(state)
    stranger = state.run("grants", "revoke", str(other["id"]), holder=LI_SI)
    assert stranger.returncode == 2 and "GRANT_NOT_FOUND" in stranger.stderr


def test_identity_is_required_and_never_echoed(state: Home, tmp_path: Path) -> None:
    """No identity: 2 with a hint. A number whose check character is wrong: 2, not echoed.
    Someone who holds no such certificate: 5."""
    missing = state.run("grants", "list")
    assert missing.returncode == 2 and "CERTLIB_HOLDER_ID" in missing.stderr
    typo = ZHANG_SAN[:-1] + ("0" if ZHANG_SAN[-1] != "0" else "1")
    bad = tmp_path / "typo.txt"
    bad.write_text(typo)
    refused = state.run("grants", "list", "--holder-id-file", str(bad))
    assert refused.returncode == 2 and typo not in refused.stderr + refused.stdout
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert state.run("grants", "history", "--holder-id-file", str(empty)).returncode == 2
    foreign = state.run("grants", "create", "--to", OFFICE, "--cert", state.identifier,
                       "--fields", "name", *MATTER, holder=LI_SI)
    assert foreign.returncode == 5 and "does not hold" in foreign.stderr


def test_show_with_nonce_and_audience(state: Home, tmp_path: Path) -> None:
    """亮证: the showing verifies with its nonce and audience (file or SH1: text); another
    nonce or audience fails (exit 1)."""
    nonce = "00112233445566778899aabb"
    showing = tmp_path / "show.der"
    made = json.loads(state.ok("grants", "show", "--cert", state.identifier, "--fields", "name",
                              "--nonce", nonce, "--audience", f"department:{OFFICE}",
                              "--out", str(showing), "--json", holder=ZHANG_SAN))
    assert made["text"].startswith("SH1:") and showing.stat().st_size > 0
    good = json.loads(state.ok("grants", "verify-show", str(showing), "--nonce", nonce,
                              "--audience", f"department:{OFFICE}", "--json"))
    assert good["indication"] == "PASSED" and good["disclosed"] == {"name": "张三"}
    assert state.run("grants", "verify-show", made["text"], "--nonce", nonce).returncode == 0
    other_nonce = state.run("grants", "verify-show", str(showing), "--nonce", "ff" * 12)
    assert other_nonce.returncode == 1 and "show-nonce" in other_nonce.stdout
    other_audience = state.run("grants", "verify-show", str(showing), "--nonce", nonce,
                              "--audience", f"department:{OTHER}")
    assert other_audience.returncode == 1
    assert state.run("grants", "verify-show", "SH1:garbage").returncode == 1
    assert state.run("grants", "show", "--cert", state.identifier, "--fields", "name",
                    "--nonce", "xyz", "--out", str(showing), holder=ZHANG_SAN).returncode == 2
    history = json.loads(state.ok("grants", "history", "--json", holder=ZHANG_SAN))
    assert "show" in [use["kind"] for use in history]


def test_person_agent_grants_and_the_holder_revokes(state: Home, tmp_path: Path) -> None:
    """张三 delegates to 李四 (by an identity file), who re-delegates to 王五; 王五 grants
    within scope as the agent; the receipt names the chain; 张三 revokes the top link and
    王五's grant stops (exit 5)."""
    top = json.loads(state.ok(
        "delegations", "create", "--agent-id-file", state.id_file(LI_SI), "--cert",
        state.identifier, "--fields", "name,address", "--uses", "5", "--redelegate", "--json",
        holder=ZHANG_SAN))
    assert (top["agent_kind"], top["max_depth"], top["may_redelegate"]) == ("person", 1, True)
    below = json.loads(state.ok(
        "delegations", "create", "--parent", top["id"], "--agent-id-file",
        state.id_file(WANG_WU), "--cert", state.identifier, "--fields", "name", "--matters",
        "630100-ZZ-001", "--uses", "2", "--valid-for", "10d", "--json", holder=LI_SI))
    assert below["parent"] == top["id"]
    widened = state.run("delegations", "create", "--parent", below["id"], "--agent-id-file",
                       state.id_file(BABY_MOTHER), "--cert", state.identifier, "--fields", "name",
                       holder=WANG_WU)
    assert widened.returncode == 5 and "DELEGATION_REFUSED" in widened.stderr
    roles = {row["id"]: row["role"] for row in json.loads(
        state.ok("delegations", "list", "--json", holder=LI_SI))}
    assert roles == {top["id"]: "agent"}
    assert top["id"] in {row["id"] for row in json.loads(
        state.ok("delegations", "list", "--json", holder=ZHANG_SAN))}

    outside = state.run("grants", "create", "--to", OFFICE, "--cert", state.identifier,
                       "--fields", "name,address", *MATTER, "--delegation", below["id"],
                       holder=WANG_WU)
    assert outside.returncode == 5 and "fields" in outside.stderr
    grant = json.loads(state.ok(
        "grants", "create", "--to", OFFICE, "--cert", state.identifier, "--fields", "name",
        *MATTER, "--delegation", below["id"], "--uses", "2", "--valid-for", "2d", "--json",
        "--holder-id-file", state.id_file(WANG_WU)))
    used = json.loads(state.ok("grants", "use", grant["token"], "--as", OFFICE, "--out-dir",
                              str(tmp_path), "--json"))
    statement = json.loads(state.ok("grants", "verify-receipt", used["receipt"], "--json"))
    assert len(statement["subject"]["agents"]) == 2

    state.ok("delegations", "revoke", top["id"], holder=ZHANG_SAN)
    stopped = state.run("grants", "use", grant["token"], "--as", OFFICE)
    assert stopped.returncode == 5 and "revoked" in stopped.stderr


def test_organisation_agent_grants_and_presents(state: Home, tmp_path: Path) -> None:
    """An organisation agent (`--as`) grants and presents only what it was delegated, as
    often as delegated, and gets the receipt and the 加注件."""
    made = json.loads(state.ok("delegations", "create", "--agent-org", COMPANY, "--cert",
                               state.identifier, "--fields", "name", "--uses", "2", "--json",
                               holder=ZHANG_SAN))
    grant = json.loads(state.ok("grants", "create", "--delegation", made["id"], "--as", COMPANY,
                                "--to", OFFICE, "--cert", state.identifier, "--fields", "name",
                                *MATTER, "--json"))
    assert grant["granted_by"] == f"department:{COMPANY}"
    present = ("delegations", "use", made["id"], "--as", COMPANY, "--cert", state.identifier,
               *MATTER, "--out-dir", str(tmp_path))
    wider = state.run(*present, "--fields", "name,address")
    assert wider.returncode == 5 and "fields" in wider.stderr
    used = json.loads(state.ok(*present, "--fields", "name", "--annotated", "--json"))
    assert used["fields"] == ["name"] and Path(used["annotated"]).read_bytes()[:5] == b"%PDF-"
    again = state.run(*present, "--fields", "name")
    assert again.returncode == 5 and "used up" in again.stderr
    other = state.run("delegations", "use", made["id"], "--as", OFFICE, "--cert",
                      state.identifier, "--fields", "name", *MATTER)
    assert other.returncode == 5
    listed = json.loads(state.ok("delegations", "list", "--as", COMPANY, "--json"))
    assert [(row["id"], row["role"], row["uses"]) for row in listed] == [(made["id"], "agent",
                                                                          2)]
