"""Shared fixtures: the external test data, one real SoftHSM2 token per test run."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from certlib.config import Settings, load_settings
from certlib.ids import uscc_with_check
from certlib.keys import CertlibKeyStore, open_keystore
from certlib.platform import Platform, open_platform
from tests.daemon_support import DAEMON_LOGS, RunningDaemon, launch
from tests.samples import PERSON_NUMBERS

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


# -- the e-certificate platform ------------------------------------------------------------


@dataclass(frozen=True)
class Departments:
    """Issuing departments of the test platform, one per signature algorithm."""

    by_algorithm: dict[str, str]
    """Algorithm name -> USCC of a department whose key uses it."""
    sm2_region_issuer: str
    """A department in region 620000, whose CAs are SM2 too."""
    limited: str
    """A department allowed to issue only the driving licence."""


@pytest.fixture(scope="session")
def platform(settings: Settings) -> Iterator[Platform]:
    """The platform of the test state directory (SQLite store, SoftHSM2 token)."""
    opened = open_platform(settings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def departments(platform: Platform) -> Departments:
    """Regions 630000 (ECDSA CAs) and 620000 (SM2 CAs) with a department per algorithm."""
    authority = platform.authority
    authority.init_region("630000", "青海省政务服务平台")
    authority.init_region("620000", "甘肃省政务服务平台", "sm2-sm3")
    all_codes = [certificate_type.code for certificate_type in platform.types]
    by_algorithm = {}
    for number, algorithm in enumerate(
            ("ecdsa-p256-sha256", "rsa-pss-sha256", "ed25519", "sm2-sm3"), start=1):
        uscc = uscc_with_check(f"1163000000000{number:03d}0")
        authority.add_issuer(uscc, f"青海省测试厅{number}", "630000", all_codes, algorithm)
        by_algorithm[algorithm] = uscc
    sm2_uscc = uscc_with_check("11620000000000010")
    authority.add_issuer(sm2_uscc, "甘肃省测试厅", "620000", all_codes, "sm2-sm3")
    limited = uscc_with_check("11630000000000090")
    authority.add_issuer(limited, "青海省公安厅交通管理局", "630000",
                         [platform.types.get("driving-licence").code])
    return Departments(by_algorithm, sm2_uscc, limited)


# -- personal data never reaches a log ----------------------------------------------------

_captured_logs = io.StringIO()


def pytest_configure(config: pytest.Config) -> None:
    """Record every log record of the run, at every level, to scan it at the end."""
    handler = logging.StreamHandler(_captured_logs)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a sample identity number appears in any log record."""
    text = _captured_logs.getvalue()
    for path in DAEMON_LOGS:
        with contextlib.suppress(OSError):
            text += path.read_text(errors="replace")
    leaked = [number for number in PERSON_NUMBERS if number in text or number.lower() in text]
    if leaked:
        session.config.stash[_LEAK_KEY] = len(leaked)
        print(f"\nPERSONAL DATA LEAK: {len(leaked)} sample identity number(s) in the logs")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        print(f"\nlog scan: {len(text)} characters of logs, no sample identity number in them")


_LEAK_KEY = pytest.StashKey[int]()


# -- databases: every store test runs on SQLite and on PostgreSQL ------------------------------

POSTGRES_ADMIN_URL = os.environ.get(
    "CERTLIB_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _postgres_database(name: str) -> str:
    """Create database `name` on the test server and return its URL (skip if unreachable)."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        reason = f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {error.orig}"
        if os.environ.get("CERTLIB_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: SQLite in a temporary file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'certlib.db'}"
        return
    name = f"certlib_test_{uuid.uuid4().hex[:12]}"
    url = _postgres_database(name)
    yield url
    _drop_postgres_database(name)


@pytest.fixture
def fresh_platform(settings: Settings, database_url: str) -> Iterator[Platform]:
    """A platform on the test token with its own, empty database (SQLite or PostgreSQL)."""
    opened = open_platform(replace(settings, database_url=database_url))
    yield opened
    opened.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def daemon(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """A real certd on 127.0.0.1 (2 workers) over SQLite, then over PostgreSQL."""
    home = tmp_path_factory.mktemp("certd-home")
    if request.param == "sqlite":
        yield from launch(home, f"sqlite:///{home / 'certlib.db'}")
        return
    name = f"certlib_daemon_{uuid.uuid4().hex[:12]}"
    url = _postgres_database(name)
    try:
        yield from launch(home, url)
    finally:
        _drop_postgres_database(name)
