"""The demo district survives its own export (review finding L4 of issue 20): `cadastre register
export` of the demo cadastre, imported into an empty one (migrated, no parcels, no register),
refuses nothing. The demo generator writes only values the product's rules accept: declared
areas within the survey rule's tolerance, codes with their check digits, shares adding up,
dates in order, known land-use codes."""

from __future__ import annotations

from pathlib import Path

import psycopg
from test_register_exchange import ZONE, _import

from portal.platform import migrate
from portal.registry.exchange.exporting import checksums, export_tables, write_tables


def test_the_demo_register_exported_imports_into_an_empty_cadastre(database_url: str, fresh_database,
                                                                   tmp_path: Path) -> None:
    with psycopg.connect(database_url) as conn:
        exported = export_tables(conn, ZONE, unmasked=True)
        conn.rollback()
    assert exported["ZDJBXX"], "the demo's parcels are exported"
    write_tables(exported, tmp_path / "demo")
    empty = fresh_database()
    migrate.upgrade(empty)
    with psycopg.connect(database_url) as source, psycopg.connect(empty) as target:  # the office's areas
        with source.cursor().copy("COPY admin_areas (code, name, boundary) TO STDOUT") as out, \
                target.cursor().copy("COPY admin_areas (code, name, boundary) FROM STDIN") as into:
            for data in out:
                into.write(data)
        target.commit()
    outcome = _import(empty, tmp_path / "demo")
    assert not outcome.problems, (len(outcome.problems), [str(p) for p in outcome.problems[:5]])
    assert outcome.committed
    with psycopg.connect(empty) as conn:
        again = export_tables(conn, ZONE, unmasked=True)
    assert checksums(again) == checksums(exported)
