"""`cadastre register import|export|template`: an office's existing register in and out, in the
exchange layout of docs/register-exchange.md."""

from __future__ import annotations

from pathlib import Path

import click
import psycopg

from portal.cli.context import checked_keys, database_url, pass_settings
from portal.registry.exchange.layout import CSV_MAX_BYTES, TABLE_MAX_ROWS
from portal.registry.exchange.reading import shown_name
from portal.settings import Settings

__all__ = ["register"]


@click.group()
def register() -> None:
    """Import an office's existing register, export it, or write the empty template."""


def _registrar(conn: psycopg.Connection, username: str) -> int:
    row = conn.execute("SELECT user_id, 'registrar' = ANY(roles), disabled_at IS NOT NULL FROM users "
                       "WHERE username = %s", (username,)).fetchone()
    conn.rollback()
    if row is None or not row[1] or row[2]:
        raise click.ClickException(f"{username!r} is not an active registrar: the register moves in and out in a "
                                   "registrar's name")
    return int(row[0])


@register.command(name="import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--as", "username", required=True, help="the registrar in whose name the register is imported")
@click.option("--dry-run", is_flag=True, help="check everything against the register, change nothing")
@click.option("--clean-units-only", is_flag=True,
              help="import the units without a problem (with their rights and restrictions) and report the rest")
@click.option("--max-table-rows", type=click.IntRange(min=2), default=TABLE_MAX_ROWS, show_default=True,
              help="the most rows (header included) a CSV file or GeoPackage table may hold")
@click.option("--max-csv-bytes", type=click.IntRange(min=1), default=CSV_MAX_BYTES, show_default=True,
              help="the most bytes a CSV file may hold")
@pass_settings
def import_(settings: Settings, path: Path, username: str, dry_run: bool, clean_units_only: bool,
            max_table_rows: int, max_csv_bytes: int) -> None:
    """Import PATH, a directory of <TABLE>.csv files (UTF-8 or GBK), an .xlsx workbook or a .gpkg
    GeoPackage, in one transaction: nothing changes unless the whole is clean (or, with
    --clean-units-only, the clean units). New parcels (ZDJBXX) pass the survey publication's rules."""
    from portal.platform.clock import office_zone
    from portal.registry.exchange.importing import ImportRefused, import_register
    from portal.registry.exchange.parcels import ParcelPublishing
    from portal.registry.exchange.reading import ReadProblem, TableLimits
    from portal.surveys.reading import read_limits
    from portal.surveys.register_parcels import register_publisher

    parcels = ParcelPublishing(register_publisher(settings.survey), read_limits(settings.survey))

    with psycopg.connect(database_url(settings)) as conn:
        checked_keys(settings, conn)  # parties are matched and sealed under them: never a new key by accident
        user_id = _registrar(conn, username)
        try:
            outcome = import_register(conn, path, zone=office_zone(settings.portal.office_timezone),
                                      actor_user_id=user_id, dry_run=dry_run, clean_units_only=clean_units_only,
                                      parcels=parcels, limits=TableLimits(max_table_rows, max_csv_bytes))
        except (ReadProblem, ImportRefused) as error:
            raise click.ClickException(str(error)) from error
    for problem in outcome.problems:
        click.echo(f"error  {problem}")
    for note in outcome.notes:
        click.echo(f"note   {note}")
    for table, count in outcome.counts.items():
        click.echo(f"{table:<6} {count['new']} new, {count['changed']} changed, {count['unchanged']} unchanged")
    click.echo(f"sha256 {outcome.sha256}")
    if outcome.skipped_units:
        click.echo(f"{len(outcome.skipped_units)} unit(s) left out for their problems")
    if (outcome.problems and not clean_units_only) or not (dry_run or outcome.committed):
        raise click.ClickException(f"{len(outcome.problems)} problem(s): nothing was imported")
    click.echo("dry run: nothing was changed" if dry_run else "imported")


@register.command(name="export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--as", "username", required=True, help="the registrar in whose name the register is exported")
@click.option("--unmasked", is_flag=True, help="identity numbers in full (audited): to move the register elsewhere")
@pass_settings
def export(settings: Settings, path: Path, username: str, unmasked: bool) -> None:
    """Write the register to PATH: a directory of <TABLE>.csv files (UTF-8), an .xlsx workbook or a .gpkg GeoPackage,
    readable by their owner only (0600; a directory 0700)."""
    from portal.platform.clock import office_zone
    from portal.registry.exchange.exporting import ExportProblem, export_register

    with psycopg.connect(database_url(settings)) as conn:
        user_id = _registrar(conn, username)
        # No new key for a register that has parties; the export says itself (audited) when
        # the keys in place do not open them.
        keys = checked_keys(settings, conn, try_party=False).identity_keys if unmasked else None
        try:
            sums = export_register(conn, path, zone=office_zone(settings.portal.office_timezone),
                                   actor_user_id=user_id, unmasked=unmasked, keys=keys)
        except (ExportProblem, OSError) as error:
            raise click.ClickException(f"{shown_name(str(path))}: nothing exported: {error}") from error
    for table, digest in sums.items():
        click.echo(f"{table:<6} {digest}")


@register.command(name="template")
@click.argument("path", type=click.Path(path_type=Path))
def template(path: Path) -> None:
    """Write the empty exchange layout to PATH (a directory of CSV headers, or an .xlsx workbook)."""
    from portal.registry.exchange.exporting import template as write_template

    write_template(path)
    click.echo(f"template written to {path}")
