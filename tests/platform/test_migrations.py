"""The schema goes up to head, down to base and up again, leaving nothing behind.

What the migrations made is read from the catalog after the upgrade (no hand-kept list): every
relation (table, view, sequence, index...), function and type outside the system schemas that no
extension owns. Extensions are left alone: the first migration creates them only if missing, and
other databases' objects may rely on them.
"""

import psycopg

from portal.platform import migrate

# (kind, qualified name) of the relations (tables, views, sequences, indexes...), functions,
# types (not a table's row type nor an array) and schemas outside the system schemas that no
# extension owns.
_OBJECTS = """
    SELECT o.kind, o.name FROM (
        SELECT 'relation ' || c.relkind::text AS kind, c.relname::text AS name, c.relnamespace AS ns,
               'pg_class'::regclass AS catalog, c.oid FROM pg_class c
        UNION ALL
        SELECT 'function', p.oid::regprocedure::text, p.pronamespace, 'pg_proc'::regclass, p.oid FROM pg_proc p
        UNION ALL
        SELECT 'type', t.typname::text, t.typnamespace, 'pg_type'::regclass, t.oid FROM pg_type t
         WHERE t.typrelid = 0 AND t.typelem = 0
        UNION ALL
        SELECT 'schema', n.nspname::text, n.oid, 'pg_namespace'::regclass, n.oid FROM pg_namespace n
         WHERE n.nspname <> 'public'
    ) o JOIN pg_namespace n ON n.oid = o.ns
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.catalog AND d.objid = o.oid
                      AND d.deptype = 'e')
"""


def _objects(url: str) -> set[tuple[str, str]]:
    """What the database holds beyond the system schemas and the extensions."""
    with psycopg.connect(url) as conn:
        return {(kind, name) for kind, name in conn.execute(_OBJECTS).fetchall()}


def test_upgrade_downgrade_upgrade(fresh_database) -> None:
    url = fresh_database()
    before = _objects(url)
    migrate.upgrade(url)
    made = _objects(url) - before
    tables = {name for kind, name in made if kind == "relation r"}
    # The catalog query sees what the migrations make (a sanity check, not the list checked).
    assert {"parcels", "units", "rights", "audit_log", "users"} <= tables
    assert len(tables) > 25 and any(kind == "function" for kind, _ in made)
    with psycopg.connect(url) as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
        assert conn.execute("SELECT count(*) FROM land_uses").fetchone()[0] == 85
    migrate.downgrade(url, "base")
    # Alembic keeps its own (now empty) version table; everything the migrations made is gone.
    left = _objects(url) - before - {("relation r", "alembic_version"), ("relation i", "alembic_version_pkc")}
    assert not left, sorted(left)
    with psycopg.connect(url) as conn:
        assert migrate.current_revision(conn) is None
    migrate.upgrade(url)
    assert _objects(url) - before == made
