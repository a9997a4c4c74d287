"""Where a verifier keeps the trust lists in force: the `trust_lists` table of its store.

One row per scope (`national`, or a region code) holding the signed document as accepted.
Its version is the rollback floor; it survives restarts and is shared by every daemon on
the same database. Writers lock the national row first, so a region list is never stored
against a national list that changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from certlib.store.schema import trust_lists

NATIONAL = "national"
"""The scope of the national list."""


@dataclass(frozen=True)
class StoredList:
    """One list in force as the store holds it."""

    scope: str
    version: int
    digest: str
    document: bytes


def read_index(connection: Connection) -> dict[str, tuple[int, str]]:
    """(version, digest) of every list in force, by scope."""
    return {row.scope: (int(row.version), row.digest) for row in connection.execute(
        sa.select(trust_lists.c.scope, trust_lists.c.version, trust_lists.c.digest))}


def read_lists(connection: Connection, scopes: Iterable[str]) -> dict[str, StoredList]:
    """The stored lists of these scopes."""
    wanted = list(scopes)
    if not wanted:
        return {}
    rows = connection.execute(sa.select(trust_lists).where(trust_lists.c.scope.in_(wanted)))
    return {row.scope: StoredList(row.scope, int(row.version), row.digest, bytes(row.document))
            for row in rows}


def lock_national(connection: Connection) -> tuple[int, str] | None:
    """(version, digest) of the national list, its row locked until the transaction ends."""
    row = connection.execute(
        sa.select(trust_lists.c.version, trust_lists.c.digest)
        .where(trust_lists.c.scope == NATIONAL).with_for_update()).first()
    return None if row is None else (int(row.version), row.digest)


def region_version(connection: Connection, scope: str) -> tuple[int, str] | None:
    """(version, digest) of one stored list, if any."""
    row = connection.execute(
        sa.select(trust_lists.c.version, trust_lists.c.digest)
        .where(trust_lists.c.scope == scope)).first()
    return None if row is None else (int(row.version), row.digest)


def put(connection: Connection, scope: str, *, version: int, digest: str, issued: datetime,
        expires: datetime, document: bytes, now: datetime) -> None:
    """Store a list as the one in force for its scope."""
    values = {"version": version, "digest": digest, "issued": issued, "expires": expires,
              "document": document, "accepted_at": now}
    changed = connection.execute(
        sa.update(trust_lists).where(trust_lists.c.scope == scope).values(**values)).rowcount
    if not changed:
        connection.execute(sa.insert(trust_lists).values(scope=scope, **values))


def remove(connection: Connection, scopes: Iterable[str]) -> None:
    """Forget the lists of these scopes (and their rollback floors)."""
    wanted = list(scopes)
    if wanted:
        connection.execute(sa.delete(trust_lists).where(trust_lists.c.scope.in_(wanted)))
