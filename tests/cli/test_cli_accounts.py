"""`cadastre user add` and `cadastre audit grant-app-role` on a database of their own."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from click.testing import CliRunner

from portal.cli import main
from portal.platform import migrate


@pytest.fixture(scope="module")
def accounts_db(fresh_database) -> str:  # type: ignore[no-untyped-def]
    url = fresh_database()
    migrate.upgrade(url)
    return url


def test_user_add_creates_the_account_once(accounts_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", accounts_db)
    args = ["user", "add", "clerk.two", "--name", "Clerk Two", "--role", "court_clerk"]
    made = CliRunner().invoke(main, args, input="a long password\na long password\n")
    assert made.exit_code == 0, made.output
    assert "created clerk.two (court_clerk)" in made.output
    with psycopg.connect(accounts_db) as conn:
        assert conn.execute("SELECT display_name, roles FROM users WHERE username = 'clerk.two'").fetchone() == (
            "Clerk Two", ["court_clerk"])
    again = CliRunner().invoke(main, args, input="a long password\na long password\n")
    assert again.exit_code == 1 and "the username clerk.two is taken" in again.output
    short = CliRunner().invoke(main, ["user", "add", "x.y.z", "--name", "X"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output


def test_grant_app_role_quotes_the_role_name(accounts_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", accounts_db)
    role = f'app"; DROP TABLE parcels; --{secrets.token_hex(3)}'
    refused = CliRunner().invoke(main, ["audit", "grant-app-role", role])
    assert refused.exit_code == 1 and "give --password to create it" in refused.output
    try:
        made = CliRunner().invoke(main, ["audit", "grant-app-role", role, "--password", "p'; x"])
        assert made.exit_code == 0, made.output
        with psycopg.connect(accounts_db) as conn:
            assert conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (True,)
            assert conn.execute("SELECT to_regclass('parcels') IS NOT NULL").fetchone()[0]
    finally:
        with psycopg.connect(accounts_db, autocommit=True) as conn:
            ident = psycopg.sql.Identifier(role)
            conn.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(ident))
            conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(ident))


def test_user_add_is_the_operators_bootstrap_path(accounts_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's operator gives any role from the command line without a second administrator
    (docs/security.md, "Separation of duties"): no pending grant, the roles hold at once."""
    monkeypatch.setenv("DATABASE_URL", accounts_db)
    args = ["user", "add", "first.admin", "--name", "First Admin", "--role", "administrator", "--role", "auditor"]
    made = CliRunner().invoke(main, args, input="a long password\na long password\n")
    assert made.exit_code == 0, made.output
    with psycopg.connect(accounts_db) as conn:
        assert conn.execute("SELECT roles FROM users WHERE username = 'first.admin'").fetchone() == (
            ["administrator", "auditor"],)
        assert conn.execute("SELECT count(*) FROM role_grants").fetchone() == (0,)
