"""Where certlib keeps its state and how it reaches its HSM.

The state directory (`CERTLIB_HOME`, default `$XDG_DATA_HOME/certlib`, i.e.
`~/.local/share/certlib`) holds `certlib.toml`, the embedded SoftHSM2 token under
`softhsm/` and, later, the SQLite store. Environment variables override the file:

| variable | meaning |
| --- | --- |
| `CERTLIB_HOME` | the state directory |
| `CERTLIB_HSM_MODULE` | PKCS#11 module path; unset means the embedded SoftHSM2 token |
| `CERTLIB_HSM_TOKEN_LABEL` | token label (default `certlib`) |
| `CERTLIB_HSM_PIN` | user PIN, for production tokens |
| `CERTLIB_HSM_PIN_FILE` | file holding the user PIN, mode 0600 |
| `CERTLIB_DATABASE_URL` | SQLAlchemy URL of the store; default SQLite `<home>/certlib.db` |

PINs are never accepted on the command line and never logged.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from certlib.errors import ConfigurationError

CONFIG_FILE = "certlib.toml"
_DEFAULT_CONFIG = """\
# certlib configuration. Environment variables CERTLIB_* override these settings.

[hsm]
# PKCS#11 module of a production HSM. Leave unset to use the embedded SoftHSM2
# token that certlib creates in <home>/softhsm on first use.
# module = "/opt/vendor/lib/libpkcs11.so"
token_label = "certlib"
# File holding the user PIN (mode 0600), or set CERTLIB_HSM_PIN instead.
# pin_file = "/etc/certlib/hsm.pin"

[store]
# SQLAlchemy database URL. Unset: SQLite in <home>/certlib.db.
# url = "postgresql+psycopg2://certlib@db.example/certlib"

[types]
# USCC of the body that defines local certificate-type codes (where no national code
# is known). Certificate-type files can also be dropped into <home>/types/.
# local_authority = "11630000MB0000000X"
"""


def default_home() -> Path:
    """`$CERTLIB_HOME`, else `$XDG_DATA_HOME/certlib`, else `~/.local/share/certlib`."""
    if os.environ.get("CERTLIB_HOME"):
        return Path(os.environ["CERTLIB_HOME"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "certlib"


@dataclass(frozen=True)
class HsmSettings:
    """How to reach the HSM; `module` None means the embedded SoftHSM2 token."""

    module: str | None = None
    token_label: str = "certlib"  # noqa: S105 - a label, not a secret
    pin_file: Path | None = None
    pin: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """All of certlib's settings for one state directory."""

    home: Path
    hsm: HsmSettings
    database_url: str
    types_directory: Path
    """Where administrators drop extra certificate-type files."""
    local_type_authority: str | None = None
    """USCC of the body that defines this platform's local certificate-type codes."""

    @property
    def softhsm_directory(self) -> Path:
        """Where the embedded SoftHSM2 token lives."""
        return self.home / "softhsm"

    @property
    def admin_lock(self) -> Path:
        """The lock file that serialises key lifecycle changes."""
        return self.home / "keys.lock"


def load_settings(home: Path | str | None = None) -> Settings:
    """Read `<home>/certlib.toml` (written with defaults on first use) plus the environment."""
    directory = Path(home).expanduser() if home is not None else default_home()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        config_file = directory / CONFIG_FILE
        if not config_file.exists():
            config_file.write_text(_DEFAULT_CONFIG)
        document = tomllib.loads(config_file.read_text())
    except OSError as error:
        raise ConfigurationError(f"cannot use the state directory {directory}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{directory / CONFIG_FILE} is not valid TOML: {error}") from None
    section = document.get("hsm", {})
    store = document.get("store", {})
    if not isinstance(section, dict) or not isinstance(store, dict):
        raise ConfigurationError("[hsm] and [store] in certlib.toml must be tables")
    database_url = os.environ.get("CERTLIB_DATABASE_URL") or store.get(
        "url", f"sqlite:///{directory / 'certlib.db'}"
    )
    if not isinstance(database_url, str):
        raise ConfigurationError("[store] url must be a string")
    module = os.environ.get("CERTLIB_HSM_MODULE") or section.get("module")
    label = os.environ.get("CERTLIB_HSM_TOKEN_LABEL") or section.get("token_label", "certlib")
    pin_file = os.environ.get("CERTLIB_HSM_PIN_FILE") or section.get("pin_file")
    if "pin" in section:
        raise ConfigurationError(
            "certlib.toml must not hold a PIN; use pin_file (mode 0600) or CERTLIB_HSM_PIN"
        )
    for key, value in (("module", module), ("token_label", label), ("pin_file", pin_file)):
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"[hsm] {key} must be a string")
    return Settings(
        home=directory,
        hsm=HsmSettings(
            module=module,
            token_label=label,
            pin_file=Path(pin_file).expanduser() if pin_file else None,
            pin=os.environ.get("CERTLIB_HSM_PIN") or None,
        ),
        database_url=database_url,
        types_directory=directory / "types",
        local_type_authority=_optional_text(document.get("types", {}), "local_authority"),
    )


def _optional_text(section: object, key: str) -> str | None:
    if not isinstance(section, dict):
        raise ConfigurationError("sections of certlib.toml must be tables")
    value = section.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{key} must be a string")
    return value
