"""Settings: the state directory, the configuration file, PIN handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from certlib.config import load_settings
from certlib.errors import ConfigurationError, HsmUnavailableError
from certlib.keys import token_config


def test_first_use_writes_a_documented_default(tmp_path: Path) -> None:
    """A new home gets certlib.toml with the embedded SoftHSM2 default."""
    settings = load_settings(tmp_path / "home")
    assert settings.hsm.module is None and settings.hsm.token_label == "certlib"
    assert "[hsm]" in (tmp_path / "home" / "certlib.toml").read_text()


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CERTLIB_HSM_* variables win over certlib.toml."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "certlib.toml").write_text('[hsm]\nmodule = "/a.so"\ntoken_label = "file"\n')
    monkeypatch.setenv("CERTLIB_HSM_TOKEN_LABEL", "env")
    settings = load_settings(home)
    assert (settings.hsm.module, settings.hsm.token_label) == ("/a.so", "env")


def test_a_pin_in_the_file_is_refused(tmp_path: Path) -> None:
    """PINs never live in certlib.toml."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "certlib.toml").write_text('[hsm]\nmodule = "/a.so"\npin = "1234"\n')
    with pytest.raises(ConfigurationError) as raised:
        load_settings(home)
    assert "1234" not in str(raised.value)


def test_bad_toml_is_a_configuration_error(tmp_path: Path) -> None:
    """A broken file is reported as such."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "certlib.toml").write_text("[hsm\n")
    with pytest.raises(ConfigurationError):
        load_settings(home)


def test_production_module_needs_a_private_pin_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured module without a PIN, or with a shared PIN file, is refused."""
    monkeypatch.setenv("CERTLIB_HSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
    monkeypatch.delenv("CERTLIB_HSM_PIN", raising=False)
    with pytest.raises(ConfigurationError):
        token_config(load_settings(tmp_path / "a"))
    pin_file = tmp_path / "pin"
    pin_file.write_text("secret-pin\n")
    pin_file.chmod(0o640)
    monkeypatch.setenv("CERTLIB_HSM_PIN_FILE", str(pin_file))
    with pytest.raises(HsmUnavailableError) as raised:
        token_config(load_settings(tmp_path / "b"))
    assert "secret-pin" not in str(raised.value)
    pin_file.chmod(0o600)
    config = token_config(load_settings(tmp_path / "c"))
    assert config.pin == "secret-pin" and "secret-pin" not in repr(config)
