"""Database names go into SQL as quoted identifiers: a hostile name is one odd, harmless name."""

from __future__ import annotations

import psycopg

from portal.platform import queries
from portal.platform.db import with_database

HOSTILE = 'x"; DROP TABLE parcels; --'


def test_hostile_database_name_is_quoted_not_run(server_url: str, database_url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        assert not queries.database_exists(conn, HOSTILE)
        queries.create_database(conn, HOSTILE)
        try:
            assert queries.database_exists(conn, HOSTILE)
            with psycopg.connect(with_database(server_url, HOSTILE)) as made:
                assert made.execute("SELECT current_database()").fetchone()[0] == HOSTILE
        finally:
            queries.drop_database(conn, HOSTILE, force=True, if_exists=True)
        assert not queries.database_exists(conn, HOSTILE)
        queries.drop_database(conn, HOSTILE, force=True, if_exists=True)  # absent: nothing happens
    with psycopg.connect(database_url) as conn:  # nothing was dropped along the way
        assert conn.execute("SELECT to_regclass('parcels') IS NOT NULL").fetchone()[0]
