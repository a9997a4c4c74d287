"""Verification answers: an indication, a sub-indication and every check that led there.

Indications and sub-indications follow ETSI EN 319 102-1. An answer is PASSED only when
every required check passed; anything unknown is INDETERMINATE, never PASSED.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Indication(enum.Enum):
    """The overall answer."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(enum.Enum):
    """Why an answer is FAILED or INDETERMINATE (ETSI EN 319 102-1 names, plus two of ours)."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    GENERIC = "GENERIC"
    SUSPENDED = "SUSPENDED"
    """certlib: the certificate is suspended (on hold); it may be resumed later."""
    NOT_AUTHORISED = "NOT_AUTHORISED"
    """certlib: the signer may not issue this type of certificate in this region."""


class CheckResult(enum.Enum):
    """The outcome of one check."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Check:
    """One step of a verification: what was checked and how it came out."""

    name: str
    result: CheckResult
    detail: str = ""
    sub_indication: SubIndication | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "name": self.name,
            "result": self.result.value,
            "detail": self.detail,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
        }


@dataclass
class ValidationReport:
    """The full answer of a verification."""

    indication: Indication
    sub_indication: SubIndication | None
    checks: list[Check]
    validation_time: datetime
    subject: dict[str, Any] = field(default_factory=dict)
    """What was verified: identifier, type, issuer, validity (no personal data)."""
    disclosed: dict[str, str] = field(default_factory=dict)
    """The disclosed fields whose digests matched (personal data: never logged)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True only for PASSED."""
        return self.indication is Indication.PASSED

    def to_dict(self, include_disclosed: bool = True) -> dict[str, Any]:
        """Plain data for JSON; `include_disclosed=False` drops the field values."""
        return {
            "indication": self.indication.value,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
            "validation_time": self.validation_time.isoformat(),
            "subject": self.subject,
            "checks": [check.to_dict() for check in self.checks],
            "disclosed": dict(self.disclosed) if include_disclosed else sorted(self.disclosed),
            "warnings": list(self.warnings),
        }

    def __repr__(self) -> str:
        sub = f"/{self.sub_indication.value}" if self.sub_indication else ""
        return (f"ValidationReport({self.indication.value}{sub}, "
                f"{len(self.checks)} checks, disclosed={sorted(self.disclosed)})")

    __str__ = __repr__


class ReportBuilder:
    """Collects checks; the first failure or doubt decides the answer."""

    def __init__(self, validation_time: datetime) -> None:
        self.validation_time = validation_time
        self.checks: list[Check] = []
        self.subject: dict[str, Any] = {}
        self.disclosed: dict[str, str] = {}
        self.warnings: list[str] = []

    def passed(self, name: str, detail: str = "") -> None:
        """Record a passed check."""
        self.checks.append(Check(name, CheckResult.PASSED, detail))

    def failed(self, name: str, sub_indication: SubIndication, detail: str) -> None:
        """Record a failed check."""
        self.checks.append(Check(name, CheckResult.FAILED, detail, sub_indication))

    def indeterminate(self, name: str, sub_indication: SubIndication, detail: str) -> None:
        """Record a check that could not be decided."""
        self.checks.append(Check(name, CheckResult.INDETERMINATE, detail, sub_indication))

    def skipped(self, name: str, detail: str) -> None:
        """Record a check that does not apply."""
        self.checks.append(Check(name, CheckResult.SKIPPED, detail))

    @property
    def failing(self) -> bool:
        """Whether a check has failed or is undecided, so later checks may stop."""
        return any(c.result in (CheckResult.FAILED, CheckResult.INDETERMINATE)
                   for c in self.checks)

    def build(self) -> ValidationReport:
        """The report: FAILED if any check failed, else INDETERMINATE if any was undecided."""
        indication, sub = Indication.PASSED, None
        for check in self.checks:
            if check.result is CheckResult.FAILED:
                indication, sub = Indication.FAILED, check.sub_indication
                break
        else:
            for check in self.checks:
                if check.result is CheckResult.INDETERMINATE:
                    indication, sub = Indication.INDETERMINATE, check.sub_indication
                    break
        if indication is Indication.PASSED and not self.checks:
            indication, sub = Indication.INDETERMINATE, SubIndication.GENERIC
        return ValidationReport(
            indication=indication,
            sub_indication=sub,
            checks=list(self.checks),
            validation_time=self.validation_time,
            subject=dict(self.subject),
            disclosed=dict(self.disclosed) if indication is Indication.PASSED else {},
            warnings=list(self.warnings),
        )
