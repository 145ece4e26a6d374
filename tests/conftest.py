"""Shared fixtures: databases on real PostGIS, migrated with Alembic, for every folder.

The server is DATABASE_URL's when set, else the project's managed cluster. Each session builds
its own demo cadastre once, as a template (`cadastre_test_<random>_template`: migrated to head,
demo district loaded), and never connects to it again; every database a test uses is a copy of it
(CREATE DATABASE ... TEMPLATE), so parallel runs never meet and the order of tests never matters:

- `database_url`: the session's shared copy, read-only. A write into it fails loudly
  (`default_transaction_read_only`); the `conn` fixture writes in a transaction that is always
  rolled back and cannot be committed.
- `writable_database`: a copy of the test's own, for a test that commits (dropped after it).
- `module_database`: a copy shared by one module's tests, for modules whose tests are written
  to tolerate each other's rows (dropped after the module).
- `fresh_database`: a factory of empty databases with PostGIS (migrations, other demo districts).

The folders mirror the code's rooms (tests/platform for portal/platform, tests/accounts for
portal/accounts...). Helpers shared by several folders live in tests/support, which is put on the
import path here; test modules are not packages, so their file names are unique across tests/.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

_SUPPORT = str(Path(__file__).resolve().parent / "support")
if _SUPPORT not in sys.path:
    sys.path.insert(0, _SUPPORT)

from databases import copy_database, create_database, drop_database, name_of  # noqa: E402

from portal.demo.loader import load_demo  # noqa: E402
from portal.platform import migrate  # noqa: E402
from portal.platform.db import resolve_url, with_database  # noqa: E402
from portal.settings import DatabaseSettings, Settings  # noqa: E402

# Fixtures that must be defined once for the whole tree (one Playwright at a time in a thread,
# one public server): `browser` (headless Chromium, per module) and `portal_url`, `http`,
# `visit`, `sample` (the public site on the shared read-only cadastre).
pytest_plugins = ["chromium", "public_site"]

# Accounts: a fixed identity key (no key file is written) and cheap argon2 for test speed. Keys are
# in the format every key must have (portal.settings.KEY_FORMAT: 32+ random bytes, hex or base64).
os.environ.setdefault("CADASTRE_ACCOUNTS_IDENTITY_KEY", "1de7" * 16)
# The seal key of the register's identity numbers (AES-256-GCM, 64 hex digits): fixed, no key file.
os.environ.setdefault("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY", "5eed" * 16)
os.environ.setdefault("CADASTRE_SHEET_KEY", "5ee7" * 16)  # the demo register has parties: no file made
os.environ.setdefault("CADASTRE_ACCOUNTS_PASSWORD_TIME_COST", "1")
os.environ.setdefault("CADASTRE_ACCOUNTS_PASSWORD_MEMORY_KIB", "8192")
os.environ.setdefault("CADASTRE_ACCOUNTS_COOKIE_SECURE", "false")
# Audit anchors: the session's own anchor file and signing key, never the project's (an anchor
# names one database's rows; tests make many databases).
_AUDIT_DIR = Path(tempfile.mkdtemp(prefix="cadastre-audit-"))
atexit.register(shutil.rmtree, _AUDIT_DIR, ignore_errors=True)
os.environ.setdefault("CADASTRE_AUDIT_ANCHOR_FILE", str(_AUDIT_DIR / "audit-anchors.log"))
os.environ.setdefault("CADASTRE_AUDIT_SIGNING_KEY_FILE", str(_AUDIT_DIR / "audit-signing.key"))

DEMO_PARCELS = 400
DEMO_SEED = 7


@pytest.fixture(scope="session")
def server_url() -> str:
    """A URL to the server's maintenance database (where databases are created)."""
    return with_database(resolve_url(DatabaseSettings()), "postgres")


@pytest.fixture(scope="session")
def fresh_database(server_url: str) -> Iterator[Callable[[], str]]:
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
def demo_template(server_url: str) -> Iterator[str]:
    """The session's cadastre, migrated to head with the demo district loaded (seeded, small):
    the template every test database is copied from. Nothing stays connected to it."""
    url = create_database(server_url)
    try:
        migrate.upgrade(url)
        load_demo(url, settings=Settings(), parcels=DEMO_PARCELS, seed=DEMO_SEED)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name_of(url)}" WITH IS_TEMPLATE true')
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name_of(url)}" WITH IS_TEMPLATE false')
        drop_database(server_url, url)


@pytest.fixture(scope="session")
def demo_copy(server_url: str, demo_template: str) -> Iterator[Callable[[], str]]:
    """A factory of writable copies of the demo cadastre; `drop(url)` drops one early, the rest
    are dropped when the session ends."""
    made: list[str] = []

    def make() -> str:
        url = copy_database(server_url, demo_template)
        made.append(url)
        return url

    yield make
    for url in made:
        drop_database(server_url, url)


@pytest.fixture(scope="session")
def database_url(server_url: str, demo_copy: Callable[[], str]) -> str:
    """The session's demo cadastre, shared by every test that only reads: read-only."""
    url = demo_copy()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name_of(url)}" SET default_transaction_read_only = on')
    return url


@pytest.fixture
def writable_database(server_url: str, demo_copy: Callable[[], str]) -> Iterator[str]:
    """A demo cadastre of this test's own, to commit into; dropped after the test."""
    url = demo_copy()
    yield url
    drop_database(server_url, url)


@pytest.fixture(scope="module")
def module_database(server_url: str, demo_copy: Callable[[], str]) -> Iterator[str]:
    """A demo cadastre shared by one module's tests, which tolerate each other's rows."""
    url = demo_copy()
    yield url
    drop_database(server_url, url)


class RollbackOnly(psycopg.Connection):  # type: ignore[type-arg]
    """A connection whose work is always rolled back: committing is a mistake in the test."""

    def commit(self) -> None:
        if self.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            return  # nothing to commit (the context manager's exit, after the rollback)
        raise AssertionError("the shared demo database is read-only: a test that commits takes "
                             "`writable_database` (or `module_database`)")


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the shared demo cadastre inside one read-write transaction that is always
    rolled back: write tests leave no trace. `with conn.transaction()` makes savepoints in it."""
    with RollbackOnly.connect(database_url) as connection:
        connection.execute("SET TRANSACTION READ WRITE")  # opens the transaction, read-write
        try:
            yield connection
        finally:
            connection.rollback()
