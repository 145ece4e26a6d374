"""numberMatched, the storage CRS, `after` in the OpenAPI document, pruned invalidations and
extents that follow publications: over real HTTP, checked against PostGIS itself."""

from __future__ import annotations

import time

import httpx
import psycopg
import pyproj
import pytest
from ogc_server import Server

from layers.tiles import invalidate

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
ITEMS = "/collections/parcels/items"


def _get(server: Server, path: str, **params: object) -> httpx.Response:
    response = httpx.get(server.ogc + path, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response


def _count(server: Server, where: str = "TRUE", *args: object) -> int:
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM parcels p WHERE p.end_lifespan IS NULL AND "  # noqa: S608
                           f"{where}", args or None).fetchone()
    assert row is not None
    return int(row[0])


def _centre(server: Server) -> tuple[float, float]:
    with psycopg.connect(server.database_url) as conn:
        row = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c "
                           "FROM parcels WHERE end_lifespan IS NULL) s").fetchone()
    assert row is not None
    return float(row[0]), float(row[1])


# numberMatched -------------------------------------------------------------------------------

def test_number_matched_is_exact_on_a_small_collection(ogc_server: Server) -> None:
    """The demo district is under count_limit: every query says how many match."""
    page = _get(ogc_server, ITEMS, limit=7).json()
    assert page["numberReturned"] == 7
    assert page["numberMatched"] == _count(ogc_server)
    use = page["features"][0]["properties"]["land_use_code"]
    filtered = _get(ogc_server, ITEMS, limit=3, filter=f"land_use_code = '{use}' AND area > 100")
    assert filtered.json()["numberMatched"] == _count(
        ogc_server, "p.land_use_code = %s AND p.calculated_area > 100", use)
    lon, lat = _centre(ogc_server)
    box = (lon - 0.002, lat - 0.002, lon + 0.002, lat + 0.002)
    boxed = _get(ogc_server, ITEMS, limit=2, bbox=",".join(map(str, box))).json()
    assert boxed["numberMatched"] == _count(
        ogc_server, "ST_Intersects(p.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4490))", *box) > 2
    # A condition on a joined name (the count then needs the joins) inside the same bbox.
    name = page["features"][0]["properties"]["land_use_name"]
    named = _get(ogc_server, ITEMS, limit=1, bbox=",".join(map(str, box)),
                 filter=f"land_use_name = '{name}'").json()
    assert named["numberMatched"] == _count(
        ogc_server, "ST_Intersects(p.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4490)) AND "
        "p.land_use_code IN (SELECT code FROM land_uses WHERE name_zh = %s)", *box, name)
    # A page after a keyset cursor still counts the whole selection, not what is left.
    nxt = [link["href"] for link in page["links"] if link["rel"] == "next"][0]
    assert "after=" in nxt
    assert httpx.get(nxt, timeout=30).json()["numberMatched"] == page["numberMatched"]


def test_number_matched_is_left_out_when_counting_would_be_dear(writable_server: Server) -> None:
    """count_limit is 50 on this 120-parcel district: whole-collection pages do not count."""
    total = _count(writable_server)
    assert total > 50
    page = _get(writable_server, ITEMS, limit=10).json()
    assert "numberMatched" not in page and page["numberReturned"] == 10
    # The last page of an offset query knows the number for free.
    last = _get(writable_server, ITEMS, limit=10, offset=total - 4).json()
    assert last["numberReturned"] == 4 and last["numberMatched"] == total
    # Past the end nothing is known: no number rather than a wrong one.
    assert "numberMatched" not in _get(writable_server, ITEMS, limit=10, offset=total + 5).json()
    # A bbox selecting fewer than 50 parcels is counted, a larger one is not.
    lon, lat = _centre(writable_server)
    where = "ST_Intersects(p.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4490))"
    half = 0.0005
    while _count(writable_server, where, lon - half, lat - half, lon + half, lat + half) < 8:
        half *= 1.5
    small = (lon - half, lat - half, lon + half, lat + half)
    expected = _count(writable_server, where, *small)
    assert 8 <= expected <= 50
    counted = _get(writable_server, ITEMS, limit=3, bbox=",".join(map(str, small))).json()
    assert counted["numberMatched"] == expected and counted["numberReturned"] == 3
    everything = "119,29,122,32"
    assert "numberMatched" not in _get(writable_server, ITEMS, limit=3, bbox=everything).json()


