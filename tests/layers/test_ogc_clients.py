"""Real OGC clients read the API: GDAL's OAPIF driver (ogrinfo, ogr2ogr) and OWSLib."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from ogc_server import Server
from owslib.ogcapi.features import Features

pytestmark = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="gdal-bin is missing")


def _current(server: Server) -> dict[str, tuple[float, float]]:
    with psycopg.connect(server.database_url) as conn:
        rows = conn.execute("SELECT parcel_code, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom))"
                            " FROM parcels WHERE end_lifespan IS NULL").fetchall()
    return {code: (x, y) for code, x, y in rows}


def test_ogrinfo_lists_the_collections(ogc_server: Server) -> None:
    out = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{ogc_server.ogc}"], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert "parcels" in out and "admin-areas" in out


def test_ogr2ogr_copies_every_parcel_with_the_right_coordinates(ogc_server: Server,
                                                                 tmp_path: Path) -> None:
    target = tmp_path / "parcels.geojson"
    subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{ogc_server.ogc}",
                    "parcels", "-oo", "PAGE_SIZE=150"], check=True, capture_output=True,
                   timeout=300)
    features = json.loads(target.read_text())["features"]
    expected = _current(ogc_server)
    codes = [f["properties"]["parcel_code"] for f in features]
    assert sorted(codes) == sorted(expected)
    for feature in features[:50]:
        ring = feature["geometry"]["coordinates"][0][0]
        lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
        lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
        x, y = expected[feature["properties"]["parcel_code"]]
        assert abs(lon - x) < 1e-3 and abs(lat - y) < 1e-3


def test_ogr2ogr_with_spatial_and_attribute_filters(ogc_server: Server, tmp_path: Path) -> None:
    target = tmp_path / "filtered.geojson"
    subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{ogc_server.ogc}",
                    "parcels", "-spat", "120.157", "30.229", "120.160", "30.231",
                    "-where", "land_use_code = '0701'"], check=True, capture_output=True,
                   timeout=300)
    got = sorted(f["properties"]["parcel_code"]
                 for f in json.loads(target.read_text())["features"])
    with psycopg.connect(ogc_server.database_url) as conn:
        expected = sorted(r[0] for r in conn.execute(
            "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL AND land_use_code = "
            "'0701' AND ST_Intersects(geom, ST_MakeEnvelope(120.157, 30.229, 120.160, 30.231,"
            " 4490))").fetchall())
    assert got == expected and expected


def test_owslib_reads_collections_items_and_queryables(ogc_server: Server) -> None:
    api = Features(ogc_server.ogc)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert ids == {"parcels", "admin-areas"}
    page = api.collection_items("parcels", limit=5, bbox=[120.157, 30.229, 120.160, 30.231])
    assert page["numberReturned"] == 5
    expected = _current(ogc_server)
    for feature in page["features"]:
        assert feature["id"] in expected
    one = api.collection_item("parcels", page["features"][0]["id"])
    assert one["properties"]["parcel_code"] == page["features"][0]["id"]
    assert "land_use_code" in api.collection_queryables("parcels")["properties"]


def test_owslib_page_has_the_exact_number_matched(ogc_server: Server) -> None:
    box = [120.157, 30.229, 120.160, 30.231]
    page = Features(ogc_server.ogc).collection_items("parcels", limit=2, bbox=box)
    with psycopg.connect(ogc_server.database_url) as conn:
        (expected,) = conn.execute(
            "SELECT count(*) FROM parcels WHERE end_lifespan IS NULL AND ST_Intersects(geom, "
            "ST_MakeEnvelope(%s, %s, %s, %s, 4490))", box).fetchone()
    assert page["numberReturned"] == 2 and page["numberMatched"] == expected > 2
