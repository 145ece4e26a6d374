"""GDAL reads our vector tiles the way a client finds them: collection, tile sets, tile set,
tile matrix set, tile.

Debian 12's GDAL 3.6 parses our tile matrix set (the TMS 1.0 members beside the 2.0 ones,
layers.tms) and reads a tile found through the tile set's links with its MVT driver. Its
OGCAPI driver cannot open vector tiles from any server: after reading the tile matrix set,
3.6 builds raster tile sets only (upstream: "tiles not working properly due to churn in
tilematrixset spec", OSGeo/gdal#6881; fixed for vector tiles in 3.7, #7656, and for TMS 2.0
in 3.8, #8130). So the `OGCAPI: -oo API=TILES` read runs with the GDAL the project reads
files with (pyogrio's, 3.12), in a process of its own, and again with Debian's `ogrinfo` where
that is 3.8 or later.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from ogc_server import Server

from layers.tiles import tile_range

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is missing")
TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
MVT = "application/vnd.mapbox-vector-tile"
Z = 16


def _gdal_version() -> tuple[int, int]:
    text = subprocess.run(["ogrinfo", "--version"], capture_output=True, text=True,
                          check=True).stdout  # "GDAL 3.6.2, released 2023/01/02"
    major, minor = text.split()[1].rstrip(",").split(".")[:2]
    return int(major), int(minor)


def _get(url: str) -> dict[str, Any]:
    response = httpx.get(url, headers={"Accept": "application/json"}, timeout=30)
    assert response.status_code == 200, (url, response.text)
    document: dict[str, Any] = response.json()
    return document


def _link(document: dict[str, Any], rel: str, media_type: str) -> str:
    hrefs = [link["href"] for link in document["links"]
             if link["rel"] == rel and link.get("type") == media_type]
    assert hrefs, (rel, media_type, document["links"])
    return str(hrefs[0])


def _tileset(server: Server) -> dict[str, Any]:
    """The WebMercatorQuad tile set of parcels, reached by links as GDAL's OGCAPI driver does."""
    collection = _get(f"{server.ogc}/collections/parcels")
    tilesets = _get(_link(collection, TILESETS_VECTOR, "application/json"))
    (entry,) = [t for t in tilesets["tilesets"] if t["dataType"] == "vector"]
    return _get(_link(entry, "self", "application/json"))


def _demo_tile(server: Server) -> tuple[int, int, int, int]:
    """(z, column, row, parcels) of a z16 tile holding current demo parcels."""
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM parcels "
                           "WHERE end_lifespan IS NULL ORDER BY parcel_code LIMIT 1) p").fetchone()
        assert row is not None
        x0, y0, _, _ = tile_range((row[0], row[1], row[0], row[1]), Z, 0.0)
        (count,) = conn.execute("SELECT count(*) FROM parcels WHERE end_lifespan IS NULL AND "
                                "ST_Intersects(ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s))",
                                (Z, x0, y0)).fetchone() or (0,)
    assert count > 0
    return Z, x0, y0, int(count)


def test_gdal_parses_our_tile_matrix_set(ogc_server: Server, tmp_path: Path) -> None:
    """GDAL's TileMatrixSet reader (the one its OGCAPI driver uses) accepts the document the
    tile set links, and tiles a raster on it at the right origin and cell size."""
    tms = _get(_link(_tileset(ogc_server), TILING_SCHEME, "application/json"))
    definition = tmp_path / "tms.json"
    definition.write_text(json.dumps(tms))
    source, target = tmp_path / "source.tif", tmp_path / "tiled.tif"
    subprocess.run(["gdal_create", "-q", "-of", "GTiff", "-outsize", "64", "64", "-bands", "1",
                    "-a_srs", "EPSG:3857", "-a_ullr", "13375000", "3535000", "13376000", "3534000",
                    str(source)], check=True, timeout=60)
    done = subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", f"TILING_SCHEME={definition}",
                           "-co", "ZOOM_LEVEL=16", str(source), str(target)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(target)], capture_output=True,
                                     text=True, check=True, timeout=60).stdout)
    (cell,) = {m["cellSize"] for m in tms["tileMatrices"] if m["id"] == "16"}
    assert info["geoTransform"][1] == pytest.approx(cell)
    origin = tms["tileMatrices"][16]["pointOfOrigin"]
    # The raster is cut on the z16 grid: its corner is a whole number of tiles from the origin.
    tiles_x = (info["geoTransform"][0] - origin[0]) / (cell * 256)
    assert tiles_x == pytest.approx(round(tiles_x), abs=1e-6)


