"""SQL of the shared machinery: databases on a server, the schema revision, replica lag and the
backup fingerprint.

Database and table names are identifiers, quoted with `sql.Identifier` (a name such as
`x"; DROP TABLE parcels; --` is one odd but harmless name); every value is bound.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from portal.platform.rows import one_row

__all__ = ["database_exists", "create_database", "drop_database", "create_postgis", "schema_revision",
           "public_tables", "table_fingerprint", "PRIMARY_WAL_LSN", "REPLICA_LAG", "HEALTH", "SERVING_SERVER"]

# /health: PostGIS version, schema revision and current parcels, in one round trip.
HEALTH = ("SELECT postgis_lib_version(), (SELECT version_num FROM alembic_version), "
          "(SELECT count(*) FROM parcels WHERE end_lifespan IS NULL)")
# /health/reads: whether the server a read went to is a standby, and its port.
SERVING_SERVER = "SELECT pg_is_in_recovery(), inet_server_port()"

PRIMARY_WAL_LSN = "SELECT pg_current_wal_lsn()::text"
# On a replica: whether it really is a standby, and how many bytes of the primary's WAL it has
# still to replay (bound: the primary's current LSN).
REPLICA_LAG = "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())::bigint"


def database_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def create_database(conn: psycopg.Connection, name: str) -> None:
    """CREATE DATABASE (an autocommit connection: it cannot run in a transaction)."""
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(conn: psycopg.Connection, name: str, *, force: bool = False, if_exists: bool = False) -> None:
    """DROP DATABASE; `force` ends the sessions still connected to it."""
    conn.execute(sql.SQL("DROP DATABASE {}{}{}").format(
        sql.SQL("IF EXISTS ") if if_exists else sql.SQL(""), sql.Identifier(name),
        sql.SQL(" WITH (FORCE)") if force else sql.SQL("")))


def create_postgis(conn: psycopg.Connection) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def schema_revision(conn: psycopg.Connection) -> str | None:
    """The Alembic revision recorded in the database, or None before the first migration."""
    exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def public_tables(conn: psycopg.Connection) -> list[str]:
    """The tables of the public schema but PostGIS's own, by name."""
    return [row[0] for row in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys' "
        "ORDER BY 1")]


def table_fingerprint(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    """Row count and an md5 of every row (in text order) of `table`."""
    query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    "FROM {} AS t").format(sql.Identifier(table))
    count, digest = one_row(conn.execute(query).fetchone())
    return count, digest
