"""Connections: which server, and the pool the application shares across requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import monotonic

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from portal.platform.cluster import Cluster
from portal.settings import DatabaseSettings

__all__ = ["resolve_url", "resolve_app_url", "sqlalchemy_url", "open_pool", "open_work_pool", "with_database"]



def resolve_url(settings: DatabaseSettings) -> str:
    """The administrator's URL of the cadastre database (migrations, the command line):
    CADASTRE_ADMIN_DATABASE_URL, else DATABASE_URL as is, else the managed cluster's superuser.

    With no DATABASE_URL, the managed cluster is created and started when needed.
    """
    if settings.admin_database_url:
        return settings.admin_database_url
    if settings.database_url:
        return settings.database_url
    return Cluster(settings.state_dir).ensure_database(settings.database_name)


def resolve_app_url(settings: DatabaseSettings) -> str:
    """The web application's URL: DATABASE_URL as is (point it at a least-privilege role: `cadastre
    audit grant-app-role`), else the managed cluster's app role `cadastre_app`, granted on the
    database's tables as the migrations left them."""
    if settings.database_url:
        return settings.database_url
    return Cluster(settings.state_dir).ensure_app_database(settings.database_name)


def with_database(url: str, database: str) -> str:
    """The same server, another database (tests make throw-away databases this way)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo("", **info)


def sqlalchemy_url(url: str) -> str:
    """Alembic speaks SQLAlchemy; point it at psycopg 3 whatever form the URL came in."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:  # a key=value conninfo string
        info = psycopg.conninfo.conninfo_to_dict(url)
        from sqlalchemy.engine import URL

        port = info.get("port")
        return URL.create(
            "postgresql+psycopg",
            username=_text(info.get("user")),
            password=_text(info.get("password")),
            host=_text(info.get("host")),
            port=int(port) if port else None,
            database=_text(info.get("dbname")),
        ).render_as_string(hide_password=False)
    return url


def _text(value: str | int | None) -> str | None:
    """A conninfo value as URL.create wants it (parsed conninfo values are strings already)."""
    return None if value is None else str(value)


def open_pool(url: str, settings: DatabaseSettings) -> AsyncConnectionPool:
    """A pool for the web application; the caller opens and closes it in the lifespan."""
    return AsyncConnectionPool(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        open=False,
        timeout=settings.pool_timeout,
        kwargs={"autocommit": True},
        check=_probe_if_idle(settings.pool_check_idle_seconds),
    )


def _probe_if_idle(idle_seconds: float) -> Callable[[psycopg.AsyncConnection], Awaitable[None]]:
    """The pool's check before handing out a connection: a probe round trip (so a connection
    the server dropped, e.g. in a restart, is replaced instead of failing a request), skipped for
    a connection last handed out less than `idle_seconds` ago (and not broken since). A probe
    per request cost a sixth of the app's CPU on the restriction check (bench/checks.py). (Not
    a `reset` callback to note returns: with one, the pool returns every connection through a
    background task.)"""

    async def check(conn: psycopg.AsyncConnection) -> None:
        now = monotonic()
        lent = getattr(conn, "_cadastre_lent", None)
        conn._cadastre_lent = now  # type: ignore[attr-defined]  # our own mark on psycopg's connection
        if lent is not None and not conn.broken and now - lent < idle_seconds:
            return
        await AsyncConnectionPool.check_connection(conn)

    return check


def open_work_pool(url: str, settings: DatabaseSettings) -> ConnectionPool:
    """A small pool of blocking connections for work done in worker threads (reading and
    validating uploads, publishing): such work runs its own transactions and commits itself."""
    return ConnectionPool(url, min_size=0, max_size=settings.work_pool_size, open=False,
                          timeout=settings.pool_timeout, check=ConnectionPool.check_connection)
