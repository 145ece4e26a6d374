"""`cadastre guide export|import`: staff edit the registration guide as a JSON file."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from pathlib import Path

import click

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["guide"]


@click.group()
def guide() -> None:
    """The public registration guide (办事指南): steps, documents, fees, time limits."""


@guide.command(name="export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@pass_settings
def export_guide(settings: Settings, file: str) -> None:
    """Write the guide as JSON to FILE (default: standard output)."""
    import psycopg

    from portal.guide.model import dump_guide, load_guide

    async def run() -> str:
        async with await psycopg.AsyncConnection.connect(database_url(settings), autocommit=True) as conn:
            return dump_guide(await load_guide(conn))

    text = asyncio.run(run())
    if file == "-":
        sys.stdout.write(text)
    else:
        Path(file).write_text(text, encoding="utf-8")
        click.echo(f"guide written to {file}", err=True)


@guide.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--editor", default=None, help="who made the change (default: the login name)")
@pass_settings
def import_guide(settings: Settings, file: str, editor: str | None) -> None:
    """Replace the whole guide with FILE (JSON, as `export` writes). Nothing changes on error."""
    import psycopg

    from portal.guide.model import GuideError, load_guide, parse_guide, replace_guide

    raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    try:
        entries = parse_guide(json.loads(raw))
    except json.JSONDecodeError as error:
        raise click.ClickException(f"{file} is not JSON: {error}") from error
    except GuideError as error:
        raise click.ClickException(f"{file}: {error} (nothing was changed)") from error

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(database_url(settings), autocommit=True) as conn:
            await replace_guide(conn, entries, editor or f"cli:{getpass.getuser()}")
            return len(await load_guide(conn))

    click.echo(f"guide replaced: {asyncio.run(run())} kinds of registration")
