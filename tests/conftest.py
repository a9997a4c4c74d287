"""Shared fixtures: the external test data, one real SoftHSM2 token per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certlib.config import Settings, load_settings
from certlib.keys import CertlibKeyStore, open_keystore

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def testdata_root() -> Path:
    """`$CERTLIB_TESTDATA`, default `../shared/testdata` next to the project."""
    configured = os.environ.get("CERTLIB_TESTDATA")
    return Path(configured) if configured else PROJECT_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared test corpora; skipped with a reason where absent (fatal under CI)."""
    root = testdata_root()
    if not root.is_dir():
        reason = f"external test data not found at {root} (set CERTLIB_TESTDATA)"
        if os.environ.get("CERTLIB_REQUIRE_TESTDATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory with its own SoftHSM2 token, shared by the whole run."""
    directory = tmp_path_factory.mktemp("certlib-home")
    os.environ["CERTLIB_HOME"] = str(directory)
    return directory


@pytest.fixture(scope="session")
def settings(home: Path) -> Settings:
    """Settings of the test state directory."""
    return load_settings(home)


@pytest.fixture(scope="session")
def keystore(settings: Settings) -> Iterator[CertlibKeyStore]:
    """The key store on the test run's SoftHSM2 token."""
    store = open_keystore(settings)
    yield store
    store.close()


@pytest.fixture
def key_name() -> str:
    """A key name no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"
