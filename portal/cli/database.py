"""`cadastre db start|stop|status|reset`, `cadastre migrate` and `cadastre downgrade`: the
managed cluster and the schema."""

from __future__ import annotations

import sys

import click

from portal.cli.context import database_url, pass_settings
from portal.platform.cluster import Cluster, ClusterError, find_binaries
from portal.settings import Settings

__all__ = ["db", "migrate", "downgrade"]


@click.group()
def db() -> None:
    """The project's own PostGIS cluster (used when DATABASE_URL is not set)."""


def _managed_cluster(settings: Settings) -> Cluster:
    if not settings.database.managed:
        raise click.ClickException("DATABASE_URL is set: that server is used as is, nothing to manage")
    return Cluster(settings.database.state_dir)


@db.command()
@pass_settings
def start(settings: Settings) -> None:
    """Create (first time) and start the cluster, and create the cadastre database."""
    try:
        find_binaries()
        url = _managed_cluster(settings).ensure_database(settings.database.database_name)
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    status = _managed_cluster(settings).status()
    click.echo(f"PostgreSQL {status.version} running on 127.0.0.1:{status.port} ({status.data_dir})")
    click.echo(f"DATABASE_URL={url}" if sys.stdout.isatty() else "database ready")


@db.command()
@pass_settings
def stop(settings: Settings) -> None:
    """Stop the cluster."""
    _managed_cluster(settings).stop()
    click.echo("stopped")


@db.command()
@pass_settings
def status(settings: Settings) -> None:
    """Say whether the cluster runs, where, and on which port."""
    state = _managed_cluster(settings).status()
    if state.running:
        click.echo(f"running: PostgreSQL {state.version} on 127.0.0.1:{state.port}, data in {state.data_dir}")
    else:
        click.echo(f"not running (data in {state.data_dir})")
        sys.exit(3)


@db.command()
@click.confirmation_option(prompt="Drop the cadastre database and create it empty?")
@pass_settings
def reset(settings: Settings) -> None:
    """Drop and re-create the managed cadastre database (the demo needs an empty one)."""
    cluster = _managed_cluster(settings)
    cluster.drop_database(settings.database.database_name)
    cluster.ensure_database(settings.database.database_name)
    click.echo("empty database created; run `cadastre migrate`")


@click.command()
@click.option("--revision", default="head", show_default=True)
@pass_settings
def migrate(settings: Settings, revision: str) -> None:
    """Upgrade the schema to REVISION (use `cadastre downgrade` to go back)."""
    from portal.platform import migrate as migrations

    migrations.upgrade(database_url(settings), revision)
    if settings.database.managed:  # the app role's grants on the tables the migrations added
        _managed_cluster(settings).ensure_app_database(settings.database.database_name)
    click.echo(f"schema at {revision}")


@click.command()
@click.option("--revision", default="base", show_default=True)
@pass_settings
def downgrade(settings: Settings, revision: str) -> None:
    """Downgrade the schema to REVISION."""
    from portal.platform import migrate as migrations

    migrations.downgrade(database_url(settings), revision)
    click.echo(f"schema at {revision}")
