"""`cadastre audit ...` and `cadastre user ...`: verify the audit chain, export it, set up the
least-privilege database role, and manage staff accounts from the command line."""

from __future__ import annotations

import sys

import click
import psycopg

from portal.settings import AccountSettings

__all__ = ["audit", "user"]


def _url() -> str:
    from portal.cli import _database_url

    return _database_url()


@click.group()
def audit() -> None:
    """The audit trail: verify the hash chain, export, least-privilege role."""


@audit.command()
def verify() -> None:
    """Recompute the hash chain; exit 1 and name the rows if any was altered, removed or inserted."""
    from portal.audit.trail import verify_chain

    with psycopg.connect(_url()) as conn:
        report = verify_chain(conn)
    for problem in report.problems:
        click.echo(f"{problem.kind:>8}  {problem.message}")
    if report.intact:
        click.echo(f"audit chain intact: {report.rows} rows, head at row {report.head_seq}")
        return
    click.echo(f"audit chain BROKEN: {len(report.problems)} problem(s) in {report.rows} rows", err=True)
    sys.exit(1)


@audit.command()
@click.option("--since", default=None, help="ISO date or date-time")
@click.option("--until", default=None, help="ISO date or date-time")
@click.option("--action", default=None)
def export(since: str | None, until: str | None, action: str | None) -> None:
    """Write the audit log (newest first) as CSV to standard output."""
    from portal.audit.trail import search, to_csv

    filters = {"since": since, "until": until, "action": action}
    with psycopg.connect(_url()) as conn:
        click.echo(to_csv(search(conn, filters, limit=None)), nl=False)


@audit.command(name="grant-app-role")
@click.argument("role")
@click.option("--password", default=None, help="create the role with LOGIN and this password if missing")
def grant_app_role_command(role: str, password: str | None) -> None:
    """Grant ROLE what the portal needs; it cannot update, delete or truncate audit rows.

    Point DATABASE_URL at this role to run the portal with least privilege.
    """
    from psycopg import sql

    from portal.audit.trail import grant_app_role

    with psycopg.connect(_url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            if not password:
                raise click.ClickException(f"role {role} does not exist: give --password to create it")
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role),
                                                                           sql.Literal(password)))
        grant_app_role(conn, role)
    click.echo(f"{role} may read and append the audit log, never change it")


@click.group()
def user() -> None:
    """Portal accounts: create staff accounts and set roles."""


@user.command(name="add")
@click.argument("username")
@click.option("--name", "display_name", required=True)
@click.option("--role", "roles", multiple=True, help="surveyor, registrar, court_clerk, auditor, administrator")
@click.option("--institution", default=None)
@click.password_option()
def add_user(username: str, display_name: str, roles: tuple[str, ...], institution: str | None,
             password: str) -> None:
    """Create an account (the password is asked for, never given on the command line)."""
    from portal.accounts.security import hash_password
    from portal.accounts.service import USERNAME

    settings = AccountSettings()
    if not USERNAME.match(username):
        raise click.ClickException("a username is 3-40 characters: a-z, 0-9, '.', '_' or '-'")
    if len(password) < 10:
        raise click.ClickException("a password has at least 10 characters")
    with psycopg.connect(_url()) as conn:
        try:
            conn.execute("INSERT INTO users (username, display_name, password_hash, roles, institution) "
                         "VALUES (%s, %s, %s, %s, %s)",
                         (username, display_name, hash_password(settings, password), list(roles), institution))
        except psycopg.errors.UniqueViolation as error:
            raise click.ClickException(f"the username {username} is taken") from error
        except psycopg.errors.CheckViolation as error:
            raise click.ClickException(f"refused: {error.diag.message_primary}") from error
    click.echo(f"created {username} ({', '.join(roles) or 'no staff role'})")
