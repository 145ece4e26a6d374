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
    """Write a backup of the whole cadastre (register, applications, accounts, audit) to FILE, and
    the archive's scans to the folder FILE.files."""
    from portal.archive.backup import back_up_files, files_folder
    from portal.archive.service import Archive
    from portal.archive.store import FolderStore, StoreError
    from portal.platform.backup import BackupError, backup

    url = database_url(settings)
    store = Archive.from_settings(settings).store
    assert isinstance(store, FolderStore)
    try:
        size = backup(url, Path(file))
        files = back_up_files(url, store, files_folder(Path(file)))
    except (BackupError, StoreError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"backup written to {file} ({size:,} bytes) and {files:,} archive file(s) to "
               f"{files_folder(Path(file))}")
    _say_where_the_keys_are(settings)


def _say_where_the_keys_are(settings: Settings) -> None:
    from portal.accounts.security import SHEET_KEY_FILE, identity_key_places

    digest_key, seal_key = identity_key_places(settings.accounts, settings.database)
    click.echo(f"the identity keys are NOT in the backup: keep a copy of {digest_key} (identity digests: "
               f"verification, look-ups) and {seal_key} (the register's sealed identity numbers) apart from it; "
               "without them a restored register shows masked numbers only and matches no one")
    sheet = ("CADASTRE_SHEET_KEY (setting)" if settings.portal.sheet_key
             else str(settings.database.state_dir / SHEET_KEY_FILE))
    click.echo(f"the sheet key is NOT in the backup either: keep a copy of {sheet} (the check codes of printed "
               "parcel sheets' references); without it no sheet printed before verifies")


def _check_the_keys(settings: Settings, url: str) -> str | None:
    """Whether this installation's identity keys are those the restored register was recorded
    with (one party tried): "" when they are, None when there is nothing to try (no party, or a
    backup from before migration 0021), else what to do."""
    import psycopg

    from portal.accounts.security import identity_key_places, identity_keys, key_files, keys_open

    with psycopg.connect(url) as conn:
        try:
            row = conn.execute("SELECT id_document_digest, id_document_sealed, id_document_type FROM parties "
                               "WHERE end_lifespan IS NULL LIMIT 1").fetchone()
        except psycopg.errors.UndefinedColumn:
            return None  # a backup from before migration 0021 keeps the numbers as they were
    if row is None:
        return None
    missing = [str(path) for path in key_files(settings.accounts, settings.portal.sheet_key, settings.database)
               if not path.exists()]
    if missing:  # never made here: a new key would not open the restored register's numbers
        return (f"the key file(s) {', '.join(missing)} are missing: put the installation's key files (or "
                "settings) in place before serving it, or its identity numbers cannot be matched or opened")
    if keys_open(identity_keys(settings.accounts, settings.database), bytes(row[0]), bytes(row[1]), row[2]):
        return ""
    digest_key, seal_key = identity_key_places(settings.accounts, settings.database)
    return (f"the identity keys here ({digest_key}, {seal_key}) are not those the backup's register was recorded "
            "with: put the installation's key files (or settings) in place before serving it, or its identity "
            "numbers cannot be matched or opened")


@click.command(name="restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--into", "database", required=True, help="name of the NEW database to restore into")
@pass_settings
def restore_(settings: Settings, file: str, database: str) -> None:
    """Restore a backup FILE into a new database on the same server (never over a live one), and
    its archive files (FILE.files) into the file store, every file checked against its hash."""
    from portal.archive.backup import check_backup_files, files_folder, missing_files, restore_files
    from portal.archive.service import Archive
    from portal.archive.store import FolderStore, StoreError
    from portal.platform.backup import BackupError, restore

    store = Archive.from_settings(settings).store
    assert isinstance(store, FolderStore)
    try:
        check_backup_files(files_folder(Path(file)))  # a damaged backup is refused before anything is restored
        url = restore(database_url(settings), Path(file), database)
        files = restore_files(files_folder(Path(file)), store)
        missing = missing_files(url, store)
    except (BackupError, StoreError) as error:
        raise click.ClickException(str(error)) from error
    if missing:
        raise click.ClickException(f"restored into database {database}, but {len(missing)} archive file(s) it names "
                                   f"are missing or altered: {', '.join(missing[:10])}")
    click.echo(f"restored into database {database} and {files:,} archive file(s), every hash checked; point "
               "CADASTRE_DATABASE (or DATABASE_URL) at it to use it")
    problem = _check_the_keys(settings, url)
    if problem:
        click.echo(f"warning: {problem}", err=True)
    elif problem == "":
        click.echo("the identity keys here open the restored register's identity numbers")
