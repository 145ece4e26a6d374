"""`cadastre client add|list|revoke`: machine clients, other departments' systems with their own
token and named scopes (portal.accounts.machine_clients)."""

from __future__ import annotations

import click
import psycopg

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["client"]


@click.group()
def client() -> None:
    """Machine clients: create, list and revoke other departments' credentials."""


@client.command(name="add")
@click.argument("name")
@click.option("--department", required=True, help="whose system it is, e.g. 市税务局")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="restriction_flags, ownership_for_tax or seizures_for_courts (repeat for more)")
@click.option("--per-minute", default=60, show_default=True, help="calls a minute before 429")
@pass_settings
def add(settings: Settings, name: str, department: str, scopes: tuple[str, ...], per_minute: int) -> None:
    """Create the client NAME and print its token (shown this once: only its digest is kept)."""
    from portal.accounts.machine_clients import audit_admin, create_client
    from portal.platform.errors import CadastreError

    with psycopg.connect(database_url(settings)) as conn:
        try:
            made, token = create_client(conn, name=name, department=department, scopes=list(scopes),
                                        per_minute=per_minute)
        except CadastreError as error:
            raise click.ClickException(str(error)) from error
        audit_admin(conn, "machine_client_created", made.name, None)
        conn.commit()
    click.echo(f"machine client {made.name} ({', '.join(made.scopes)}, {made.per_minute} a minute)")
    click.echo(f"token: {token}")


@client.command(name="list")
@pass_settings
def list_(settings: Settings) -> None:
    """List the machine clients, revoked ones included."""
    from portal.accounts.machine_clients import list_clients

    with psycopg.connect(database_url(settings)) as conn:
        for row in list_clients(conn):
            state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "active"
            click.echo(f"{row['name']:<24} {','.join(row['scopes']):<48} {row['per_minute']:>6}/min  {state}  "
                       f"{row['department']}")


@client.command(name="revoke")
@click.argument("name")
@pass_settings
def revoke(settings: Settings, name: str) -> None:
    """Revoke the client NAME: its token is refused from now on."""
    from portal.accounts.machine_clients import audit_admin, revoke_client
    from portal.platform.errors import CadastreError

    with psycopg.connect(database_url(settings)) as conn:
        try:
            revoke_client(conn, name)
        except CadastreError as error:
            raise click.ClickException(str(error)) from error
        audit_admin(conn, "machine_client_revoked", name, None)
        conn.commit()
    click.echo(f"machine client {name} revoked")