# storage CRS ---------------------------------------------------------------------------------

def test_storage_crs_is_cgcs2000_and_offered(ogc_server: Server) -> None:
    for document in (_get(ogc_server, "/collections/parcels", f="json").json(),
                     *_get(ogc_server, "/collections", f="json").json()["collections"]):
        assert document["storageCrs"] == EPSG + "4490"
        assert document["storageCrs"] in document["crs"]
        # CGCS2000 is a static reference frame: no coordinate epoch applies.
        assert "storageCrsCoordinateEpoch" not in document
    datum = pyproj.CRS.from_epsg(4490).datum.to_json_dict()
    assert datum["type"] == "GeodeticReferenceFrame"  # not DynamicGeodeticReferenceFrame


def _codes_in_html(html: str, candidates: list[str]) -> set[str]:
    return {code for code in candidates if code in html}


def test_pygeoapi_pages_read_bbox_and_filter_in_the_right_axis_order(ogc_server: Server) -> None:
    """pygeoapi (HTML items) hands our provider a bbox transformed into the storage CRS,
    latitude first, and the filter as the items route parsed it; they must select what the
    JSON route selects."""
    lon, lat = _centre(ogc_server)
    box = [lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001]
    with psycopg.connect(ogc_server.database_url) as conn:
        everything = [r[0] for r in conn.execute(
            "SELECT parcel_code FROM parcels WHERE end_lifespan IS NULL").fetchall()]
    bbox = ",".join(map(str, box))
    expected = {f["id"] for f in _get(ogc_server, ITEMS, bbox=bbox, limit=500).json()["features"]}
    assert expected
    html = _get(ogc_server, ITEMS, bbox=bbox, limit=500, f="html").text
    assert _codes_in_html(html, everything) == expected
    # The same box as a bbox-crs EPSG:4490 (latitude first).
    swapped = ",".join(map(str, [box[1], box[0], box[3], box[2]]))
    html = _get(ogc_server, ITEMS, bbox=swapped, limit=500, f="html",
                **{"bbox-crs": EPSG + "4490"}).text
    assert _codes_in_html(html, everything) == expected
    polygon = (f"POLYGON(({box[0]} {box[1]}, {box[2]} {box[1]}, {box[2]} {box[3]}, "
               f"{box[0]} {box[3]}, {box[0]} {box[1]}))")
    # The pages filter by CQL2 text, as GeoJSON does (ECQL's INTERSECTS is refused in every
    # format: tests/layers/test_ogc_one_answer.py).
    html = _get(ogc_server, ITEMS, filter=f"S_INTERSECTS(geometry, {polygon})", limit=500,
                f="html").text
    assert _codes_in_html(html, everything) == expected


def test_provider_without_a_transformation_answers_in_the_storage_crs(ogc_server: Server) -> None:
    """pygeoapi asks for no transformation when the client wants the storage CRS: the
    provider then answers in EPSG:4490's own order, latitude first, like the JSON route."""
    from layers.providers.features import FeatureProvider

    feature = _get(ogc_server, ITEMS, limit=1).json()["features"][0]
    provider = FeatureProvider({"name": "layers.providers.features.FeatureProvider",
                                "type": "feature", "collection": "parcels",
                                "data": ogc_server.database_url})
    stored = provider.get(feature["id"], crs_transform_spec=None)
    served = _get(ogc_server, f"{ITEMS}/{feature['id']}", crs=EPSG + "4490").json()
    assert stored["geometry"] == served["geometry"]
    lon, lat = feature["geometry"]["coordinates"][0][0][0]
    assert stored["geometry"]["coordinates"][0][0][0] == pytest.approx([lat, lon])


