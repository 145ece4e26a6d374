"""A throwaway least-privilege application role (`cadastre audit grant-app-role`), for tests that
show what the app's own database account may and may not do."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from portal.audit.trail import grant_app_role


@contextmanager
def app_role_url(url: str) -> Iterator[str]:
    """A connection URL for a new role with the app's grants on `url`'s database; dropped after."""
    role = f"cadastre_app_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        grant_app_role(conn, role)
    info = psycopg.conninfo.conninfo_to_dict(url)
    try:
        yield psycopg.conninfo.make_conninfo(**{**info, "user": role, "password": password})
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
