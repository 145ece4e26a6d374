"""A change keeps the old version readable "as of" an earlier time."""

from __future__ import annotations

import pytest

from portal.platform.versioning import VersionError, supersede

AS_OF = ("SELECT {cols} FROM {table} WHERE {key} = %s AND begin_lifespan <= %s "
         "AND (end_lifespan IS NULL OR end_lifespan > %s)")


def as_of(conn, table: str, key: str, ident: int, moment, cols: str):
    return conn.execute(AS_OF.format(cols=cols, table=table, key=key), (ident, moment, moment)).fetchall()


def test_parcel_change_keeps_history(conn) -> None:
    pid, use, before = conn.execute(
        "SELECT parcel_id, land_use_code, now() - interval '1 day' FROM current_parcels "
        "WHERE land_use_code <> '0505' ORDER BY parcel_id LIMIT 1").fetchone()
    supersede(conn, "parcels", pid, {"land_use_code": "0505"})
    now = conn.execute("SELECT now()").fetchone()[0]
    assert as_of(conn, "parcels", "parcel_id", pid, before, "land_use_code, version") == [(use, 1)]
    assert as_of(conn, "parcels", "parcel_id", pid, now, "land_use_code, version") == [("0505", 2)]
    assert conn.execute("SELECT count(*) FROM parcels WHERE parcel_id = %s", (pid,)).fetchone()[0] == 2


def test_parcel_geometry_change_recomputes_area(conn) -> None:
    pid = conn.execute("SELECT parcel_id FROM current_parcels ORDER BY parcel_id LIMIT 1").fetchone()[0]
    square = ("SRID=4528;POLYGON((40515000 3345000,40515030 3345000,40515030 3345030,"
              "40515000 3345030,40515000 3345000))")
    supersede(conn, "parcels", pid, {"survey_geom": square})
    area = conn.execute("SELECT calculated_area FROM current_parcels WHERE parcel_id = %s", (pid,)).fetchone()[0]
    assert float(area) == pytest.approx(900.0, abs=0.01)


def test_right_and_restriction_changes_keep_history(conn) -> None:
    rid, status, before = conn.execute(
        "SELECT restriction_id, status, now() - interval '1 second' FROM current_restrictions "
        "WHERE kind = 'mortgage' AND status = 'active' ORDER BY restriction_id LIMIT 1").fetchone()
    supersede(conn, "restrictions", rid, {"status": "discharged"})
    now = conn.execute("SELECT now()").fetchone()[0]
    assert as_of(conn, "restrictions", "restriction_id", rid, before, "status") == [(status,)]
    assert as_of(conn, "restrictions", "restriction_id", rid, now, "status") == [("discharged",)]
    right_id, cert = conn.execute(
        "SELECT right_id, certificate_number FROM current_rights ORDER BY right_id LIMIT 1").fetchone()
    supersede(conn, "rights", right_id, {"certificate_number": "浙(2026)杭州市不动产权第9999999号"})
    assert as_of(conn, "rights", "right_id", right_id, before, "certificate_number") == [(cert,)]


def test_demo_history_reads_back(conn) -> None:
    """Split parents are visible as of before the split, their children after it."""
    parent, child, moment = conn.execute(
        "SELECT l.parent_parcel_id, l.child_parcel_id, l.recorded_at FROM parcel_lineage l "
        "WHERE l.event = 'split' ORDER BY 1 LIMIT 1").fetchone()
    earlier = conn.execute("SELECT %s::timestamptz - interval '1 day'", (moment,)).fetchone()[0]
    assert as_of(conn, "parcels", "parcel_id", parent, earlier, "version") == [(1,)]
    assert as_of(conn, "parcels", "parcel_id", parent, moment, "version") == []
    assert as_of(conn, "parcels", "parcel_id", child, moment, "version") == [(1,)]


def test_supersede_without_current_version_is_refused(conn) -> None:
    with pytest.raises(VersionError, match="no current version"):
        supersede(conn, "parcels", 987654321, {"status": "disputed"})


@pytest.mark.parametrize("table, key, change", [
    ("units", "unit_id", {"floor_area": 88.5}),
    ("parties", "party_id", {"name": "改名后"}),
])
def test_unit_and_party_changes_follow_the_previous_version(conn, table, key, change) -> None:
    """Units carry a generated column (fixture_type), as every versioned table now does
    (previous_version): ending a version must not read them as changed."""
    ident = conn.execute(f"SELECT {key} FROM current_{table} ORDER BY {key} LIMIT 1").fetchone()[0]  # noqa: S608
    supersede(conn, table, ident, change)
    versions = conn.execute(f"SELECT version, previous_version, begin_lifespan, end_lifespan FROM {table} "  # noqa: S608
                            f"WHERE {key} = %s ORDER BY version", (ident,)).fetchall()
    *_, previous, latest = versions
    assert latest[:2] == (previous[0] + 1, previous[0])  # the next version, and it says which it follows
    assert latest[2] == previous[3] and latest[3] is None  # it begins where the previous one ended
