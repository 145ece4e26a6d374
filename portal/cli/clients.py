"""`cadastre client add|confirm|list|revoke`: machine clients, other departments' systems with
their own token and named scopes (portal.accounts.machine_clients). A client with a scope that
shows personal data is added in one administrator's name (`--as`) and works once another
administrator confirms it (`cadastre client confirm NAME --as OTHER`)."""

from __future__ import annotations

import click
import psycopg

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["client"]


@click.group()
def client() -> None:
    """Machine clients: create, list and revoke other departments' credentials."""


def _administrator(conn: psycopg.Connection, username: str) -> int:
    row = conn.execute("SELECT user_id, 'administrator' = ANY(roles), disabled_at IS NOT NULL FROM users "
                       "WHERE username = %s", (username,)).fetchone()
    conn.rollback()
    if row is None or not row[1] or row[2]:
        raise click.ClickException(f"{username!r} is not an active administrator")
    return int(row[0])


@client.command(name="add")
@click.argument("name")
@click.option("--department", required=True, help="whose system it is, e.g. 市税务局")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="restriction_flags, ownership_for_tax or seizures_for_courts (repeat for more)")
@click.option("--per-minute", default=60, show_default=True,
              help="calls a minute before 429 (at most CADASTRE_ACCOUNTS_MACHINE_CLIENT_MAX_PER_MINUTE, 600)")
@click.option("--as", "username", default=None,
              help="the administrator who creates it (required for ownership_for_tax and seizures_for_courts)")
@pass_settings
def add(settings: Settings, name: str, department: str, scopes: tuple[str, ...], per_minute: int,
        username: str | None) -> None:
    """Create the client NAME and print its token (shown this once: only its digest is kept)."""
    from portal.accounts.machine_clients import audit_admin, create_client
    from portal.platform.errors import CadastreError

    with psycopg.connect(database_url(settings)) as conn:
        admin = _administrator(conn, username) if username else None
        try:
            made, token = create_client(conn, name=name, department=department, scopes=list(scopes),
                                        per_minute=per_minute, created_by=admin,
                                        max_per_minute=settings.accounts.machine_client_max_per_minute)
        except CadastreError as error:
            raise click.ClickException(str(error)) from error
        audit_admin(conn, "machine_client_created", made.name, admin,
                    {"scopes": made.scopes, "per_minute": made.per_minute, "pending": made.pending})
        conn.commit()
    click.echo(f"machine client {made.name} ({', '.join(made.scopes)}, {made.per_minute} a minute)")
    click.echo(f"token: {token}")
    if made.pending:
        click.echo("pending: it sees personal data, so it works once another administrator runs "
                   f"`cadastre client confirm {made.name} --as OTHER_ADMINISTRATOR`")


@client.command(name="confirm")
@click.argument("name")
@click.option("--as", "username", required=True, help="the administrator who confirms (not the one who created it)")
@pass_settings
def confirm(settings: Settings, name: str, username: str) -> None:
    """Confirm the pending client NAME (a scope that shows personal data): its token works from now on."""
    from portal.accounts.machine_clients import SecondAdministrator, audit_admin, confirm_client
    from portal.platform.errors import CadastreError

    with psycopg.connect(database_url(settings)) as conn:
        admin = _administrator(conn, username)
        try:
            made = confirm_client(conn, name, confirmed_by=admin)
        except SecondAdministrator as error:
            conn.rollback()
            audit_admin(conn, "machine_client_confirmed", name, admin, {"rule": "second_administrator"},
                        outcome="refused")
            conn.commit()
            raise click.ClickException(str(error)) from error
        except CadastreError as error:
            raise click.ClickException(str(error)) from error
        audit_admin(conn, "machine_client_confirmed", name, admin, {"scopes": made.scopes})
        conn.commit()
    click.echo(f"machine client {name} confirmed: its token works from now on")


@client.command(name="list")
@pass_settings
def list_(settings: Settings) -> None:
    """List the machine clients, revoked ones included."""
    from portal.accounts.machine_clients import list_clients
    from portal.platform.clock import office_zone

    zone = office_zone(settings.portal.office_timezone)
    with psycopg.connect(database_url(settings)) as conn:
        for row in list_clients(conn):
            if row["revoked_at"]:
                state = f"revoked {row['revoked_at'].astimezone(zone):%Y-%m-%d %H:%M %Z}"
            else:
                state = "pending confirmation" if row["pending"] else "active"
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
