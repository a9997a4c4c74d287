"""`certctl trust` end to end in real subprocesses, and `fetch_location` itself.

Three region platforms, each in its own state directory with its own SoftHSM2 token (630000
and its city 630100 with ECDSA, 620000 with SM2), and a national operator whose two keys sit
in two HSMs (two state directories: k-of-n by `trust sign`). Lists are published into a
shared directory named by `file:` locations, or served over HTTPS on 127.0.0.1 with a test
CA. The regions install the national list and fetch; tampered and rolled-back lists are
refused while the last good copy stays; a national key rotation needs old and new keys.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem

from certlib.errors import ConfigurationError
from certlib.ids import uscc_with_check
from certlib.trustlist import (
    LocationRefused,
    TrustListFetchFailed,
    TrustListNotFound,
    TrustListTooLarge,
    fetch_location,
    location_fetcher,
)
from tests.idp import _tls_context

ECDSA, SM2, ED25519 = "ecdsa-p256-sha256", "sm2-sm3", "ed25519"
DRIVING, RESIDENT_ID = "11000000000000000U001", "11100000000013127D001"
REGIONS = {  # code -> (platform name, national list name, CA algorithm, department USCC)
    "630000": ("青海省政务服务平台", "青海省", ECDSA, uscc_with_check("11630000MB0000001")),
    "630100": ("西宁市政务服务平台", "西宁市", ECDSA, uscc_with_check("11630100MB0000011")),
    "620000": ("甘肃省政务服务平台", "甘肃省", SM2, uscc_with_check("11620000MB0000021")),
}
OPERATOR = "国家政务服务平台"


def certctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """certctl on state directory `home`, with no other CERTLIB_* setting of this process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CERTLIB_")}
    env["CERTLIB_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "certlib.cli", *args], env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def ok(home: Path, *args: str) -> Any:
    """certctl that must succeed; its JSON output (`--json` is added)."""
    done = certctl(home, *args, "--json")
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return json.loads(done.stdout)


def fetch(home: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    """`trust fetch --json`: its exit status and its rows by scope."""
    done = certctl(home, "trust", "fetch", *args, "--json")
    assert done.returncode in (0, 1, 4), (done.stdout, done.stderr)
    return done.returncode, {row["scope"]: row for row in json.loads(done.stdout)}


def show(home: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """`trust show --json`: the national list and the regions by code."""
    shown = ok(home, "trust", "show")
    return shown["national"], {row["region"]: row for row in shown["regions"]}


@dataclass
class Federation:
    """The state directories, the shared publication directory and what was published."""

    base: Path
    pub: Path
    homes: dict[str, Path]
    """Region code -> its platform; `national-a` / `national-b`: the operator's two HSMs."""
    versions: dict[str, int] = field(default_factory=dict)
    """Scope -> the version last published."""

    def next_version(self, scope: str) -> int:
        """A version above every one published for `scope` (recorded as published)."""
        self.versions[scope] = self.versions.get(scope, 0) + 1
        return self.versions[scope]

    def publish_region(self, code: str, *extra: str) -> dict[str, Any]:
        """The region publishes its next list version into the shared directory."""
        published: dict[str, Any] = ok(
            self.homes[code], "trust", "region", "publish", "--region", code, "--version",
            str(self.next_version(code)), "--address", f"certd-{code}.gov.example:7443",
            "--keys", f"r{code}", "--out", str(self.pub / f"{code}.json"), *extra)
        return published

    def national_file(self, version: int) -> Path:
        """Where national list `version` is published."""
        return self.pub / f"national-{version}.json"

    def verifier(self, directory: Path) -> Path:
        """A fresh state directory that installs national list 1 and fetches everything."""
        home = directory / f"verifier-{uuid.uuid4().hex[:8]}"
        assert ok(home, "trust", "install", str(self.national_file(1)))["outcome"] == \
            "installed"
        status, rows = fetch(home)
        assert status == 0, rows
        return home


def _key_file(home: Path, name: str, out: Path) -> dict[str, Any]:
    ok(home, "trust", "key", "export", "--name", name, "--out", str(out))
    exported: dict[str, Any] = json.loads(out.read_text())
    return exported


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Federation:
    """Three regions with a department and a trust-list key each, their lists and national
    list 1 (threshold 2: one key in each of the operator's two HSMs) in `pub/`."""
    base = tmp_path_factory.mktemp("trust")
    pub = base / "pub"
    homes = {name: base / name for name in (*REGIONS, "national-a", "national-b")}
    world = Federation(base, pub, homes)
    regions_file: dict[str, Any] = {}
    for code, (platform_name, listed_name, algorithm, uscc) in REGIONS.items():
        home = homes[code]
        ok(home, "pki", "init-region", "--region", code, "--name", platform_name,
           "--alg", algorithm)
        ok(home, "issuers", "add", "--uscc", uscc, "--name", f"{listed_name}公安局",
           "--types", "driving-licence,resident-id-card")
        ok(home, "trust", "key", "create", "--name", f"r{code}", "--alg", algorithm)
        _key_file(home, f"r{code}", pub / "keys" / f"{code}.json")
        regions_file[code] = (listed_name, f"keys/{code}.json",
                              (pub / f"{code}.json").as_uri())
    # certd's TLS files for the province: its list names what the server certificate carries
    done = subprocess.run([sys.executable, "-m", "daemon", "--home", str(homes["630000"]),
                           "init", "--region", "630000"], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    for code in REGIONS:
        world.publish_region(code)
    (pub / "regions.toml").write_text("".join(
        f'[{code}]\nname = "{name}"\nkeys = ["{key}"]\nthreshold = 1\nlocation = "{where}"\n\n'
        for code, (name, key, where) in regions_file.items()))
    ok(homes["national-a"], "trust", "key", "create", "--name", "n1")
    ok(homes["national-b"], "trust", "key", "create", "--name", "n2", "--alg", SM2)
    _key_file(homes["national-b"], "n2", base / "n2.json")
    version = world.next_version("national")
    first = ok(homes["national-a"], "trust", "national", "publish", "--version", str(version),
               "--operator", OPERATOR, "--location", pub.as_uri() + "/national-{version}.json",
               "--keys", "n1", "--key-file", str(base / "n2.json"), "--threshold", "2",
               "--regions", str(pub / "regions.toml"), "--out",
               str(world.national_file(version)))
    assert first["signatures"] == 1 and first["threshold"] == 2
    assert first["regions"] == ["620000", "630000", "630100"]
    both = ok(homes["national-b"], "trust", "sign", str(world.national_file(version)),
              "--keys", "n2", "--out", str(world.national_file(version)))
    assert both["own_signatures"] == 2 and len(both["added"]) == 1
    return world


# -- keys ----------------------------------------------------------------------------------------


def test_keys_are_hsm_keys_and_export_their_definition(federation: Federation,
                                                       tmp_path: Path) -> None:
    """The exported definition is the HSM key's SPKI (as `keys export-public` gives it) with
    its SHA-256 keyid and algorithm; names are unique; only trust-list keys sign lists."""
    home = federation.homes["620000"]
    exported = json.loads((federation.pub / "keys" / "620000.json").read_text())
    spki = base64.b64decode(exported["public_key"])
    assert exported["algorithm"] == SM2
    assert exported["keyid"] == hashlib.sha256(spki).hexdigest()
    pem_file = tmp_path / "key.pem"
    assert certctl(home, "keys", "export-public", "--name", "trustlist-r620000", "--out",
                   str(pem_file)).returncode == 0
    assert pem.unarmor(pem_file.read_bytes())[2] == spki
    listed = ok(home, "trust", "key", "list")
    assert [(row["name"], row["keyid"]) for row in listed] == [("r620000", exported["keyid"])]
    again = certctl(home, "trust", "key", "create", "--name", "r620000")
    assert again.returncode == 2 and "HSM_KEY_EXISTS" in again.stderr
    assert certctl(home, "trust", "key", "export", "--name", "nope", "--out",
                   str(tmp_path / "x.json")).returncode == 2
    # the department's key is in the same HSM, but it is not a trust-list key
    refused = certctl(home, "trust", "sign", str(federation.pub / "620000.json"), "--keys",
                      f"issuer-{REGIONS['620000'][3]}", "--out", str(tmp_path / "y.json"))
    assert refused.returncode == 2 and "HSM_KEY_NOT_FOUND" in refused.stderr


# -- installing and fetching -----------------------------------------------------------------------


def test_every_region_installs_the_national_list_and_fetches(federation: Federation) -> None:
    """Each region's platform pins national list 1 and fetches: all three regions FRESH at
    the versions published, with their departments, types and endpoints."""
    for code in REGIONS:
        home = federation.homes[code]
        installed = ok(home, "trust", "install", str(federation.national_file(1)))
        assert installed["outcome"] == "installed" and installed["version"] == 1
        assert (home / "trust" / "national.json").read_bytes() == \
            federation.national_file(1).read_bytes()
        assert ok(home, "trust", "install", str(federation.national_file(1)))["outcome"] == \
            "unchanged"
        status, rows = fetch(home)
        assert status == 0
        assert {rows[c]["outcome"] for c in REGIONS} == {"accepted"}
        national, regions = show(home)
        assert national["state"] == "FRESH" and national["threshold"] == 2
        assert national["operator"] == OPERATOR and len(national["keys"]) == 2
        for other, (_, listed_name, _, uscc) in REGIONS.items():
            row = regions[other]
            assert (row["state"], row["name"]) == ("FRESH", listed_name)
            assert row["version"] == federation.versions[other]
            assert [issuer["uscc"] for issuer in row["issuers"]] == [uscc]
            assert {t["type"] for t in row["issuers"][0]["types"]} == {
                "driving-licence", "resident-id-card"}
        status, rows = fetch(home)  # again: nothing new, nothing rejected
        assert status == 0 and {row["outcome"] for row in rows.values()} == {"unchanged"}
    _, regions = show(federation.homes["630100"])
    province = regions["630000"]
    # certd's server certificate carries localhost and 127.0.0.1; its CA: root + issuing
    assert province["endpoint"] == {"address": "certd-630000.gov.example:7443",
                                    "server_name": "localhost", "ca_certificates": 2}
    assert province["status"]["status_lists"] == "certsvc://certd-630000.gov.example:7443"
    # without certd's TLS files the name is the address's host
    assert regions["620000"]["endpoint"]["server_name"] == "certd-620000.gov.example"


def test_province_authorises_its_city(federation: Federation, tmp_path: Path) -> None:
    """The city lists its department for two types; the province's list decides which of
    them the city may issue, and `trust show` says so."""
    home = federation.verifier(tmp_path)
    uscc = REGIONS["630100"][3]

    def city_types() -> dict[str, bool | None]:
        shown = ok(home, "trust", "show", "--region", "630100")
        (row,) = shown["regions"]
        assert row["state"] == "FRESH"
        (issuer,) = [entry for entry in row["issuers"] if entry["uscc"] == uscc]
        return {item["type"]: item["allowed"] for item in issuer["types"]}

    assert city_types() == {"driving-licence": False, "resident-id-card": False}
    published = federation.publish_region("630000", "--authorise", "630100=driving-licence")
    status, rows = fetch(home)
    assert status == 0 and rows["630000"]["outcome"] == "accepted"
    assert rows["630000"]["version"] == published["version"]
    assert city_types() == {"driving-licence": True, "resident-id-card": False}
    _, regions = show(home)
    assert regions["630000"]["authorisations"] == [
        {"region": "630100", "certificate_types": [DRIVING]}]
    text = certctl(home, "trust", "show", "--region", "630100").stdout
    assert f"{DRIVING} driving-licence: allowed" in text
    assert f"{RESIDENT_ID} resident-id-card: not allowed" in text
    # a region not inside the province cannot be authorised by it
    refused = certctl(federation.homes["630000"], "trust", "region", "publish", "--region",
                      "630000", "--version", str(federation.versions["630000"] + 1),
                      "--address", "certd.example:7443", "--keys", "r630000", "--out",
                      str(tmp_path / "no.json"), "--authorise", "620100=driving-licence")
    assert refused.returncode == 2 and "not inside" in refused.stderr
    assert not (tmp_path / "no.json").exists()


def test_tampered_and_rolled_back_lists_are_refused(federation: Federation,
                                                    tmp_path: Path) -> None:
    """A changed byte breaks the SM2 signature and an older version is a rollback: `trust
    fetch` says rejected and why (exit 1) and the last good list stays in force."""
    listed = federation.pub / "620000.json"
    older = listed.read_bytes()
    home = federation.verifier(tmp_path)
    published = federation.publish_region("620000")
    good = listed.read_bytes()
    status, rows = fetch(home)
    assert status == 0 and rows["620000"]["outcome"] == "accepted"
    try:
        listed.write_bytes(good.replace("甘肃省公安局".encode(), "甘肃省公安厅".encode()))
        status, rows = fetch(home)
        assert status == 1
        assert (rows["620000"]["outcome"], rows["620000"]["reason"]) == (
            "rejected", "signatures")
        assert "620000's keys" in rows["620000"]["detail"]
        assert rows["630000"]["outcome"] == "unchanged"  # one region does not stop the others
        _, regions = show(home)
        assert (regions["620000"]["state"], regions["620000"]["version"]) == (
            "FRESH", published["version"])
        assert regions["620000"]["issuers"][0]["name"] == "甘肃省公安局"

        listed.write_bytes(older)
        status, rows = fetch(home)
        assert status == 1 and rows["620000"]["reason"] == "rollback"
        text = certctl(home, "trust", "fetch").stdout
        assert f"620000: rejected (rollback): region 620000 version {published['version'] - 1}" \
            in text
        _, regions = show(home)
        assert (regions["620000"]["state"], regions["620000"]["version"]) == (
            "FRESH", published["version"])
        older_file = tmp_path / "older.json"
        older_file.write_bytes(older)
        updated = certctl(home, "trust", "update", str(older_file), "--json")
        assert updated.returncode == 1 and json.loads(updated.stdout)["reason"] == "rollback"
    finally:
        listed.write_bytes(good)
    # the region itself refuses to publish a version it already published
    again = certctl(federation.homes["620000"], "trust", "region", "publish", "--region",
                    "620000", "--version", str(published["version"]), "--address",
                    "certd.example:7443", "--keys", "r620000", "--out", str(tmp_path / "x"))
    assert again.returncode == 2 and "not above" in again.stderr
    record = json.loads((federation.homes["620000"] / "trust" / "published.json").read_text())
    assert record["620000"]["version"] == published["version"]


def test_national_rotation_needs_old_and_new_keys(federation: Federation,
                                                   tmp_path: Path) -> None:
    """New national keys (one per HSM): the hand-over list signed by the new keys only is
    refused; signed by old and new keys it is accepted; after it, the old keys alone are
    not enough."""
    home = federation.verifier(tmp_path)
    a, b = federation.homes["national-a"], federation.homes["national-b"]
    suffix = uuid.uuid4().hex[:6]
    new_a = ok(a, "trust", "key", "create", "--name", f"m1-{suffix}", "--alg", ED25519)
    new_b = ok(b, "trust", "key", "create", "--name", f"m2-{suffix}", "--alg", SM2)
    _key_file(b, f"m2-{suffix}", tmp_path / "m2.json")
    version = federation.next_version("national")
    location = federation.pub.as_uri() + "/national-{version}.json"
    common = ("--operator", OPERATOR, "--location", location, "--threshold", "2",
              "--regions", str(federation.pub / "regions.toml"))
    draft = tmp_path / "draft.json"
    ok(a, "trust", "national", "publish", "--version", str(version), *common,
       "--keys", f"m1-{suffix}", "--key-file", str(tmp_path / "m2.json"), "--out", str(draft))
    new_only = ok(b, "trust", "sign", str(draft), "--keys", f"m2-{suffix}", "--out",
                  str(draft))
    assert new_only["own_signatures"] == 2
    target = federation.national_file(version)
    shutil.copy(draft, target)
    status, rows = fetch(home)
    assert status == 1
    assert (rows["national"]["outcome"], rows["national"]["reason"]) == (
        "rejected", "signatures")
    assert rows["national"]["version"] == version - 1
    assert "current national" in rows["national"]["detail"]

    ok(a, "trust", "sign", str(draft), "--keys", "n1", "--out", str(draft))
    full = ok(b, "trust", "sign", str(draft), "--keys", "n2", "--out", str(draft))
    assert full["signatures"] == 4 and full["own_signatures"] == 2
    shutil.copy(draft, target)
    status, rows = fetch(home)
    assert status == 0 and rows["national"]["outcome"] == "accepted"
    national, regions = show(home)
    assert national["version"] == version
    assert {key["keyid"] for key in national["keys"]} == {new_a["keyid"], new_b["keyid"]}
    assert {row["state"] for row in regions.values()} == {"FRESH"}

    stale = federation.next_version("national")
    old_only = federation.national_file(stale)
    try:
        ok(a, "trust", "national", "publish", "--version", str(stale), *common,
           "--keys", "n1", "--key-file", str(federation.base / "n2.json"),
           "--out", str(old_only))
        ok(b, "trust", "sign", str(old_only), "--keys", "n2", "--out", str(old_only))
        status, rows = fetch(home)
        assert status == 1 and rows["national"]["reason"] == "signatures"
        assert show(home)[0]["version"] == version
    finally:
        old_only.unlink(missing_ok=True)


# -- https --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeouts are tested) is no error of the test


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler],
            tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve `handler` on 127.0.0.1 (over TLS with `tls`); yields the port."""
    server = _Server(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _files(directory: Path) -> type[BaseHTTPRequestHandler]:
    class Files(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Files


def test_fetch_over_https_with_a_ca_bundle(federation: Federation, tmp_path: Path) -> None:
    """Lists served over HTTPS by a server whose CA is not in the system store: refused
    without `--ca` (exit 4, nothing changes), fetched with it; the last good copies stay
    when the server is gone. `install --force` replaces a national list in force."""
    web = tmp_path / "web"
    web.mkdir()
    for code in REGIONS:
        shutil.copy(federation.pub / f"{code}.json", web / f"{code}.json")
    tls = _tls_context(tmp_path / "tls")
    operator = tmp_path / "operator"
    ok(operator, "trust", "key", "create", "--name", "solo")
    home = tmp_path / "verifier"
    with serving(_files(web), tls) as port:
        origin = f"https://127.0.0.1:{port}"
        regions = {code: {"name": listed_name, "threshold": 1, "location": f"{origin}/{code}.json",
                          "keys": [json.loads((federation.pub / "keys" / f"{code}.json")
                                              .read_text())]}
                   for code, (_, listed_name, _, _) in REGIONS.items()}
        (tmp_path / "regions.json").write_text(json.dumps(regions, ensure_ascii=False))
        ok(operator, "trust", "national", "publish", "--version", "1", "--operator", "测试运营方",
           "--location", origin + "/national-{version}.json", "--keys", "solo",
           "--threshold", "1", "--regions", str(tmp_path / "regions.json"), "--out",
           str(web / "national-1.json"))
        ok(home, "trust", "install", str(web / "national-1.json"))

        status, rows = fetch(home)
        assert status == 4
        for code in REGIONS:
            assert (rows[code]["outcome"], rows[code]["reason"]) == (
                "unavailable", "TRUST_LIST_FETCH_FAILED")
            assert "not trusted" in rows[code]["detail"] and origin in rows[code]["detail"]
        assert rows["national"]["outcome"] == "unavailable"  # national-2: TLS refused too
        assert {row["state"] for row in show(home)[1].values()} == {"MISSING"}

        status, rows = fetch(home, "--ca-file", str(tmp_path / "tls" / "ca.pem"))
        assert status == 0, rows
        assert rows["national"]["outcome"] == "unchanged"  # national-2.json: HTTP 404
        assert {rows[code]["outcome"] for code in REGIONS} == {"accepted"}
    status, rows = fetch(home, "--ca-file", str(tmp_path / "tls" / "ca.pem"), "--timeout", "2")
    assert status == 4 and {rows[code]["outcome"] for code in REGIONS} == {"unavailable"}
    national, regions = show(home)
    assert national["operator"] == "测试运营方"
    assert {row["state"] for row in regions.values()} == {"FRESH"}

    refused = certctl(home, "trust", "install", str(federation.national_file(1)))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert show(home)[0]["operator"] == "测试运营方"
    pinned = ok(home, "trust", "install", str(federation.national_file(1)), "--force")
    assert pinned["outcome"] == "pinned"
    national, regions = show(home)
    assert national["operator"] == OPERATOR
    bad_ca = certctl(home, "trust", "fetch", "--ca-file", str(tmp_path / "regions.json"))
    assert bad_ca.returncode == 2 and "CA file" in bad_ca.stderr


def test_commands_refuse_bad_input(federation: Federation, tmp_path: Path) -> None:
    """Wrong input exits 2 and writes nothing; a list of the wrong kind is rejected (1)."""
    home = federation.homes["national-a"]
    bad_regions = tmp_path / "regions.toml"
    bad_regions.write_text('[630000]\nname = "青海省"\nkeys = []\nthreshold = 1\n'
                           'location = "file:///x.json"\n')
    out = tmp_path / "out.json"
    common = ("trust", "national", "publish", "--version", "99", "--operator", OPERATOR,
              "--location", "file:///n-{version}.json", "--keys", "n1", "--out", str(out))
    for extra in (("--threshold", "1", "--regions", str(bad_regions)),
                  ("--threshold", "2", "--regions", str(federation.pub / "regions.toml")),
                  ("--threshold", "1", "--regions", str(tmp_path / "missing.toml"))):
        done = certctl(home, *common, *extra)
        assert done.returncode == 2, done.stderr
    assert not out.exists()
    wrong = certctl(home, "trust", "region", "publish", "--region", "630000", "--version", "1",
                    "--address", "a.example:1", "--keys", "n1", "--out", str(out))
    assert wrong.returncode == 2 and "REGION_NOT_FOUND" in wrong.stderr
    kind = certctl(tmp_path / "v", "trust", "install", str(federation.pub / "630000.json"))
    assert kind.returncode == 1 and "wrong-type" in kind.stdout
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"{\"signed\": 1.5, \"signatures\": []}")
    assert certctl(tmp_path / "v", "trust", "update", str(junk)).returncode == 1
    nothing = certctl(tmp_path / "v", "trust", "fetch")
    assert nothing.returncode == 4 and "trust install" in nothing.stderr
    assert certctl(tmp_path / "v", "trust", "show").returncode == 0


# -- fetch_location -------------------------------------------------------------------------------


class _Routes(BaseHTTPRequestHandler):
    """/ok, /missing, /error, /big, /big-unsized, /slow, /drip and redirects."""

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok":
            self._send(200, b'{"ok": true}')
        elif path == "/missing":
            self.send_error(404)
        elif path == "/error":
            self.send_error(500)
        elif path == "/big":
            self._send(200, b"x" * 2000)
        elif path == "/big-unsized":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 2000)
            self.close_connection = True
        elif path == "/slow":
            time.sleep(2)
            self._send(200, b"late")
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        elif path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", path.removeprefix("/to/").replace("!", "/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(400)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_fetch_location_reads_files_and_refuses_the_rest(tmp_path: Path) -> None:
    """file: URLs and absolute paths, regular files only, bounded; other schemes, relative
    paths and remote file hosts refused before anything is opened."""
    listed = tmp_path / "a list.json"
    listed.write_bytes(b'{"a": 1}')
    for location in (listed.as_uri(), str(listed), "file:" + str(listed).replace(" ", "%20"),
                     "file://localhost" + listed.as_uri().removeprefix("file://")):
        assert fetch_location(location) == b'{"a": 1}', location
    with pytest.raises(TrustListNotFound):
        fetch_location((tmp_path / "none.json").as_uri())
    with pytest.raises(TrustListTooLarge):
        fetch_location(str(listed), max_bytes=4)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for refused in (str(tmp_path), str(fifo)):
        with pytest.raises(LocationRefused, match="not a regular file"):
            fetch_location(refused)
    for location in ("lists/x.json", "file:lists/x.json", "file://other.example/x.json",
                     "ftp://127.0.0.1/x.json", "http://trust.gov.example/x.json",
                     "gopher://x", "https:///nohost", ""):
        with pytest.raises(LocationRefused):
            fetch_location(location)
    with pytest.raises(LocationRefused) as caught:
        fetch_location("http://user:secret@trust.gov.example/x.json")
    assert "secret" not in caught.value.message and "trust.gov.example" in caught.value.message
    assert caught.value.code == "TRUST_LIST_LOCATION_REFUSED"
    with pytest.raises(ConfigurationError):
        location_fetcher(ca_file=listed)


def test_fetch_location_over_loopback_http(tmp_path: Path) -> None:
    """Status codes, size and time bounds, and redirects only within the scheme."""
    with serving(_Routes) as port:
        origin = f"http://127.0.0.1:{port}"
        assert fetch_location(f"{origin}/ok") == b'{"ok": true}'
        assert fetch_location(f"http://localhost:{port}/ok") == b'{"ok": true}'
        assert fetch_location(f"{origin}/to/{origin.replace('/', '!')}!ok") == b'{"ok": true}'
        with pytest.raises(TrustListNotFound, match="HTTP 404"):
            fetch_location(f"{origin}/missing")
        with pytest.raises(TrustListFetchFailed, match="HTTP 500") as caught:
            fetch_location(f"{origin}/error")
        assert not isinstance(caught.value, TrustListNotFound)
        for path in ("/big", "/big-unsized"):
            with pytest.raises(TrustListTooLarge):
                fetch_location(origin + path, max_bytes=1000)
        assert len(fetch_location(f"{origin}/big", max_bytes=2000)) == 2000
        for target in (f"file://{tmp_path}", f"https://127.0.0.1:{port}/ok",
                       "http://trust.gov.example/x.json"):
            with pytest.raises(LocationRefused):
                fetch_location(f"{origin}/to/{target.replace('/', '!')}")
        started = time.monotonic()
        with pytest.raises(TrustListFetchFailed, match="timed out"):
            fetch_location(f"{origin}/slow", timeout=0.5)
        with pytest.raises(TrustListFetchFailed, match="timed out"):
            fetch_location(f"{origin}/drip", timeout=1)
        assert time.monotonic() - started < 3.5
    with pytest.raises(TrustListFetchFailed) as refused:
        fetch_location(f"{origin}/ok", timeout=2)  # nobody listens any more
    assert refused.value.code == "TRUST_LIST_FETCH_FAILED"
