"""The public portal's SQL: what anyone may see of a parcel, searches, labels and map extents.

Every statement here reads public columns only (geometry, codes, areas, land use,
administrative area, dates, unit numbers and locations). Parties, rights and restrictions are
never selected, so no route built on this module can leak them. Values are bound parameters;
PostGIS makes the GeoJSON, with x = longitude.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

__all__ = [
    "parcel_by_code", "parcel_at", "parcel_units", "parcel_history", "parcel_lineage",
    "search_parcel_codes", "search_unit_numbers", "search_locations", "search_parcel_labels", "labels_in",
    "admin_areas", "land_uses", "cadastre_extent", "parcel_sheet_place", "parcel_sheet_geometry",
    "parcel_kml_geometry",
]

Row = dict[str, Any]

_PARCEL_COLUMNS = """
    p.parcel_id, p.version, p.parcel_code, p.calculated_area, p.declared_area,
    p.land_use_code, lu.name_zh AS land_use_zh, lu.name_en AS land_use_en,
    p.admin_area_code, aa.name AS admin_area_name,
    p.valid_from, p.valid_to, p.begin_lifespan, p.end_lifespan,
    ST_AsGeoJSON(p.geom, 7)::json AS geometry,
    ARRAY[ST_XMin(p.geom), ST_YMin(p.geom), ST_XMax(p.geom), ST_YMax(p.geom)] AS bbox,
    ARRAY[ST_X(ST_PointOnSurface(p.geom)), ST_Y(ST_PointOnSurface(p.geom))] AS centroid
"""

_PARCEL_FROM = """
    FROM parcels p
    JOIN land_uses lu ON lu.code = p.land_use_code
    JOIN admin_areas aa ON aa.code = p.admin_area_code
"""


async def _all(conn: AsyncConnection, sql: str, params: tuple[object, ...] | dict[str, object] = ()) -> list[Row]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def _one(conn: AsyncConnection, sql: str, params: tuple[object, ...] = ()) -> Row | None:
    rows = await _all(conn, sql, params)
    return rows[0] if rows else None


async def parcel_by_code(conn: AsyncConnection, parcel_code: str) -> Row | None:
    """The current version of the parcel, else its last one (a retired parcel keeps its page)."""
    return await _one(conn, f"""
        SELECT {_PARCEL_COLUMNS} {_PARCEL_FROM}
         WHERE p.parcel_code = %s
         ORDER BY p.end_lifespan IS NULL DESC, p.end_lifespan DESC
         LIMIT 1""", (parcel_code,))


async def parcel_at(conn: AsyncConnection, lon: float, lat: float) -> Row | None:
    """The current parcel that covers the point (the smallest, should two touch there)."""
    return await _one(conn, f"""
        SELECT {_PARCEL_COLUMNS} {_PARCEL_FROM}
         WHERE p.end_lifespan IS NULL
           AND ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4490))
         ORDER BY ST_Area(p.geom)
         LIMIT 1""", (lon, lat))


async def parcel_units(conn: AsyncConnection, parcel_id: int) -> list[Row]:
    """The current units on a parcel: unit number and location only."""
    return await _all(conn, """
        SELECT unit_number, location FROM units
         WHERE parcel_id = %s AND end_lifespan IS NULL
         ORDER BY unit_number""", (parcel_id,))


async def parcel_history(conn: AsyncConnection, parcel_id: int) -> list[Row]:
    """Every version of the parcel, newest first, with what the public may see of each."""
    return await _all(conn, """
        SELECT p.version, p.parcel_code, p.land_use_code, lu.name_zh AS land_use_zh,
               lu.name_en AS land_use_en, p.calculated_area, p.begin_lifespan, p.end_lifespan
          FROM parcels p JOIN land_uses lu ON lu.code = p.land_use_code
         WHERE p.parcel_id = %s
         ORDER BY p.version DESC""", (parcel_id,))


async def parcel_lineage(conn: AsyncConnection, parcel_id: int) -> list[Row]:
    """Splits and merges the parcel came from (`parent`) or went into (`child`)."""
    return await _all(conn, """
        SELECT 'parent' AS relation, l.event, l.recorded_at, o.parcel_code
          FROM parcel_lineage l
          CROSS JOIN LATERAL (SELECT parcel_code FROM parcels WHERE parcel_id = l.parent_parcel_id
                               ORDER BY version DESC LIMIT 1) o
         WHERE l.child_parcel_id = %s
        UNION ALL
        SELECT 'child', l.event, l.recorded_at, o.parcel_code
          FROM parcel_lineage l
          CROSS JOIN LATERAL (SELECT parcel_code FROM parcels WHERE parcel_id = l.child_parcel_id
                               ORDER BY version DESC LIMIT 1) o
         WHERE l.parent_parcel_id = %s
         ORDER BY recorded_at, parcel_code""", (parcel_id, parcel_id))


_HIT_COLUMNS = """
    ARRAY[ST_XMin(p.geom), ST_YMin(p.geom), ST_XMax(p.geom), ST_YMax(p.geom)] AS bbox,
    ARRAY[ST_X(ST_PointOnSurface(p.geom)), ST_Y(ST_PointOnSurface(p.geom))] AS centroid
