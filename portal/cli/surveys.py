"""`cadastre import`: validate a surveyor's file against the cadastre and publish it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["import_"]


@click.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", default=None, help="CRS of the file when it does not say, e.g. EPSG:4528")
@click.option("--dry-run", is_flag=True, help="validate against the cadastre, change nothing")
@pass_settings
def import_(settings: Settings, file: str, crs: str | None, dry_run: bool) -> None:
    """Validate a surveyor's FILE (exchange .txt, DXF, GeoJSON, zipped Shapefile, GeoPackage, GML)
    and publish its parcels in one transaction when nothing blocks it."""
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
        outcome = import_file(database_url(settings), Path(file), crs=epsg, dry_run=dry_run, progress=progress,
                              settings=settings.survey)
    except SpatialError as error:
        raise click.ClickException(str(error)) from error
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    report = outcome.report
    click.echo(f"coordinate reference system: {report.crs_line()}")
    for issue in report.issues:
        place = f"parcel {issue.parcel_index + 1}, {issue.place}" if issue.parcel_index is not None else (
            issue.place or "file")
        click.echo(f"{issue.severity:>7}  {issue.code:<22} {place}: {issue.message}")
    click.echo(f"{report.parcel_count} parcels, {report.error_count} errors, {report.warning_count} warnings")
    if report.blocks_publication:
        raise click.ClickException("not published: fix the errors above (nothing was changed)")
    click.echo("dry run: nothing was changed" if dry_run else f"published {outcome.published} parcels "
               f"(source {outcome.source_id})")
