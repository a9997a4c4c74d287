"""Malformed input: only certlib errors or FORMAT_FAILURE reports, within a time bound."""

from __future__ import annotations

import contextlib
import random
import time
import zlib
from pathlib import Path

import base45
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlib import cms
from certlib.errors import CertlibError, MalformedInput
from certlib.platform import Platform
from certlib.present import from_qr_text, load_certificate, load_presentation, present
from certlib.report import Indication, SubIndication
from certlib.verify import Verifier
from tests.conftest import Departments
from tests.samples import SAMPLES

TIME_BOUND = 2.0
FIXTURES_OK = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def verifier(platform: Platform, departments: Departments) -> Verifier:
    """A verifier trusting the test platform."""
    return platform.verifier()


@pytest.fixture(scope="module")
def genuine(platform: Platform, departments: Departments) -> bytes:
    """A valid resident ID card certificate."""
    return platform.office.issue(issuer_uscc=departments.by_algorithm["ecdsa-p256-sha256"],
                                 type_id="resident-id-card",
                                 data=SAMPLES["resident-id-card"]).der


def _timed_verify(verifier: Verifier, data: bytes | str) -> tuple[Indication, float]:
    start = time.monotonic()
    report = verifier.verify(data)
    return report.indication, time.monotonic() - start


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURES_OK)
@given(data=st.binary(max_size=4096))
def test_random_bytes(verifier: Verifier, data: bytes) -> None:
    """Random bytes: FAILED / FORMAT_FAILURE, quickly."""
    report = verifier.verify(data)
    assert (report.indication, report.sub_indication) == (Indication.FAILED,
                                                          SubIndication.FORMAT_FAILURE)


def test_every_truncation(verifier: Verifier, genuine: bytes) -> None:
    """Any prefix of a valid certificate is rejected as malformed."""
    for length in range(0, len(genuine), 7):
        indication, elapsed = _timed_verify(verifier, genuine[:length])
        assert indication is Indication.FAILED and elapsed < TIME_BOUND


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURES_OK)
@given(offset=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_bit_flips_never_pass_altered_data(verifier: Verifier, genuine: bytes, offset: int,
                                          mask: int) -> None:
    """A flipped byte either fails, or passes with exactly the genuine values (unsigned
    bytes such as a duplicate CA certificate), never with altered data."""
    original = verifier.verify(genuine)
    position = offset % len(genuine)
    flipped = genuine[:position] + bytes([genuine[position] ^ mask]) + genuine[position + 1:]
    report = verifier.verify(flipped)
    if report.passed:
        assert report.disclosed == original.disclosed
        assert report.subject == original.subject


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
def test_deep_nesting(verifier: Verifier, depth: int) -> None:
    """Deeply nested SEQUENCEs (indefinite and definite) are refused quickly."""
    indefinite = b"\x30\x80" * depth + b"\x00\x00" * depth
    indication, elapsed = _timed_verify(verifier, indefinite)
    assert indication is Indication.FAILED and elapsed < TIME_BOUND
    nested = b"\x05\x00"
    for _ in range(min(depth, 20_000)):
        nested = b"\x30\x84" + len(nested).to_bytes(4, "big") + nested
    indication, elapsed = _timed_verify(verifier, nested)
    assert indication is Indication.FAILED and elapsed < TIME_BOUND


def test_huge_input_is_refused_before_parsing(verifier: Verifier, genuine: bytes) -> None:
    """A multi-megabyte input is refused by size."""
    with pytest.raises(MalformedInput):
        load_certificate(genuine + b"\x00" * (5 << 20))
    indication, elapsed = _timed_verify(verifier, genuine * 3000)
    assert indication is Indication.FAILED and elapsed < TIME_BOUND


def test_qr_text_garbage_and_zip_bombs() -> None:
    """Bad prefixes, bad base45, bad zlib and inflation bombs raise MalformedInput quickly."""
    bomb = "EC1:" + base45.b45encode(zlib.compress(b"\x00" * (64 << 20), 9)).decode()
    for text in ("", "EC2:ABC", "EC1:", "EC1:%%%%", "EC1:" + base45.b45encode(b"junk").decode(),
                 bomb):
        start = time.monotonic()
        with pytest.raises(MalformedInput):
            from_qr_text(text)
        assert time.monotonic() - start < TIME_BOUND


def test_presentation_functions_reject_garbage(genuine: bytes) -> None:
    """present/load refuse wrong shapes with certlib errors."""
    for junk in (b"", b"\x30\x00", genuine[:-1], genuine + b"\x00"):
        with pytest.raises(CertlibError):
            present(junk, ["name"])
    with pytest.raises(CertlibError):
        present(genuine, ["no_such_field"])
    with pytest.raises(MalformedInput):
        load_presentation(genuine)


def _corpus(testdata: Path) -> list[Path]:
    roots = [testdata / "asn1" / "boringssl-fuzz-corpora", testdata / "cms",
             testdata / "asn1" / "cryptography-x509-custom"]
    files = [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]
    random.Random(7).shuffle(files)
    return files


def test_fuzz_corpora_only_raise_certlib_errors(testdata: Path, verifier: Verifier) -> None:
    """Third-party malformed DER and CMS: cms.parse raises only MalformedInput; verify
    answers FAILED or INDETERMINATE, never PASSED."""
    checked = 0
    for path in _corpus(testdata):
        data = path.read_bytes()
        start = time.monotonic()
        with contextlib.suppress(MalformedInput):
            cms.parse(data)
        report = verifier.verify(data)
        assert report.indication is not Indication.PASSED, path
        assert time.monotonic() - start < TIME_BOUND, path
        checked += 1
    assert checked > 1000
