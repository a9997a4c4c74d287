"""Certificate status: where a certificate's status lives and how a verifier asks for it."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from certlib.store import Store
from certlib.store.schema import certificates

_LIST_URI = re.compile(r"urn:certlib:status:(\d{6}):([0-9A-Z]{18}):(\d{1,9})")


class CertificateStatus(enum.Enum):
    """A certificate's status as a status source knows it."""

    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StatusAnswer:
    """What a status source said, when, and where the answer came from."""

    status: CertificateStatus
    checked_at: datetime
    source: str
    changed_at: datetime | None = None
    detail: str = ""


class StatusSource(Protocol):
    """Anything that can tell a certificate's status from its status reference."""

    def status(self, list_uri: str, index: int, at: datetime) -> StatusAnswer:
        """The status of entry `index` of status list `list_uri`."""
        ...


def list_uri(region: str, issuer_uscc: str, list_id: int) -> str:
    """The status-list URI certlib writes into certificates."""
    return f"urn:certlib:status:{region}:{issuer_uscc}:{list_id}"


def parse_list_uri(uri: str) -> tuple[str, str, int] | None:
    """(region, issuer USCC, list id) of a certlib status-list URI, or None."""
    match = _LIST_URI.fullmatch(uri)
    return (match.group(1), match.group(2), int(match.group(3))) if match else None


class StoreStatusSource:
    """Status straight from the issuing platform's own store (online, authoritative)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._query = (  # built once: SQLAlchemy then reuses its compiled form
            sa.select(certificates.c.status, certificates.c.status_changed_at)
            .where((certificates.c.status_list_id == sa.bindparam("list_id"))
                   & (certificates.c.status_index == sa.bindparam("index"))
                   & (certificates.c.issuer_uscc == sa.bindparam("issuer"))))

    def status(self, list_uri: str, index: int, at: datetime) -> StatusAnswer:
        """The stored status of the certificate at (`list_uri`, `index`)."""
        parsed = parse_list_uri(list_uri)
        if parsed is None:
            return StatusAnswer(CertificateStatus.UNKNOWN, at, "store",
                                detail="not a status list of this platform")
        _, issuer_uscc, list_id = parsed
        with self.store.reading() as connection:
            row = connection.execute(self._query, {
                "list_id": list_id, "index": index, "issuer": issuer_uscc}).first()
        if row is None:
            return StatusAnswer(CertificateStatus.UNKNOWN, at, "store",
                                detail="no certificate at this status index")
        return StatusAnswer(CertificateStatus(row.status), at, "store", row.status_changed_at)
