"""`cadastre audit verify|anchor|public-key|export|grant-app-role`: verify the audit chain and its
anchors, anchor its head outside the database (run from cron or a systemd timer every few
minutes), print the anchors' public key, export the log, and set up the least-privilege role."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import psycopg
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.cli.context import database_url, pass_settings
from portal.settings import KeyFileUnreadable, Settings, read_key_file

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """The audit trail: verify the hash chain, export, least-privilege role."""


@audit.command()
@click.option("--public-key", "public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="the auditors' copy of the anchors' public key (PEM); default: the signing key's")
@pass_settings
def verify(settings: Settings, public_key_file: Path | None) -> None:
    """Recompute the hash chain and check every anchor; exit 1 and name the rows if any was altered,
    removed or inserted, or an anchor no longer matches."""
    from portal.audit.anchors import load_public_key, read_anchors, verify_anchors
    from portal.audit.trail import verify_chain

    anchor_path = settings.audit.anchor_path(settings.database)
    key_path = settings.audit.signing_key_path(settings.database)
    anchors, problems = read_anchors(anchor_path)
    with psycopg.connect(database_url(settings)) as conn:
        report = verify_chain(conn)
        problems = report.problems + problems
        if anchors:
            if public_key_file is not None:
                try:
                    public_key = load_public_key(read_key_file(public_key_file))
                except KeyFileUnreadable as error:
                    raise click.ClickException(str(error)) from None
                except (ValueError, TypeError, UnsupportedAlgorithm):
                    raise click.ClickException(f"{public_key_file} is not a PEM Ed25519 public key") from None
            elif key_path.exists():
                public_key = _signing_key(settings).public_key()
            else:
                raise click.ClickException(f"no key to check the anchors in {anchor_path}: give --public-key")
            problems += verify_anchors(conn, anchors, public_key)
    for problem in problems:
        click.echo(f"{problem.kind:>8}  {problem.message}")
    if not problems:
        click.echo(f"audit chain intact: {report.rows} rows, head at row {report.head_seq}")
        if anchors:
            click.echo(f"{len(anchors)} anchor(s) match, the last at row {anchors[-1].seq} ({anchors[-1].at})")
        else:
            click.echo(f"no anchors in {anchor_path}: run `cadastre audit anchor` every few minutes")
        return
    click.echo(f"audit chain BROKEN: {len(problems)} problem(s) in {report.rows} rows", err=True)
    sys.exit(1)


@audit.command()
@pass_settings
def anchor(settings: Settings) -> None:
    """Sign the chain head and append it to the anchor file (outside the database).

    Checks the rows since the last anchor first and refuses (exit 1) if they are not whole. Meant
    for cron or a systemd timer every few minutes; the key is generated on first use.
    """
    from portal.audit.anchors import AnchorRefused, write_anchor

    anchor_path = settings.audit.anchor_path(settings.database)
    key = _signing_key(settings)
    try:
        with psycopg.connect(database_url(settings)) as conn:
            written = write_anchor(conn, key, anchor_path)
    except AnchorRefused as refused:
        for problem in refused.problems:
            click.echo(f"{problem.kind:>8}  {problem.message}")
        click.echo("audit chain BROKEN since the last anchor: nothing anchored", err=True)
        sys.exit(1)
    click.echo(f"anchored row {written.seq} ({written.hash.hex()}) in {anchor_path}")


@audit.command(name="public-key")
@pass_settings
def public_key(settings: Settings) -> None:
    """Print the anchors' public key (PEM): keep a copy away from the database and its owner."""
    from portal.audit.anchors import public_key_pem

    click.echo(public_key_pem(_signing_key(settings)), nl=False)


def _signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The anchors' signing key, made only while the anchor file holds no anchor: a new key beside
    anchors signed with a lost one would leave them unverifiable. One line for a missing or
    malformed key, never a traceback."""
    from portal.audit.anchors import signing_key

    key_path = settings.audit.signing_key_path(settings.database)
    anchor_path = settings.audit.anchor_path(settings.database)
    if not key_path.exists() and anchor_path.exists() and anchor_path.read_text(errors="replace").strip():
        raise click.ClickException(f"the signing key {key_path} is missing but {anchor_path} holds anchors signed "
                                   "with it: restore it (no new key is made)")
    try:
        return signing_key(key_path)
    except KeyFileUnreadable as error:
        raise click.ClickException(str(error)) from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise click.ClickException(f"{key_path} is not a PEM Ed25519 private key ({error}): restore it") from None


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

    Point DATABASE_URL at this role to run the portal with least privilege (and
    CADASTRE_ADMIN_DATABASE_URL at the owner); grant again after each migration, which may add
    tables. The managed cluster creates and grants its own `cadastre_app`.
    """
    from portal.audit.trail import create_login_role, grant_app_role, role_exists

    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        if not role_exists(conn, role):
            if not password:
                raise click.ClickException(f"role {role} does not exist: give --password to create it")
            create_login_role(conn, role, password)
        grant_app_role(conn, role)
    click.echo(f"{role} may read and append the audit log, never change it")
