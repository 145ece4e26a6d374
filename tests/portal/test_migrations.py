"""The schema goes up to head, down to base and up again, leaving nothing behind."""

import psycopg

from portal.platform import migrate

TABLES = {"parcels", "units", "parties", "rights", "right_holders", "restrictions", "sources",
          "admin_areas", "land_uses", "parcel_lineage"}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade(fresh_database) -> None:
    url = fresh_database()
    migrate.upgrade(url)
    assert TABLES <= _tables(url)
    with psycopg.connect(url) as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
        assert conn.execute("SELECT count(*) FROM land_uses").fetchone()[0] == 85
    migrate.downgrade(url, "base")
    assert not (TABLES & _tables(url))
    with psycopg.connect(url) as conn:
        assert migrate.current_revision(conn) is None
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname IN ('guard_version_row', 'check_right_holders')"
        ).fetchone()[0]
        assert functions == 0
    migrate.upgrade(url)
    assert TABLES <= _tables(url)
