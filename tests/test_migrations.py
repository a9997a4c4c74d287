"""The Alembic migrations build exactly the tables `certlib.store.schema` declares, on SQLite
and on PostgreSQL, and step back down cleanly."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from certlib.store import Store
from certlib.store.schema import metadata


def _differences(url: str) -> list[object]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_migrations_match_the_schema(database_url: str) -> None:
    """After `upgrade head` the database has every table, column and index the schema
    declares, and nothing else."""
    store = Store(database_url)
    try:
        store.migrate()
    finally:
        store.close()
    assert _differences(database_url) == []


def test_every_migration_steps_down(database_url: str) -> None:
    """`downgrade base` removes every table the migrations made."""
    store = Store(database_url)
    try:
        store.migrate()
        config = Config()
        config.set_main_option("script_location",
                               str(resources.files("certlib.store") / "migrations"))
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        inspector = sa.inspect(store.engine)
        assert set(inspector.get_table_names()) <= {"alembic_version"}
    finally:
        store.close()
