"""`cadastre user add`: staff accounts from the command line."""

from __future__ import annotations

import asyncio

import click
import psycopg

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["user"]


@click.group()
def user() -> None:
    """Portal accounts: create staff accounts and set roles."""


@user.command(name="add")
@click.argument("username")
@click.option("--name", "display_name", required=True)
@click.option("--role", "roles", multiple=True, help="surveyor, registrar, court_clerk, auditor, administrator")
@click.option("--institution", default=None)
@click.password_option()
@pass_settings
def add_user(settings: Settings, username: str, display_name: str, roles: tuple[str, ...], institution: str | None,
             password: str) -> None:
    """Create an account (the password is asked for, never given on the command line).

    The operator's bootstrap path: the roles hold at once, with no second administrator (in the
    portal, a role that sees personal data waits for one; docs/security.md)."""
    from portal.accounts.security import hash_password
    from portal.accounts.service import USERNAME
    from portal.accounts.store import create_user

    if not USERNAME.match(username):
        raise click.ClickException("a username is 3-40 characters: a-z, 0-9, '.', '_' or '-'")
    if len(password) < 10:
        raise click.ClickException("a password has at least 10 characters")

    async def create(url: str) -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await create_user(conn, username, display_name, hash_password(settings.accounts, password),
                              list(roles), institution)
            await conn.commit()

    try:
        asyncio.run(create(database_url(settings)))
    except psycopg.errors.UniqueViolation as error:
        raise click.ClickException(f"the username {username} is taken") from error
    except psycopg.errors.CheckViolation as error:
        raise click.ClickException(f"refused: {error.diag.message_primary}") from error
    click.echo(f"created {username} ({', '.join(roles) or 'no staff role'})")
