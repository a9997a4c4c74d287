"""Bootstrap of a SoftHSM2 token inside a state directory, for development and tests.

The directory holds `softhsm2.conf`, the token files under `tokens/`, and the user
and security-officer PINs in files of mode 0600. PINs reach `pkcs11-tool` through its
environment (`env:` PIN sources), never through argv.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pkcs11

from hsm.errors import HsmUnavailable
from hsm.pins import read_pin_file, write_pin_file
from hsm.session import TokenConfig

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
_INITIALISED_MARKER = "token-initialised"


def find_module() -> str:
    """Path of the installed SoftHSM2 PKCS#11 module."""
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    raise HsmUnavailable(
        "SoftHSM2 is not installed (no libsofthsm2.so); install the Debian package softhsm2"
    )


def config_path(directory: Path) -> Path:
    """The softhsm2.conf of a token directory."""
    return directory / "softhsm2.conf"


def activate(directory: Path) -> None:
    """Point this process's SoftHSM2 at `directory`; must happen before the module loads."""
    wanted = str(config_path(directory))
    current = os.environ.get("SOFTHSM2_CONF")
    if current and current != wanted and _module_loaded():
        raise HsmUnavailable(
            "SoftHSM2 is already loaded in this process with another configuration; "
            "one SoftHSM2 state directory per process"
        )
    os.environ["SOFTHSM2_CONF"] = wanted


def _module_loaded() -> bool:
    return any("softhsm" in path for path in getattr(pkcs11, "_loaded", {}))


def ensure_token(directory: Path, label: str = "certlib", module: str | None = None) -> TokenConfig:
    """Create (once) a SoftHSM2 token in `directory` and return how to open it."""
    module = module or find_module()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tokens = directory / "tokens"
    tokens.mkdir(mode=0o700, exist_ok=True)
    conf = config_path(directory)
    if not conf.exists():
        conf.write_text(
            f"directories.tokendir = {tokens}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
    user_pin_file, so_pin_file = directory / "user.pin", directory / "so.pin"
    marker = directory / _INITIALISED_MARKER
    if not marker.exists():
        user_pin = _pin(user_pin_file)
        so_pin = _pin(so_pin_file)
        _init_token(module, conf, label, user_pin, so_pin)
        marker.write_text(label + "\n")
    activate(directory)
    return TokenConfig(module=module, token_label=label, pin=read_pin_file(user_pin_file))


def _pin(path: Path) -> str:
    if path.exists():
        return read_pin_file(path)
    pin = secrets.token_hex(16)
    write_pin_file(path, pin)
    return pin


def _init_token(module: str, conf: Path, label: str, user_pin: str, so_pin: str) -> None:
    tool = shutil.which("pkcs11-tool")
    if tool is None:
        raise HsmUnavailable("pkcs11-tool is missing; install the Debian package opensc")
    env = {
        **os.environ,
        "SOFTHSM2_CONF": str(conf),
        "CERTLIB_INIT_SO_PIN": so_pin,
        "CERTLIB_INIT_USER_PIN": user_pin,
    }
    steps = (
        [tool, "--module", module, "--init-token", "--label", label,
         "--so-pin", "env:CERTLIB_INIT_SO_PIN"],
        [tool, "--module", module, "--token-label", label, "--login", "--login-type", "so",
         "--so-pin", "env:CERTLIB_INIT_SO_PIN", "--init-pin", "--pin", "env:CERTLIB_INIT_USER_PIN"],
    )
    for command in steps:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise HsmUnavailable(
                f"initialising SoftHSM2 token {label!r} failed: "
                f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}"
            )
