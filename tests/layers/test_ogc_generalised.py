"""Tiles below full detail read parcels generalised once per zoom band (migration 0022) and
equal the tiles made by simplifying every parcel per request; the bands follow every change of
parcels in the same transaction (issue 18 section 4)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import mapbox_vector_tile
import psycopg
import pytest

from layers.catalog import COLLECTIONS
from layers.sql import FULL_DETAIL_ZOOM, TileSpec, tile_statement

PARCELS = COLLECTIONS["parcels"]
SPEC = TileSpec(4096, 64, 20_000)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _features(conn: psycopg.Connection, z: int, x: int, y: int,
              generalised: bool) -> dict[str, object]:
    statement, values = tile_statement(PARCELS, z, x, y, SPEC, generalised=generalised)
    data = conn.execute(statement, values).fetchone()[0]
    if not data:
        return {}
    layer = mapbox_vector_tile.decode(bytes(data)).get("parcels", {"features": []})
    return {f["properties"]["parcel_code"]: (f["properties"]["land_use_code"], f["geometry"])
            for f in layer["features"]}


def _centre(conn: psycopg.Connection) -> tuple[float, float]:
    row = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c "
                       "FROM parcels WHERE end_lifespan IS NULL) s").fetchone()
    assert row is not None
    return row[0], row[1]


def _same_tiles(conn: psycopg.Connection, zooms: range) -> int:
    lon, lat = _centre(conn)
    drawn = 0
    for z in zooms:
        x, y = _tile_of(lon, lat, z)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (-1, -1)):
            on_the_fly = _features(conn, z, x + dx, y + dy, generalised=False)
            banded = _features(conn, z, x + dx, y + dy, generalised=True)
            assert banded == on_the_fly, (z, x + dx, y + dy)
            drawn += len(banded)
    return drawn


@pytest.fixture
def conn(writable_database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(writable_database, autocommit=True) as connection:
        yield connection


def test_banded_tiles_equal_tiles_simplified_per_request(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert _same_tiles(conn, range(8, FULL_DETAIL_ZOOM)) > 100


def test_bands_follow_new_retired_and_deleted_parcels(conn: psycopg.Connection) -> None:
    """A new version and a retirement, as publication writes them, in one transaction; the
    bands change with them and the tiles stay equal."""
    with conn.transaction():
        old = conn.execute(
            "UPDATE parcels SET end_lifespan = now() WHERE parcel_id = (SELECT parcel_id FROM "
            "parcels WHERE end_lifespan IS NULL ORDER BY calculated_area DESC LIMIT 1) AND "
            "end_lifespan IS NULL RETURNING *").fetchone()
        assert old is not None
        conn.execute(
            "INSERT INTO parcels (parcel_id, version, parcel_code, admin_area_code, land_use_code, geom,"
            " survey_geom, calculated_area, valid_from, begin_lifespan) SELECT parcel_id, version + 1, "
            "parcel_code, admin_area_code, '0701', ST_Multi(ST_Buffer(geom, 0.0003)), "
            "survey_geom, calculated_area * 2, valid_from, now() FROM parcels "
            "WHERE parcel_id = %s ORDER BY begin_lifespan DESC LIMIT 1", [old[0]])
    bands = conn.execute("SELECT count(*), min(land_use_code), max(land_use_code) FROM "
                         "parcel_generalised WHERE parcel_id = %s", [old[0]]).fetchone()
    assert bands is not None and bands[0] > 0 and bands[1] == bands[2] == "0701"
    assert _same_tiles(conn, range(10, FULL_DETAIL_ZOOM)) > 0
    # Retired without a successor: gone from every band.
    conn.execute("UPDATE parcels SET end_lifespan = now() + interval '2 ms' WHERE parcel_id = %s "
                 "AND end_lifespan IS NULL", [old[0]])
    gone = conn.execute("SELECT count(*) FROM parcel_generalised WHERE parcel_id = %s",
                        [old[0]]).fetchone()
    assert gone == (0,)
    assert _same_tiles(conn, range(10, FULL_DETAIL_ZOOM)) > 0
