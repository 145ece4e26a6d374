"""`cadastre serve`: the web application, with the settings the command group built."""

from __future__ import annotations

import click

from portal.cli.context import database_url, pass_settings
from portal.settings import Settings

__all__ = ["serve"]


@click.command()
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@pass_settings
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Run the web application (migrating the schema first)."""
    import uvicorn

    from portal.app import create_app
    from portal.platform import migrate as migrations

    migrations.upgrade(database_url(settings))
    uvicorn.run(create_app(settings), host=host or settings.portal.host, port=port or settings.portal.port)
