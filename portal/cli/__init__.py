"""The `cadastre` command: the managed database, migrations, the demo district and the server."""

from __future__ import annotations

import sys

import click
import psycopg

from portal.platform.cluster import Cluster, ClusterError, find_binaries
from portal.platform.db import one_row, resolve_url
from portal.settings import DatabaseSettings, Settings

__all__ = ["main"]


def _database_url() -> str:
    try:
        return resolve_url(DatabaseSettings())
    except ClusterError as error:
        raise click.ClickException(str(error)) from error


@click.group()
def main() -> None:
    """Open cadastral information and public disclosure portal."""


@main.group()
def db() -> None:
    """The project's own PostGIS cluster (used when DATABASE_URL is not set)."""


def _managed_cluster() -> Cluster:
    settings = DatabaseSettings()
    if not settings.managed:
        raise click.ClickException("DATABASE_URL is set: that server is used as is, nothing to manage")
    return Cluster(settings.state_dir)


@db.command()
def start() -> None:
    """Create (first time) and start the cluster, and create the cadastre database."""
    try:
        find_binaries()
        url = _managed_cluster().ensure_database(DatabaseSettings().database_name)
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    status = _managed_cluster().status()
    click.echo(f"PostgreSQL {status.version} running on 127.0.0.1:{status.port} ({status.data_dir})")
    click.echo(f"DATABASE_URL={url}" if sys.stdout.isatty() else "database ready")


@db.command()
def stop() -> None:
    """Stop the cluster."""
    _managed_cluster().stop()
    click.echo("stopped")


@db.command()
def status() -> None:
    """Say whether the cluster runs, where, and on which port."""
    state = _managed_cluster().status()
    if state.running:
        click.echo(f"running: PostgreSQL {state.version} on 127.0.0.1:{state.port}, data in {state.data_dir}")
    else:
        click.echo(f"not running (data in {state.data_dir})")
        sys.exit(3)


@db.command()
@click.confirmation_option(prompt="Drop the cadastre database and create it empty?")
def reset() -> None:
    """Drop and re-create the managed cadastre database (the demo needs an empty one)."""
    settings = DatabaseSettings()
    cluster = _managed_cluster()
    cluster.start()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    cluster.ensure_database(settings.database_name)
    click.echo("empty database created; run `cadastre migrate`")


@main.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Upgrade the schema to REVISION (use `cadastre downgrade` to go back)."""
    from portal.platform import migrate as migrations

    migrations.upgrade(_database_url(), revision)
    click.echo(f"schema at {revision}")


@main.command()
@click.option("--revision", default="base", show_default=True)
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION."""
    from portal.platform import migrate as migrations

    migrations.downgrade(_database_url(), revision)
    click.echo(f"schema at {revision}")


