"""`cadastre backup` and `cadastre restore`: the whole cadastre with PostgreSQL's own tools."""

from __future__ import annotations

from pathlib import Path

import click

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["backup_", "restore_"]


@click.command(name="backup")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@pass_settings
def backup_(settings: Settings, file: str) -> None:
    """Write a backup of the whole cadastre (register, applications, accounts, audit) to FILE."""
    from portal.platform.backup import BackupError, backup

    try:
        size = backup(database_url(settings), Path(file))
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"backup written to {file} ({size:,} bytes)")


@click.command(name="restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--into", "database", required=True, help="name of the NEW database to restore into")
@pass_settings
def restore_(settings: Settings, file: str, database: str) -> None:
    """Restore a backup FILE into a new database on the same server (never over a live one)."""
    from portal.platform.backup import BackupError, restore

    try:
        restore(database_url(settings), Path(file), database)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"restored into database {database}; point CADASTRE_DATABASE (or DATABASE_URL) at it to use it")
