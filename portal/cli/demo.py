"""`cadastre demo`: the seeded demo district and its accounts."""

from __future__ import annotations

import click
import psycopg

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["demo"]


@click.command()
@click.option("--parcels", default=5000, show_default=True, help="current parcels in the district")
@click.option("--seed", default=2025, show_default=True)
@click.option("--if-empty", is_flag=True, help="do nothing when the cadastre already holds parcels")
@pass_settings
def demo(settings: Settings, parcels: int, seed: int, if_empty: bool) -> None:
    """Load the seeded demo district (Hangzhou 330102) into an empty cadastre."""
    from portal.demo.loader import DemoError, holds_parcels, load_demo
    from portal.platform import migrate as migrations

    url = database_url(settings)
    migrations.upgrade(url)
    if if_empty:
        with psycopg.connect(url) as conn:
            if holds_parcels(conn):
                click.echo("the cadastre already holds parcels; demo not loaded")
                return
    try:
        summary = load_demo(url, parcels=parcels, seed=seed, progress=click.echo, settings=settings)
    except DemoError as error:
        raise click.ClickException(str(error)) from error
    for name, count in summary.counts.items():
        click.echo(f"{name:>22}: {count}")
    click.echo(f"loaded in {summary.seconds:.1f} s")
    from portal.demo.accounts import describe_demo_accounts

    for line in describe_demo_accounts(url, settings):
        click.echo(line)