"""


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    """A code prefix as a range, so the btree on codes answers it under any collation of A-Z0-9."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


async def search_parcel_codes(conn: AsyncConnection, prefix: str, limit: int) -> list[Row]:
    low, high = _prefix_bounds(prefix)
    return await _all(conn, f"""
        SELECT p.parcel_code, NULL::text AS unit_number, NULL::text AS location, {_HIT_COLUMNS}
          FROM parcels p
         WHERE p.end_lifespan IS NULL AND p.parcel_code >= %s AND p.parcel_code < %s
         ORDER BY p.parcel_code LIMIT %s""", (low, high, limit))  # noqa: S608 (constant columns)


async def search_unit_numbers(conn: AsyncConnection, prefix: str, limit: int) -> list[Row]:
    low, high = _prefix_bounds(prefix)
    return await _all(conn, f"""
        SELECT p.parcel_code, u.unit_number, u.location, {_HIT_COLUMNS}
          FROM units u JOIN parcels p ON p.parcel_id = u.parcel_id AND p.end_lifespan IS NULL
         WHERE u.end_lifespan IS NULL AND u.unit_number >= %s AND u.unit_number < %s
         ORDER BY u.unit_number LIMIT %s""", (low, high, limit))  # noqa: S608 (constant columns)


async def search_parcel_labels(conn: AsyncConnection, number: str,
                               view: tuple[float, float, float, float], limit: int) -> list[Row]:
    """Current parcels whose code ends in `number` (the five-digit parcel sequence number, 宗地顺序号,
    that the map's labels show below zoom 20), those inside `view` (min lon, min lat, max lon,
    max lat, CGCS2000 degrees) first, then the nearest to its centre.

    The sequence number repeats once per cadastral block, so the nearest are found by the
    current-parcel GiST index in distance order (KNN, `<->`) until `limit` match, within one
    view's width and height around the view (a number no parcel nearby carries then reads that
    box only, not the whole cadastre: 29 ms for a 0.015° view of the 1,000,000-parcel bench,
    load 7); only those are then ranked in-view first.
    """
    return await _all(conn, f"""
        WITH near AS (
            SELECT p.parcel_code, p.geom,
                   p.geom <-> ST_SetSRID(ST_MakePoint(%(cx)s, %(cy)s), 4490) AS distance
              FROM parcels p
             WHERE p.end_lifespan IS NULL AND right(p.parcel_code, 5) = %(number)s
               AND p.geom && ST_MakeEnvelope(%(x0)s - %(w)s, %(y0)s - %(h)s, %(x1)s + %(w)s, %(y1)s + %(h)s, 4490)
             ORDER BY p.geom <-> ST_SetSRID(ST_MakePoint(%(cx)s, %(cy)s), 4490)
             LIMIT %(limit)s)
        SELECT p.parcel_code, NULL::text AS unit_number, NULL::text AS location, {_HIT_COLUMNS}
          FROM near p
         ORDER BY p.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4490) DESC, p.distance,
                  p.parcel_code""",  # noqa: S608 (constant columns)
                      {"number": number, "limit": limit, "cx": (view[0] + view[2]) / 2,
                       "cy": (view[1] + view[3]) / 2, "x0": view[0], "y0": view[1], "x1": view[2],
                       "y1": view[3], "w": view[2] - view[0], "h": view[3] - view[1]})