# OpenAPI -------------------------------------------------------------------------------------

def test_openapi_describes_the_after_cursor(ogc_server: Server) -> None:
    document = _get(ogc_server, "/openapi", f="json").json()
    for collection in ("parcels", "admin-areas"):
        parameters = document["paths"][f"/collections/{collection}/items"]["get"]["parameters"]
        after = [p for p in parameters if p.get("name") == "after"]
        assert len(after) == 1
        assert after[0]["in"] == "query" and after[0]["schema"] == {"type": "string"}
        assert "next" in after[0]["description"]


# tile_invalidations upkeep -------------------------------------------------------------------

def test_old_invalidations_are_pruned_and_new_ones_kept(writable_server: Server) -> None:
    url = writable_server.database_url
    lon, lat = _centre(writable_server)
    with psycopg.connect(url) as conn:
        old = [r[0] for r in conn.execute(
            "INSERT INTO tile_invalidations (layer, bounds, recorded_at) SELECT 'parcels', "
            "ST_MakeBox2D(ST_Point(%s, %s), ST_Point(%s, %s)), now() - interval '2 hours' "
            "FROM generate_series(1, 5) RETURNING invalidation_id",
            (lon, lat, lon + 1e-4, lat + 1e-4)).fetchall()]
        fresh = invalidate(conn, (lon, lat, lon + 1e-4, lat + 1e-4))
    deadline = time.monotonic() + 15
    left: set[int] = set(old)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        with psycopg.connect(url) as conn:
            left = {r[0] for r in conn.execute(
                "SELECT invalidation_id FROM tile_invalidations WHERE invalidation_id = ANY(%s)",
                (old,)).fetchall()}
    assert not left, "rows older than the retention were not pruned"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM tile_invalidations WHERE invalidation_id = %s",
                            (fresh,)).fetchone() == (1,)


# extents -------------------------------------------------------------------------------------

def _extent(server: Server) -> list[float]:
    document = _get(server, "/collections/parcels", f="json").json()
    return [float(v) for v in document["extent"]["spatial"]["bbox"][0]]


def test_extent_follows_a_change_without_a_restart(writable_server: Server) -> None:
    url = writable_server.database_url
    before = _extent(writable_server)
    # A parcel published just east of the district (here: its recorded change).
    east = (before[2] + 0.01, before[1], before[2] + 0.02, before[3])
    with psycopg.connect(url) as conn:
        invalidate(conn, east)
    deadline = time.monotonic() + 10
    after = before
    while after == before and time.monotonic() < deadline:
        time.sleep(0.1)
        after = _extent(writable_server)
    assert after == pytest.approx([before[0], before[1], east[2], before[3]])


def test_admin_area_extent_is_measured_again(writable_server: Server) -> None:
    url = writable_server.database_url
    document = _get(writable_server, "/collections/admin-areas", f="json").json()
    before = [float(v) for v in document["extent"]["spatial"]["bbox"][0]]
    with psycopg.connect(url) as conn:
        code = conn.execute("SELECT code FROM admin_areas ORDER BY code LIMIT 1").fetchone()[0]
        conn.execute("UPDATE admin_areas SET boundary = ST_Multi(ST_Translate(boundary, 0.5, 0))"
                     " WHERE code = %s", (code,))
        (expected,) = conn.execute(
            "SELECT ARRAY[ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)] FROM "
            "(SELECT ST_Extent(boundary)::geometry e FROM admin_areas) s").fetchone()
    try:
        deadline = time.monotonic() + 10
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.1)
            after = [float(v) for v in _get(writable_server, "/collections/admin-areas",
                                            f="json").json()["extent"]["spatial"]["bbox"][0]]
        assert after == pytest.approx(list(expected))
        assert after[2] > before[2] + 0.4
    finally:
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE admin_areas SET boundary = "
                         "ST_Multi(ST_Translate(boundary, -0.5, 0)) WHERE code = %s", (code,))
