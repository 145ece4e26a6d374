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

    # The address given here is the one the app advertises too (OGC links), not only uvicorn's.
    portal = settings.portal.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v})
    settings = settings.model_copy(update={"portal": portal})
    migrations.upgrade(database_url(settings))
    uvicorn.run(create_app(settings), host=settings.portal.host, port=settings.portal.port)
