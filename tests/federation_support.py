"""Three regions as three real certd processes on 127.0.0.1, federated by signed trust lists.

Each region (province 630000, its city 630100, province 620000) has its own state directory,
SoftHSM2 token and SQLite store, set up as an operator would: `certd init --region`,
`certctl issuers add`, `certctl seals create`, `certctl trust key create`, `certctl trust
region publish`. A national operator (its own state directory and token) publishes the list
of lists; every region installs it and fetches before its daemon starts. Lists are published
into one shared directory named by `file:` locations, which the daemons re-read every second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certlib.client import CertlibClient, ClientCredentials
from certlib.ids import uscc_with_check
from tests.daemon_support import RunningDaemon, configure_oidc, free_port, run_certd

if TYPE_CHECKING:
    from tests.idp import LocalIdentityProvider

ECDSA, SM2 = "ecdsa-p256-sha256", "sm2-sm3"
DRIVING, RESIDENT_ID = "driving-licence", "resident-id-card"


@dataclass(frozen=True)
class RegionSpec:
    """One region's platform as the walk-through sets it up."""

    code: str
    platform_name: str
    listed_name: str
    department: str
    department_name: str
    operator: str
    list_key_algorithm: str = ECDSA
    department_algorithm: str | None = None
    """The department's signing algorithm (None: the region CA's)."""


REGIONS = {spec.code: spec for spec in (
    RegionSpec("630000", "青海省政务服务平台", "青海省", uscc_with_check("11630000MB0000101"),
               "青海省公安厅", uscc_with_check("12630000MB0000100")),
    RegionSpec("630100", "西宁市政务服务平台", "西宁市", uscc_with_check("11630100MB0000111"),
               "西宁市公安局", uscc_with_check("12630100MB0000110")),
    RegionSpec("620000", "甘肃省政务服务平台", "甘肃省", uscc_with_check("11620000MB0000121"),
               "甘肃省公安厅", uscc_with_check("12620000MB0000120"), SM2, SM2),
)}
PROVINCE_AUTHORISES = {"630000": [f"630100={DRIVING}"]}
"""The province lets its city's departments issue driving licences only."""
DEPARTMENT_ROLES = f"issuer:{DRIVING},issuer:{RESIDENT_ID},verifier,grant_user"
OPERATOR_NAME = "国家政务服务平台"


