"""Persistent state: SQLAlchemy Core over SQLite (default) or PostgreSQL, Alembic migrations."""

from certlib.store.db import Store, next_counter

__all__ = ["Store", "next_counter"]
