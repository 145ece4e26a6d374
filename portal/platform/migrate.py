"""Run the Alembic migrations in `migrations/` against a given database URL."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config

import migrations
from portal.platform import queries

__all__ = ["alembic_config", "upgrade", "downgrade", "current_revision", "head_revision"]


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(conn: psycopg.Connection) -> str | None:
    """The schema revision recorded in the database, or None before the first migration."""
    return queries.schema_revision(conn)