@main.command()
@click.option("--parcels", default=5000, show_default=True, help="current parcels in the district")
@click.option("--seed", default=2025, show_default=True)
@click.option("--if-empty", is_flag=True, help="do nothing when the cadastre already holds parcels")
def demo(parcels: int, seed: int, if_empty: bool) -> None:
    """Load the seeded demo district (Hangzhou 330102) into an empty cadastre."""
    from portal.demo.loader import DemoError, load_demo
    from portal.platform import migrate as migrations

    url = _database_url()
    migrations.upgrade(url)
    if if_empty:
        with psycopg.connect(url) as conn:
            if one_row(conn.execute("SELECT EXISTS (SELECT 1 FROM parcels)").fetchone())[0]:
                click.echo("the cadastre already holds parcels; demo not loaded")
                return
    try:
        summary = load_demo(url, parcels=parcels, seed=seed, progress=click.echo)
    except DemoError as error:
        raise click.ClickException(str(error)) from error
    for name, count in summary.counts.items():
        click.echo(f"{name:>22}: {count}")
    click.echo(f"loaded in {summary.seconds:.1f} s")
    from portal.demo.accounts import describe_demo_accounts

    for line in describe_demo_accounts(url):
        click.echo(line)


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", default=None, help="CRS of the file when it does not say, e.g. EPSG:4528")
@click.option("--dry-run", is_flag=True, help="validate against the cadastre, change nothing")
def import_(file: str, crs: str | None, dry_run: bool) -> None:
    """Validate a surveyor's FILE (exchange .txt, DXF, GeoJSON, zipped Shapefile, GeoPackage, GML)
    and publish its parcels in one transaction when nothing blocks it."""
    from pathlib import Path

    from portal.surveys.importer import import_file
    from spatial.errors import SpatialError

    epsg = int(crs.upper().removeprefix("EPSG:")) if crs else None
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            click.echo(f"writing {total} parcels in one transaction while they are validated", err=True)
            bar = click.progressbar(length=total, label="publishing", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        outcome = import_file(_database_url(), Path(file), crs=epsg, dry_run=dry_run, progress=progress)
    except SpatialError as error:
        raise click.ClickException(str(error)) from error
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    report = outcome.report
    for issue in report.issues:
        place = f"parcel {issue.parcel_index + 1}, {issue.where}" if issue.parcel_index is not None else (
            issue.where or "file")
        click.echo(f"{issue.severity:>7}  {issue.code:<22} {place}: {issue.message}")
    click.echo(f"{report.parcel_count} parcels, {report.error_count} errors, {report.warning_count} warnings")
    if report.blocks_publication:
        raise click.ClickException("not published: fix the errors above (nothing was changed)")
    click.echo("dry run: nothing was changed" if dry_run else f"published {outcome.published} parcels "
               f"(source {outcome.source_id})")


@main.command(name="backup")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def backup_(file: str) -> None:
    """Write a backup of the whole cadastre (register, applications, accounts, audit) to FILE."""
    from pathlib import Path

    from portal.platform.backup import BackupError, backup

    try:
        size = backup(_database_url(), Path(file))
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"backup written to {file} ({size:,} bytes)")


@main.command(name="restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--into", "database", required=True, help="name of the NEW database to restore into")
def restore_(file: str, database: str) -> None:
    """Restore a backup FILE into a new database on the same server (never over a live one)."""
    from pathlib import Path

    from portal.platform.backup import BackupError, restore

    try:
        restore(_database_url(), Path(file), database)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"restored into database {database}; point CADASTRE_DATABASE (or DATABASE_URL) at it to use it")


@main.group()
def registry() -> None:
    """Registry housekeeping."""


@registry.command()
@click.option("--date", "day", default=None, help="the day to expire up to (default: today), YYYY-MM-DD")
def expire(day: str | None) -> None:
    """Expire seizures whose term has ended and let queued seizures take effect in order.
    Run it daily (cron or a systemd timer); running it twice changes nothing more."""
    import datetime as dt

    from portal.registry.seizures import expire_seizures

    today = dt.date.fromisoformat(day) if day else dt.date.today()
    with psycopg.connect(_database_url()) as conn:
        outcome = expire_seizures(conn, today)
        conn.commit()
    click.echo(f"{len(outcome['expired'])} seizure(s) expired, {len(outcome['took_effect'])} queued seizure(s) "
               "took effect")


@main.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
def serve(host: str | None, port: int | None) -> None:
    """Run the web application (migrating the schema first)."""
    import uvicorn

    from portal.app import create_app
    from portal.platform import migrate as migrations

    settings = Settings()
    migrations.upgrade(_database_url())
    uvicorn.run(create_app(settings), host=host or settings.portal.host, port=port or settings.portal.port)



def _add_feature_commands() -> None:
    from portal.cli.accounts import audit, user

    main.add_command(audit)
    main.add_command(user)
    from portal.cli.guide import guide  # the guide's commands live with the guide

    main.add_command(guide)


_add_feature_commands()


