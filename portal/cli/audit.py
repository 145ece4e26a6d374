"""`cadastre audit verify|export|grant-app-role`: verify the audit chain, export it, and set up
the least-privilege database role."""

from __future__ import annotations

import sys

import click
import psycopg

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """The audit trail: verify the hash chain, export, least-privilege role."""


@audit.command()
@pass_settings
def verify(settings: Settings) -> None:
    """Recompute the hash chain; exit 1 and name the rows if any was altered, removed or inserted."""
    from portal.audit.trail import verify_chain

    with psycopg.connect(database_url(settings)) as conn:
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
@pass_settings
def export(settings: Settings, since: str | None, until: str | None, action: str | None) -> None:
    """Write the audit log (newest first) as CSV to standard output."""
    from portal.audit.trail import search, to_csv

    filters = {"since": since, "until": until, "action": action}
    with psycopg.connect(database_url(settings)) as conn:
        click.echo(to_csv(search(conn, filters, limit=None)), nl=False)


@audit.command(name="grant-app-role")
@click.argument("role")
@click.option("--password", default=None, help="create the role with LOGIN and this password if missing")
@pass_settings
def grant_app_role_command(settings: Settings, role: str, password: str | None) -> None:
    """Grant ROLE what the portal needs; it cannot update, delete or truncate audit rows.

    Point DATABASE_URL at this role to run the portal with least privilege.
    """
    from portal.audit.trail import create_login_role, grant_app_role, role_exists

    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        if not role_exists(conn, role):
            if not password:
                raise click.ClickException(f"role {role} does not exist: give --password to create it")
            create_login_role(conn, role, password)
        grant_app_role(conn, role)
    click.echo(f"{role} may read and append the audit log, never change it")
