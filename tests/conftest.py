"""Shared fixtures: a fresh database per test session on real PostGIS, migrated with Alembic.

The server is DATABASE_URL's when set, else the project's managed cluster. Each session gets
its own database (`cadastre_test_<random>`), so parallel runs never meet, and drops it at the end.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

# Test helpers shared by every folder (file builders such as `spatial_factories`), in any import mode.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from portal.demo.loader import load_demo  # noqa: E402
from portal.platform import migrate  # noqa: E402
from portal.platform.db import resolve_url, with_database  # noqa: E402
from portal.settings import DatabaseSettings, Settings  # noqa: E402

# Accounts: a fixed identity key (no key file is written) and cheap argon2 for test speed.
os.environ.setdefault("CADASTRE_ACCOUNTS_IDENTITY_KEY", "test-identity-key")
os.environ.setdefault("CADASTRE_ACCOUNTS_PASSWORD_TIME_COST", "1")
os.environ.setdefault("CADASTRE_ACCOUNTS_PASSWORD_MEMORY_KIB", "8192")
os.environ.setdefault("CADASTRE_ACCOUNTS_COOKIE_SECURE", "false")

DEMO_PARCELS = 400
DEMO_SEED = 7


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL to the server's maintenance database (where databases are created)."""
    return with_database(resolve_url(DatabaseSettings()), "postgres")


def create_database(server_url: str, prefix: str = "cadastre_test") -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def drop_database(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fresh_database(server_url: str) -> Iterator[object]:
    """A factory of empty databases with PostGIS, dropped when the session ends."""
    made: list[str] = []

    def make() -> str:
        url = create_database(server_url)
        made.append(url)
        return url

    yield make
    for url in made:
        drop_database(server_url, url)


@pytest.fixture(scope="session")
def database_url(fresh_database) -> str:  # type: ignore[no-untyped-def]
    """The session's cadastre: migrated to head, demo district loaded (seeded, small)."""
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=DEMO_PARCELS, seed=DEMO_SEED)
    return url


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection inside a transaction that is always rolled back: write tests leave no trace."""
    with psycopg.connect(database_url) as connection:
        try:
            yield connection
        finally:
            connection.rollback()