def test_gdal_reads_a_tile_found_through_the_tileset(ogc_server: Server) -> None:
    """The tile template of the tile set, filled for a tile of demo parcels, is read by GDAL's
    MVT driver: the parcels layer with its parcel codes."""
    template = _link(_tileset(ogc_server), "item", MVT)
    z, col, row, count = _demo_tile(ogc_server)
    url = (template.replace("{tileMatrix}", str(z)).replace("{tileRow}", str(row))
           .replace("{tileCol}", str(col)))
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-oo", f"Z={z}", "-oo", f"X={col}", "-oo", f"Y={row}",
                          f"MVT:/vsicurl/{url}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Layer name: parcels" in out.stdout
    assert out.stdout.count("parcel_code (String) =") >= count
    # Georeferenced where the tile is: the layer's extent (EPSG:3857) meets the tile.
    extent = re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)", out.stdout)
    assert extent is not None, out.stdout[:2000]
    xmin, ymin, xmax, ymax = (float(v) for v in extent.groups())
    txmin, tymin, txmax, tymax = _tile_bounds(z, col, row)
    assert xmin < txmax and xmax > txmin and ymin < tymax and ymax > tymin


_OGCAPI_READ = """
import json, sys
import pyogrio
url, layer, bbox = sys.argv[1], sys.argv[2], tuple(float(v) for v in sys.argv[3:7])
# The extent to read, in the tile matrix set's CRS (EPSG:3857 metres): GDAL's vector tile
# layers take the collection's CRS84 bbox as if it were in that CRS (its raster path converts
# it), so a client names the extent with the driver's MINX/MINY/MAXX/MAXY open options.
extent = dict(zip(("MINX", "MINY", "MAXX", "MAXY"), sys.argv[3:7]))
options = {"API": "TILES", "VECTOR_FORMAT": "MVT", **extent}
info = pyogrio.read_info(url, layer=layer, **options)
frame = pyogrio.read_dataframe(url, layer=layer, bbox=bbox, **options)
print(json.dumps({"gdal": pyogrio.__gdal_version_string__, "fields": list(info["fields"]),
                  "codes": sorted(set(frame["parcel_code"])) if "parcel_code" in frame else [],
                  "bounds": list(frame.total_bounds) if len(frame) else []}))
"""


@pytest.mark.skipif(_gdal_version() < (3, 8) if shutil.which("ogrinfo") else True,
                    reason="GDAL's OGCAPI driver reads OGC API vector tiles (with a TMS 2.0 "
                           "tile matrix set) from 3.8 on (OSGeo/gdal#7656, #8130)")
def test_ogcapi_driver_of_debian_gdal_opens_the_tiles(ogc_server: Server) -> None:
    z, col, row, _ = _demo_tile(ogc_server)
    out = subprocess.run(["ogrinfo", "-ro", "-oo", "API=TILES", "-oo", "VECTOR_FORMAT=MVT",
                          f"OGCAPI:{ogc_server.ogc}/collections/parcels", f"Zoom level {z}",
                          "-spat", *map(str, _tile_bounds(z, col, row))],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "parcel_code (String) =" in out.stdout


def test_ogcapi_driver_opens_the_tiles_and_reads_a_tile(ogc_server: Server) -> None:
    """GDAL's OGCAPI driver (API=TILES) as the project's own GDAL has it (the one pyogrio
    bundles, 3.12; Debian 12's 3.6 cannot open vector tiles from any server, see the module
    docstring): it opens the zoom level's layer with its fields, reads the demo tile's parcels by bbox, and
    puts them where the tile is. In a process of its own: the portal's readers turn GDAL's
    network off for theirs (spatial.readers._gdal)."""
    z, col, row, count = _demo_tile(ogc_server)
    bounds = _tile_bounds(z, col, row)
    out = subprocess.run([sys.executable, "-c", _OGCAPI_READ, f"OGCAPI:{ogc_server.ogc}/collections/parcels",
                          f"Zoom level {z}", *map(str, bounds)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    read = json.loads(out.stdout.strip().splitlines()[-1])
    assert "parcel_code" in read["fields"], read
    assert len(read["codes"]) >= 1, read
    with psycopg.connect(ogc_server.database_url) as conn:
        codes = {r[0] for r in conn.execute(
            "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL AND "
            "ST_Intersects(ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s))", (z, col, row))}
    assert set(read["codes"]) <= codes and len(codes) == count, (read["codes"], codes)
    xmin, ymin, xmax, ymax = read["bounds"]
    txmin, tymin, txmax, tymax = bounds
    assert xmin < txmax and xmax > txmin and ymin < tymax and ymax > tymin


def _tile_bounds(z: int, col: int, row: int) -> tuple[float, float, float, float]:
    """The tile's envelope in EPSG:3857 metres (xmin, ymin, xmax, ymax), shrunk by a metre."""
    half = 20037508.342789244
    size = 2 * half / 2**z
    xmin, ymax = -half + col * size, half - row * size
    return xmin + 1, ymax - size + 1, xmin + size - 1, ymax - 1
