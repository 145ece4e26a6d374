"""`cadastre serve`: the web application, with the settings the command group built."""

from __future__ import annotations

import click
import psycopg

from portal.cli.context import checked_keys, database_url, pass_settings
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
    url = database_url(settings)
    migrations.upgrade(url)
    # The keys outside the database, checked here too so a refusal is one line, not uvicorn's
    # traceback of the lifespan (portal.accounts.key_check).
    with psycopg.connect(url) as conn:
        checked_keys(settings, conn)
    # The app alone decides who the client is (portal.platform.requests.client_of, from the
    # trusted_proxies setting): uvicorn's own proxy headers, on by default and trusting
    # 127.0.0.1, would rewrite the peer from X-Forwarded-For before the app sees it.
    # lifespan="on": an app that cannot start (its pools, its middleware stack) stops the server;
    # uvicorn's default ("auto") would take an early error for "no lifespan" and serve on.
    uvicorn.run(create_app(settings), host=settings.portal.host, port=settings.portal.port, proxy_headers=False,
                lifespan="on")