_REGEX_SPECIAL = set("\\.^$*+?()[]{}|-")


def _whole_number_pattern(word: str) -> str:
    """A regular expression (PostgreSQL's) matching `word` where its leading and trailing digits
    are whole numbers: "33号" matches 解放路33号 but not 解放路133号, "路3" not 路33."""
    body = "".join("\\" + c if c in _REGEX_SPECIAL else c for c in word)
    if word[:1].isdigit():
        body = "(^|[^0-9])" + body
    if word[-1:].isdigit():
        body += "([^0-9]|$)"
    return body


async def search_locations(conn: AsyncConnection, text: str, limit: int) -> list[Row]:
    """Units whose location (坐落) contains every word of the text, those where each number
    typed is a whole number of the location first ("解放路 33号" puts 解放路33号 before
    解放路133号 and 解放路233号), then the shorter locations.

    The bigram index (migration 0005) narrows the candidates to units holding every
    two-character piece of the words; LIKE then keeps the exact matches. No ORDER BY before the
    LIMIT: a broad text (上城区) then stops at the first matches instead of sorting them all;
    the whole-number matches are a second, narrower look-up of their own, so they are never
    cut off by the first's LIMIT.
    """
    words = text.split()
    patterns = ["%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                for w in words]
    exact = [_whole_number_pattern(w) for w in words]
    return await _all(conn, f"""
        WITH candidates AS NOT MATERIALIZED (  -- inlined in both: each stops at its LIMIT
            SELECT unit_number, location, parcel_id FROM units
             WHERE end_lifespan IS NULL
               AND location_bigrams(location) @> (
                   SELECT coalesce(array_agg(DISTINCT b), '{{}}')
                     FROM unnest(%(words)s::text[]) AS w, unnest(location_bigrams(w)) AS b)
               AND location LIKE ALL (%(patterns)s::text[])),
        found AS (
            (SELECT 0 AS rank, * FROM candidates
              WHERE location ~ ALL (%(exact)s::text[]) LIMIT %(limit)s)
            UNION ALL
            (SELECT 1 AS rank, * FROM candidates LIMIT %(limit)s)),
        best AS (
            SELECT DISTINCT ON (unit_number) * FROM found ORDER BY unit_number, rank)
        SELECT p.parcel_code, u.unit_number, u.location, {_HIT_COLUMNS}
          FROM best u
          JOIN parcels p ON p.parcel_id = u.parcel_id AND p.end_lifespan IS NULL
         ORDER BY u.rank, length(u.location), u.location
         LIMIT %(limit)s""",  # noqa: S608 (constant columns)
                      {"words": words, "patterns": patterns, "exact": exact, "limit": limit})


async def labels_in(conn: AsyncConnection, bbox: tuple[float, float, float, float],
                    limit: int) -> list[Row]:
    """Parcel codes at a point inside each current parcel in the box (for map labels)."""
    return await _all(conn, """
        SELECT parcel_code, ST_X(pt) AS lon, ST_Y(pt) AS lat
          FROM (SELECT parcel_code, ST_PointOnSurface(geom) AS pt FROM parcels
                 WHERE end_lifespan IS NULL
                   AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490)
                 LIMIT %s) s""", (*bbox, limit))


async def admin_areas(conn: AsyncConnection) -> list[Row]:
    return await _all(conn, """
        SELECT code, name, ST_AsGeoJSON(boundary, 6)::json AS geometry,
               ARRAY[ST_XMin(boundary), ST_YMin(boundary),
                     ST_XMax(boundary), ST_YMax(boundary)] AS bbox
          FROM admin_areas ORDER BY code""")


async def land_uses(conn: AsyncConnection) -> list[Row]:
    """The first-level GB/T 21010 classes (the legend)."""
    return await _all(conn, """
        SELECT code, name_zh, name_en FROM land_uses WHERE parent IS NULL ORDER BY code""")


async def cadastre_extent(conn: AsyncConnection) -> list[float] | None:
    """Where the current parcels are (from the index statistics when possible: it is cheap)."""
    row = await _one(conn, """
        SELECT ARRAY[ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)] AS bbox
          FROM (SELECT coalesce(ST_EstimatedExtent('public', 'parcels', 'geom')::geometry,
                                (SELECT ST_Extent(geom) FROM parcels
                                  WHERE end_lifespan IS NULL)) AS e) s
         WHERE e IS NOT NULL""")
    return row["bbox"] if row else None


async def parcel_sheet_place(conn: AsyncConnection, parcel_id: int, version: int) -> Row | None:
    """The parcel's survey SRID and the longitude/latitude of its centroid (CGCS2000), from which
    `portal.public.sheet.sheet_srid` picks the metric CRS its sheet is drawn in."""
    return await _one(conn, """
        SELECT ST_SRID(survey_geom) AS survey_srid, ST_X(ST_Centroid(geom)) AS lon, ST_Y(ST_Centroid(geom)) AS lat
          FROM parcels WHERE parcel_id = %s AND version = %s""", (parcel_id, version))


async def parcel_sheet_geometry(conn: AsyncConnection, parcel_id: int, version: int, srid: int) -> Row | None:
    """What the printed sheet draws: the parcel, its neighbours and its boundary points, in EPSG:`srid`.

    The map extract is drawn in a projected CRS in metres (`sheet_srid`: the survey CRS when it is
    one, else the CGCS2000 Gauss-Krüger zone of the parcel), so distances on paper are true;
    neighbours are the current parcels within 30 m. Boundary points are the vertices in that CRS
    (northing X, easting Y, as the exchange file writes them).
    `digitised_rms`: the georeferencing RMS in metres when the parcel was digitised from a scan.
    """
    return await _one(conn, """
        WITH me AS (
            SELECT ST_Transform(survey_geom, %s::int) AS survey_geom, geom, %s::int AS srid, source_id FROM parcels
             WHERE parcel_id = %s AND version = %s
        )
        SELECT me.srid,
               (SELECT srtext FROM spatial_ref_sys WHERE srid = me.srid) AS srtext,
               ST_AsGeoJSON(me.survey_geom, 3)::json AS geometry,
               (SELECT coalesce(json_agg(json_build_object(
                           'parcel_code', n.parcel_code,
                           'geometry', ST_AsGeoJSON(ST_Transform(n.geom, me.srid), 3)::json)), '[]')
                  FROM parcels n
                 WHERE n.end_lifespan IS NULL
                   AND n.parcel_code <> (SELECT parcel_code FROM parcels
                                          WHERE parcel_id = %s AND version = %s)
                   AND ST_DWithin(n.geom, me.geom, 0.0003)) AS neighbours,
               (SELECT json_agg(json_build_array(d.path, ST_Y(d.geom), ST_X(d.geom))
                                ORDER BY d.path)
                  FROM ST_DumpPoints(me.survey_geom) d) AS points,
               (SELECT (g.fit->>'rms_m')::float8 FROM submissions s JOIN digitisations g USING (submission_id)
                 WHERE s.source_id = me.source_id LIMIT 1) AS digitised_rms
          FROM me""", (srid, srid, parcel_id, version, parcel_id, version))


async def parcel_kml_geometry(conn: AsyncConnection, parcel_id: int, version: int) -> str | None:
    """The parcel version's boundary as a KML 2.2 geometry element (`<Polygon>` or
    `<MultiGeometry>`), written by PostGIS (ST_AsKML, 9 decimals of a degree: 0.1 mm).

    KML is WGS 84 longitude, latitude (OGC 07-147r2). The CGCS2000 (EPSG:4490) coordinates are
    written unchanged: CGCS2000 (ITRF97, epoch 2000.0) and the realisations of WGS 84 since
    G1150 (aligned to ITRF2000) agree within a few centimetres, and PROJ's own 4490 -> 4326
    operation is that same null shift; the SRID is only relabelled so that no transformation
    is looked up. Axis order stays lon, lat, as both KML and PostGIS store it.
    """
    row = await _one(conn, """
        SELECT ST_AsKML(ST_SetSRID(geom, 4326), 9) AS kml FROM parcels
         WHERE parcel_id = %s AND version = %s""", (parcel_id, version))
    return None if row is None else str(row["kml"])
