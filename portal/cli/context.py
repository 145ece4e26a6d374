"""What every command is handed: the `Settings` the `cadastre` group built once (click's
context `obj`), and the database URL resolved from them when a command needs it."""

from __future__ import annotations

import click
import psycopg

from portal.accounts.key_check import KeyUnusable, StartKeys, check_keys
from portal.platform.cluster import ClusterError
from portal.platform.db import resolve_url
from portal.settings import Settings

__all__ = ["pass_settings", "database_url", "checked_keys"]

pass_settings = click.make_pass_decorator(Settings)


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the managed cluster's (started when needed); a cluster problem is a
    command-line error with the cluster's own advice, not a traceback."""
    try:
        return resolve_url(settings.database)
    except ClusterError as error:
        raise click.ClickException(str(error)) from error


def checked_keys(settings: Settings, conn: psycopg.Connection, *, try_party: bool = True) -> StartKeys:
    """The keys outside the database, checked before a command reads or seals identity numbers
    (`portal.accounts.key_check`: no key made for a register that has parties, and the keys must
    open them); a refusal is one line."""
    try:
        return check_keys(conn, settings, try_party=try_party)
    except KeyUnusable as error:
        raise click.ClickException(str(error)) from None
