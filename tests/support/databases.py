"""Throwaway databases on the test server: empty ones with PostGIS, and copies of a template
(CREATE DATABASE ... TEMPLATE, which needs the template to have no connection open)."""

from __future__ import annotations

import secrets

import psycopg

from portal.platform.db import with_database

__all__ = ["create_database", "copy_database", "drop_database", "name_of"]


def name_of(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def create_database(server_url: str, prefix: str = "cadastre_test") -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def copy_database(server_url: str, template_url: str, prefix: str = "cadastre_test") -> str:
    """A new database made from `template_url`'s (which must have no connection open)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{name_of(template_url)}"')
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name_of(url)}" WITH (FORCE)')
