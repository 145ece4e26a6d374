"""Real OGC clients read the API: GDAL's OAPIF driver (ogrinfo, ogr2ogr) and OWSLib; what GDAL
sent is read from the server's own request log."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote_plus

import psycopg
import pytest
from ogc_server import Server
from owslib.ogcapi.features import Features
from psycopg import sql

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


class _Requests(logging.Handler):
    """The request lines the app's uvicorn logs (it runs in this process): the server's own
    record of what a client asked, to tell a filter sent to it from one applied after."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(unquote_plus(record.getMessage()))


@contextmanager
def _server_log() -> Iterator[list[str]]:
    handler, logger = _Requests(), logging.getLogger("uvicorn.access")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _gdal_version() -> tuple[int, int]:
    text = subprocess.run(["ogrinfo", "--version"], capture_output=True, text=True,
                          check=True).stdout  # "GDAL 3.6.2, released 2023/01/02"
    major, minor = text.split()[1].rstrip(",").split(".")[:2]
    return int(major), int(minor)


def _expected(server: Server, where: str) -> list[str]:
    """Current parcel codes matching `where` (a fixed condition written by the test)."""
    statement = sql.SQL("SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL AND {}")
    with psycopg.connect(server.database_url) as conn:
        return sorted(r[0] for r in conn.execute(statement.format(sql.SQL(where))).fetchall())


def _copied(target: Path) -> list[str]:
    return sorted(f["properties"]["parcel_code"]
                  for f in json.loads(target.read_text())["features"])


def test_ogr2ogr_sends_a_queryable_equality_to_the_server(ogc_server: Server,
                                                          tmp_path: Path) -> None:
    target = tmp_path / "equal.geojson"
    with _server_log() as requests:
        subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{ogc_server.ogc}",
                        "parcels", "-where", "land_use_code = '0701'"], check=True,
                       capture_output=True, timeout=300)
    pages = [r for r in requests if "/ogc/collections/parcels/items" in r]
    # The equality went to the server as a Part 1 query parameter on every page it read.
    assert pages and all("land_use_code=0701" in r for r in pages[1:]), pages
    assert all(r.endswith(" 200") for r in requests), requests
    assert _copied(target) == _expected(ogc_server, "land_use_code = '0701'")


def test_ogr2ogr_full_read_with_a_filter_the_server_or_gdal_applies(ogc_server: Server,
                                                                    tmp_path: Path) -> None:
    """A filter beyond equalities: GDAL sends it as CQL2 text where its version does (the
    conformance page declares cql2-text); GDAL 3.6 (Debian 12) applies it itself after a
    full read. Either way the copy is exact, and nothing the server was sent failed."""
    target = tmp_path / "filtered.geojson"
    with _server_log() as requests:
        subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{ogc_server.ogc}",
                        "parcels", "-where", "land_use_code = '0701' OR area > 4000"],
                       check=True, capture_output=True, timeout=300)
    assert all(r.endswith(" 200") for r in requests), requests
    sent = [r for r in requests if "filter=" in r]
    if _gdal_version() >= (3, 7) and sent:
        assert all("filter-lang=cql2-text" in r or "filter-lang" not in r for r in sent), sent
    assert _copied(target) == _expected(
        ogc_server, "(land_use_code = '0701' OR calculated_area > 4000)")
