"""`cadastre keys new-sheet-key`: the one key file an operator may make on a register that has
parties (portal.accounts.key_check refuses to make any key then)."""

from __future__ import annotations

import click

from portal.cli.context import pass_settings
from portal.settings import Settings

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """The keys outside the database (docs/security.md, "Identity numbers in the register")."""


@keys.command(name="new-sheet-key")
@pass_settings
def new_sheet_key_command(settings: Settings) -> None:
    """Make <state_dir>/sheet.key when it is lost for good or never existed: parcel sheets printed
    under an earlier key no longer verify. The identity keys have no such command: a lost one is
    restored, never replaced."""
    from portal.accounts.key_check import KeyUnusable, new_sheet_key

    try:
        path = new_sheet_key(settings)
    except KeyUnusable as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"new sheet key written to {path} (mode 0600): keep a copy apart from the backups; sheets printed "
               "under an earlier key no longer verify")
