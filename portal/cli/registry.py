"""`cadastre registry expire`: the registry's daily housekeeping."""

from __future__ import annotations

import datetime as dt

import click
import psycopg

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["registry"]


@click.group()
def registry() -> None:
    """Registry housekeeping."""


@registry.command()
@click.option("--date", "day", default=None, help="the day to expire up to (default: today), YYYY-MM-DD")
@pass_settings
def expire(settings: Settings, day: str | None) -> None:
    """Expire seizures whose term has ended and let queued seizures take effect in order.
    Run it daily (cron or a systemd timer); running it twice changes nothing more."""
    from portal.registry.seizures import expire_seizures

    today = dt.date.fromisoformat(day) if day else dt.date.today()
    with psycopg.connect(database_url(settings)) as conn:
        outcome = expire_seizures(conn, today)
        conn.commit()
    click.echo(f"{len(outcome['expired'])} seizure(s) expired, {len(outcome['took_effect'])} queued seizure(s) "
               "took effect")