def _environment(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CERTLIB_")}
    return {**env, "CERTLIB_HOME": str(home),
            "CERTLIB_DATABASE_URL": f"sqlite:///{home / 'certlib.db'}",
            "USER": "root", "LOGNAME": "root"}


def certctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """certctl on state directory `home` as local user root."""
    return subprocess.run([sys.executable, "-m", "certlib.cli", *args], env=_environment(home),
                          capture_output=True, text=True, check=False, timeout=300)


def ok(home: Path, *args: str) -> Any:
    """certctl that must succeed; its JSON output."""
    done = certctl(home, *args, "--json")
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return json.loads(done.stdout) if done.stdout.strip() else None


@dataclass
class World:
    """The regions' state directories and daemons, the national operator, the shared
    publication directory and the versions published so far."""

    base: Path
    pub: Path
    homes: dict[str, Path]
    daemons: dict[str, RunningDaemon] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    seals: dict[str, str] = field(default_factory=dict)
    """Region code -> the esID of its department's seal."""

    @property
    def national_home(self) -> Path:
        """The national operator's state directory."""
        return self.homes["national"]

    def next_version(self, scope: str) -> int:
        """A version above every one published for `scope` (recorded as published)."""
        self.versions[scope] = self.versions.get(scope, 0) + 1
        return self.versions[scope]

    def region_file(self, code: str) -> Path:
        """Where region `code` publishes its list (the national list's location for it)."""
        return self.pub / f"{code}.json"

    def national_file(self, version: int) -> Path:
        """Where national list `version` is published."""
        return self.pub / f"national-{version}.json"

    def publish_region(self, code: str, *, valid_for: str = "1h", keys: str | None = None,
                       out: Path | None = None) -> Path:
        """Region `code` signs its next list (certctl also keeps it for its daemon to
        serve); it goes where the national list says, or to `out`."""
        daemon = self.daemons[code]
        target = out or self.region_file(code)
        extra = [f"--authorise={item}" for item in PROVINCE_AUTHORISES.get(code, [])]
        ok(self.homes[code], "trust", "region", "publish", "--region", code, "--version",
           str(self.next_version(code)), "--valid-for", valid_for, "--address",
           daemon.listen, "--keys", keys or f"r{code}", "--out", str(target), *extra)
        return target

    def publish_national(self, *, keys: str, listed: str, threshold: int = 1,
                         version: int | None = None) -> Path:
        """The operator signs national list `version` (next by default) naming `listed` keys
        (key files in pub/keys, from `trust key export`), signed with `keys` of its HSM."""
        chosen = version if version is not None else self.next_version("national")
        key_files = [arg for name in listed.split(",") if name not in keys.split(",")
                     for arg in ("--key-file", str(self.pub / "keys" / f"{name}.json"))]
        ok(self.national_home, "trust", "national", "publish", "--version", str(chosen),
           "--operator", OPERATOR_NAME, "--location",
           self.pub.as_uri() + "/national-{version}.json", "--keys", keys, *key_files,
           "--threshold", str(threshold), "--regions", str(self.pub / "regions.toml"),
           "--out", str(self.national_file(chosen)))
        return self.national_file(chosen)

    def credentials(self, at: str, label: str = "dept", of: str | None = None
                    ) -> ClientCredentials:
        """TLS client files `label` of region `of` (default `at`), trusting `at`'s CA."""
        clients = self.homes[of or at] / "tls" / "clients"
        return ClientCredentials.from_files(clients / f"{label}.pem", clients / f"{label}.key",
                                            self.homes[at] / "tls" / "ca.pem")

    def client(self, at: str, label: str = "dept", of: str | None = None,
               timeout: float = 30.0) -> CertlibClient:
        """A client of region `at`'s daemon, as client `label` of region `of` (default `at`)."""
        return CertlibClient(self.daemons[at].listen, self.credentials(at, label, of),
                             timeout=timeout)

    def kill(self, code: str) -> None:
        """SIGKILL the region's daemon: supervisor and workers, no goodbye."""
        daemon = self.daemons[code]
        assert daemon.process is not None
        for pid in daemon.worker_pids():
            os.kill(pid, signal.SIGKILL)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait()

    def restart(self, code: str) -> None:
        """Start the region's daemon again on the same ports."""
        self.daemons[code].start()

    def stop(self) -> None:
        """Stop every daemon."""
        for daemon in self.daemons.values():
            daemon.stop()


def _federation_settings(online: bool) -> str:
    return f"""
[federation]
refresh_seconds = 1
peer_timeout_seconds = 2
status_refresh_seconds = 2
status_list_lifetime_seconds = 8
status_online = {"true" if online else "false"}
"""


def _set_up_region(world: World, spec: RegionSpec) -> None:
    home = world.homes[spec.code]
    url = f"sqlite:///{home / 'certlib.db'}"
    done = run_certd(home, url, "init", "--region", spec.code, "--name", spec.platform_name,
                     "--operator", spec.operator)
    assert done.returncode == 0, done.stderr
    algorithm = ["--alg", spec.department_algorithm] if spec.department_algorithm else []
    ok(home, "issuers", "add", "--uscc", spec.department, "--name", spec.department_name,
       "--types", f"{DRIVING},{RESIDENT_ID}", *algorithm)
    done = run_certd(home, url, "client-cert", "--region", spec.code, "--uscc",
                     spec.department, "--name", spec.department_name, "--label", "dept",
                     "--roles", DEPARTMENT_ROLES)
    assert done.returncode == 0, done.stderr
    world.seals[spec.code] = ok(home, "seals", "create", "--owner", spec.department, "--owner-name",
       spec.department_name, "--region", spec.code, "--users", "local:root", "--kinds",
       "data,pdf")["es_id"]
    ok(home, "trust", "key", "create", "--name", f"r{spec.code}", "--alg",
       spec.list_key_algorithm)
    ok(home, "trust", "key", "export", "--name", f"r{spec.code}", "--out",
       str(world.pub / "keys" / f"r{spec.code}.json"))


def build_world(base: Path, *, online: frozenset[str] = frozenset(),
                workers: int = 1, idp: LocalIdentityProvider | None = None,
                holder_region: str = "620000",
                regions: tuple[str, ...] = tuple(REGIONS),
                department_algorithms: Mapping[str, str] | None = None) -> World:
    """Set up the regions, publish their lists and national list 1, install and fetch it
    everywhere, then start the daemons (`online`: regions that ask the issuing region's
    daemon first; `idp`: holders of `holder_region` log in there;
    `department_algorithms`: region -> its department's signing algorithm, overriding
    REGIONS)."""
    pub = base / "pub"
    (pub / "keys").mkdir(parents=True)
    homes = {code: base / code for code in regions} | {"national": base / "national"}
    world = World(base, pub, homes)
    for code in regions:
        spec = REGIONS[code]
        if department_algorithms and code in department_algorithms:
            spec = replace(spec, department_algorithm=department_algorithms[code])
        _set_up_region(world, spec)
        home = homes[code]
        with (home / "certlib.toml").open("a") as config:
            config.write(_federation_settings(code in online))
        if idp is not None and code == holder_region:
            configure_oidc(home, idp)
            done = run_certd(home, f"sqlite:///{home / 'certlib.db'}", "client-cert",
                             "--region", code, "--uscc", uscc_with_check("12620000MB0000150"),
                             "--name", "甘肃政务服务移动端", "--label", "app",
                             "--roles", "holder_app")
            assert done.returncode == 0, done.stderr
        world.daemons[code] = RunningDaemon(
            home, f"sqlite:///{home / 'certlib.db'}", f"127.0.0.1:{free_port()}",
            f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", workers)
    for code in regions:
        world.publish_region(code)
    (pub / "regions.toml").write_text("".join(
        f'[{code}]\nname = "{REGIONS[code].listed_name}"\nkeys = ["keys/r{code}.json"]\n'
        f'threshold = 1\nlocation = "{world.region_file(code).as_uri()}"\n\n'
        for code in regions))
    ok(world.national_home, "trust", "key", "create", "--name", "n1")
    ok(world.national_home, "trust", "key", "export", "--name", "n1", "--out",
       str(pub / "keys" / "n1.json"))
    first = world.publish_national(keys="n1", listed="n1")
    for code in regions:
        ok(homes[code], "trust", "install", str(first))
        ok(homes[code], "trust", "fetch")
    for code in regions:
        world.daemons[code].start()
    # The first daemons started before the others listened, so their first fetches of each
    # other's CRLs failed; each refresh thread tries again every second (refresh_seconds).
    time.sleep(2.5)
    return world


def running_world(base: Path, **options: Any) -> Iterator[World]:
    """build_world, then stop every daemon at the end."""
    world = build_world(base, **options)
    try:
        yield world
    finally:
        world.stop()


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Poll until `condition()` is truthy; its value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s (last: {last!r})")
