"""Changing a versioned object: end its current version and insert the next, in one transaction.

The database refuses any other kind of change (see the foundation migration); this is the one
way the application makes one. Geometry travels as hex EWKB text, so any column copies as is.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from portal.platform.errors import CadastreError

__all__ = ["VERSIONED", "VersionError", "supersede", "retire"]

VERSIONED = {
    "parcels": "parcel_id",
    "units": "unit_id",
    "parties": "party_id",
    "rights": "right_id",
    "restrictions": "restriction_id",
}
_GENERATED = {"version_id", "fixture_type", "begin_lifespan", "end_lifespan", "calculated_area", "previous_version"}


class VersionError(CadastreError, LookupError):
    """The object has no current version to change (it was retired or changed meanwhile)."""

    status = 409
    code = "no_current_version"


def _current(conn: psycopg.Connection, table: str, key: int) -> dict[str, Any]:
    identity = VERSIONED[table]
    query = sql.SQL("SELECT * FROM {} WHERE {} = %s AND end_lifespan IS NULL FOR UPDATE").format(
        sql.Identifier(table), sql.Identifier(identity))
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, (key,)).fetchone()
    if row is None:
        raise VersionError(f"{table}: {identity} {key} has no current version")
    return row


def retire(conn: psycopg.Connection, table: str, key: int) -> None:
    """End the current version without a successor (a parcel retired by a split or merge)."""
    _current(conn, table, key)
    conn.execute(
        sql.SQL("UPDATE {} SET end_lifespan = now() WHERE {} = %s AND end_lifespan IS NULL").format(
            sql.Identifier(table), sql.Identifier(VERSIONED[table])), (key,))


def supersede(conn: psycopg.Connection, table: str, key: int, changes: dict[str, Any]) -> int:
    """End the current version of `table`'s object `key` and start the next with `changes`.

    Returns the new row's version_id. Raises VersionError when there is no current version;
    the database raises if the changed row breaks a rule (and nothing is changed).
    """
    row = _current(conn, table, key)
    retire(conn, table, key)
    if table == "parcels" and "survey_geom" in changes and "geom" not in changes:
        row["geom"] = None  # derived again from the new survey geometry
    row.update(changes, version=row["version"] + 1)
    columns = [c for c in row if c not in _GENERATED]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING version_id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    result = conn.execute(query, [row[c] for c in columns]).fetchone()
    assert result is not None
    return int(result[0])
