"""certd settings: `[daemon]` in `<home>/certlib.toml`, overridden by `CERTD_*` variables.

| setting | variable | default |
| --- | --- | --- |
| `listen` | `CERTD_LISTEN` | `127.0.0.1:7443` (mutual TLS, every service) |
| `health_listen` | `CERTD_HEALTH_LISTEN` | `127.0.0.1:7444` (plaintext, health only) |
| `metrics_listen` | `CERTD_METRICS_LISTEN` | `127.0.0.1:9464` (Prometheus) |
| `workers` | `CERTD_WORKERS` | one per core |
| `grace_seconds` | `CERTD_GRACE_SECONDS` | 10 |
| `max_message_bytes` | - | 4 MiB |
| `max_batch` | - | 1000 items per batch call or stream message |
| `threads_per_worker` | - | 16 |
| `log_level` | `CERTD_LOG_LEVEL` | `INFO` |

An optional `[oidc]` table in the same file configures how HolderService checks holders'
bearer tokens (`certlib.oidc.OidcSettings.from_mapping`, docs/oidc.md); without it the
holder methods answer FAILED_PRECONDITION (`OIDC_NOT_CONFIGURED`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from certlib.config import CONFIG_FILE, Settings, load_settings
from certlib.errors import ConfigurationError
from certlib.oidc import OidcSettings


@dataclass(frozen=True)
class FederationSettings:
    """`[federation]` in certlib.toml."""

    refresh_seconds: float = 60.0
    """How often trust lists and other regions' CRLs are fetched."""
    peer_client: str = "operator"
    """TLS client files `<home>/tls/clients/<name>.pem|.key` this daemon calls peers with."""
    peer_timeout_seconds: float = 3.0
    status_refresh_seconds: float = 60.0
    """A foreign status list is fetched again after this (its validUntil still bounds it)."""
    status_online: bool = False
    """Ask the issuing region's daemon first (a revocation there is seen at once)."""
    status_list_lifetime_seconds: float = 3600.0
    """validUntil of this region's own status lists, after their thisUpdate."""
    ca_file: str | None = None
    """CA bundle for `https:` trust-list locations, if not in the system store."""

    @classmethod
    def from_mapping(cls, table: dict[str, object]) -> FederationSettings:
        """Read and check the `[federation]` table."""
        known = set(cls.__dataclass_fields__)
        unknown = set(table) - known
        if unknown:
            raise ConfigurationError(f"unknown [federation] settings: {', '.join(sorted(unknown))}")
        settings = cls(**table)  # type: ignore[arg-type]
        for name in ("refresh_seconds", "peer_timeout_seconds", "status_refresh_seconds",
                     "status_list_lifetime_seconds"):
            value = getattr(settings, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"federation.{name} must be a positive number")
        return settings


@dataclass(frozen=True)
class DaemonConfig:
    """How certd listens and runs."""

    settings: Settings
    listen: str = "127.0.0.1:7443"
    health_listen: str | None = "127.0.0.1:7444"
    metrics_listen: str | None = "127.0.0.1:9464"
    workers: int = max(1, os.cpu_count() or 1)
    grace_seconds: float = 10.0
    max_message_bytes: int = 4 << 20
    max_batch: int = 1000
    threads_per_worker: int = 16
    log_level: str = "INFO"
    oidc: OidcSettings | None = None
    """How holders' bearer tokens are checked (`[oidc]`); None: holder methods are off."""
    federation: FederationSettings = FederationSettings()
    """Other regions (`[federation]`): trust-list refresh, peer calls, status freshness."""

    @property
    def home(self) -> Path:
        """The state directory."""
        return self.settings.home

    @property
    def tls_directory(self) -> Path:
        """Server key and certificate, client CA bundle, issued client credentials."""
        return self.home / "tls"

    @property
    def policy_file(self) -> Path:
        """Roles of each department."""
        return self.home / "policy.toml"

    def with_overrides(self, **changes: Any) -> DaemonConfig:
        """A copy with some settings changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_daemon_config(home: Path | str | None = None) -> DaemonConfig:
    """The daemon settings of a state directory, then the environment."""
    settings = load_settings(home)
    try:
        document = tomllib.loads((settings.home / CONFIG_FILE).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"cannot read {CONFIG_FILE}: {error}") from None
    section = document.get("daemon", {})
    if not isinstance(section, dict):
        raise ConfigurationError("[daemon] in certlib.toml must be a table")
    known = {"listen", "health_listen", "metrics_listen", "workers", "grace_seconds",
             "max_message_bytes", "max_batch", "threads_per_worker", "log_level"}
    unknown = set(section) - known
    if unknown:
        raise ConfigurationError(f"unknown [daemon] settings: {', '.join(sorted(unknown))}")
    oidc = document.get("oidc")
    if oidc is not None and not isinstance(oidc, dict):
        raise ConfigurationError("[oidc] in certlib.toml must be a table")
    federation = document.get("federation", {})
    if not isinstance(federation, dict):
        raise ConfigurationError("[federation] in certlib.toml must be a table")
    config = DaemonConfig(settings=settings, **section,
                          oidc=OidcSettings.from_mapping(oidc) if oidc is not None else None,
                          federation=FederationSettings.from_mapping(federation))
    environment = {
        "listen": os.environ.get("CERTD_LISTEN"),
        "health_listen": os.environ.get("CERTD_HEALTH_LISTEN"),
        "metrics_listen": os.environ.get("CERTD_METRICS_LISTEN"),
        "workers": int(os.environ["CERTD_WORKERS"]) if os.environ.get("CERTD_WORKERS")
        else None,
        "grace_seconds": float(os.environ["CERTD_GRACE_SECONDS"])
        if os.environ.get("CERTD_GRACE_SECONDS") else None,
        "log_level": os.environ.get("CERTD_LOG_LEVEL"),
    }
    config = config.with_overrides(**environment)
    if config.workers < 1 or config.workers > 256:
        raise ConfigurationError("workers must be between 1 and 256")
    return config
