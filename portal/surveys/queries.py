"""Every SQL statement of the surveys room: submissions, the checks against the cadastre, and
publication.

Values are always bound (`%s`, `%(name)s`); statements that are put together from parts (the
submission listing's filters) are composed with `psycopg.sql`. The statements keep the shapes
that make them fast: arrays of WKB unnested in one round trip, binary COPY for publication.
"""

from __future__ import annotations

from psycopg import sql

__all__ = [
    "PUBLISHED_AREA", "RETIRED_CODES", "INSERT_SUBMISSION", "INSERT_PARCELS", "INSERT_RETIREMENTS", "summary",
    "submission", "SUBMISSION_PARCELS", "listing", "LOCK_SUBMISSION", "RETIRING", "FILE_CONTENT", "AS_READ",
    "SUBMITTED", "APPROVED", "REJECTED", "WITHDRAWN", "PREVIEW", "PREVIEW_ISSUES", "CADASTRE_VALIDATION", "COVERAGE",
    "LAND_USES",
    "CURRENT_AMONG", "CODES_OF", "UNITS_ON", "LOCK_CADASTRE", "INSERT_SOURCE", "LINEAGE", "CURRENT_CODES",
    "NEXT_PARCEL_IDS", "COPY_PARCELS", "COPY_TYPES", "INSERT_LINEAGE", "EXTENT", "CADASTRE_EXTENT", "REPORT_PAGE",
]

# --- submissions (workflow.py) ---------------------------------------------------------------

# The area publication will store for a submitted parcel: the parcels table's insert trigger
# derives `calculated_area` from the survey geometry and its CGCS2000 transform (migrations
# 0001 and 0008: planar in a CGCS2000 Gauss-Krüger zone, else `parcel_area()`). This is the
# same expression, asked of the same database, so what the report shows is what is published.
# Parcels without a usable lon/lat geometry (`geom` NULL: validation reports them) show none.
PUBLISHED_AREA = sql.SQL("""
CASE WHEN geom IS NULL THEN NULL
     WHEN ST_SRID(survey_geom) BETWEEN 4491 AND 4554 THEN round(ST_Area(survey_geom)::numeric, 2)
     ELSE parcel_area(survey_geom, ST_Multi(ST_Transform(survey_geom, 4490)))
END""")

RETIRED_CODES = "SELECT parcel_id, parcel_code FROM current_parcels WHERE parcel_code = ANY(%s)"

INSERT_SUBMISSION = """
INSERT INTO submissions (purpose, file_name, file_format, file_sha256, file_content, crs, description, report,
                         error_count, warning_count, created_by, created_by_name, read_issues)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING submission_id
"""

INSERT_PARCELS = """
INSERT INTO submission_parcels (submission_id, position, place, parcel_code, land_use_code, name, declared_area,
                                survey_geom, geom, as_read)
VALUES (%s, %s, %s, %s, %s, %s, %s, ST_SetSRID(ST_GeomFromWKB(%s), %s),
        ST_Multi(ST_SetSRID(ST_GeomFromWKB(%s), 4490)), %s)
"""

INSERT_RETIREMENTS = "INSERT INTO submission_retirements (submission_id, parcel_id, parcel_code) VALUES (%s, %s, %s)"

_SUMMARY = sql.SQL("""
SELECT s.submission_id AS id, s.status, s.purpose, s.file_name, s.file_format, s.file_sha256,
       octet_length(s.file_content) AS file_size, s.crs, s.description, s.error_count, s.warning_count,
       s.created_by, s.created_by_name, s.created_at, s.submitted_at, s.decided_at, s.decided_by_name,
       s.reasons, s.source_id{extra},
       (SELECT count(*) FROM submission_parcels p WHERE p.submission_id = s.submission_id) AS parcel_count,
       ARRAY(SELECT parcel_code FROM submission_retirements r WHERE r.submission_id = s.submission_id
             ORDER BY parcel_code) AS retires
  FROM submissions s
""")


def summary(*, with_report: bool) -> sql.Composed:
    """A submission's summary row, with its report or without (the listing leaves it out)."""
    return _SUMMARY.format(extra=sql.SQL(", s.report") if with_report else sql.SQL(""))




def submission(*, with_report: bool) -> sql.Composed:
    """One submission's summary row, by id."""
    return summary(with_report=with_report) + sql.SQL(" WHERE s.submission_id = %s")


# One page of a submission's report: the report without its issues, how many issues it holds,
# and issues [offset, offset + limit) sliced out in the server (a 100,000-issue report is never
# sent, or even parsed, whole).
REPORT_PAGE = """
SELECT s.report - 'issues' AS report, jsonb_array_length(s.report -> 'issues') AS total,
       jsonb_path_query_array(s.report -> 'issues', '$[$first to $last]',
                              jsonb_build_object('first', %(offset)s::bigint,
                                                 'last', %(offset)s::bigint + %(limit)s::bigint - 1)) AS issues
  FROM submissions s WHERE s.submission_id = %(id)s
"""

SUBMISSION_PARCELS = sql.SQL("""
SELECT position, place, parcel_code, land_use_code, name, declared_area::float8,
       ({published_area})::float8 AS calculated_area
  FROM submission_parcels WHERE submission_id = %s ORDER BY position
""").format(published_area=PUBLISHED_AREA)


def listing(*, mine: bool, status: bool) -> sql.Composed:
    """Submissions newest first, the queue (submitted ones) in order of arrival. Binds, in order:
    the author when `mine`, the status when `status`, then the limit."""
    where = [sql.SQL(f) for f, wanted in (("s.created_by = %s", mine), ("s.status = %s", status)) if wanted]
    return sql.Composed([
        summary(with_report=False),
        sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
        sql.SQL(" ORDER BY s.submitted_at NULLS LAST, s.created_at DESC LIMIT %s"),
    ])


LOCK_SUBMISSION = """
SELECT submission_id, status, purpose, file_name, crs, created_by, read_issues, report->>'crs_source' AS crs_source
  FROM submissions WHERE submission_id = %s FOR UPDATE
"""

RETIRING = "SELECT parcel_id FROM submission_retirements WHERE submission_id = %s ORDER BY parcel_id"

FILE_CONTENT = "SELECT file_content FROM submissions WHERE submission_id = %s"

# The parcels as read at upload: survey geometry (WKB, its SRID), the lon/lat geometry made then
# (WKB, NULL where it could not be made), the attributes, and what validation needs beyond them
# (unpacked here: decoding 5,000 small JSON documents in Python cost more than the whole check).
AS_READ = """
SELECT ST_AsBinary(survey_geom), ST_SRID(survey_geom), ST_AsBinary(geom), place, land_use_code, name,
       as_read ->> 'parcel_code', (as_read ->> 'declared_area')::float8, NULLIF(as_read -> 'warnings', '[]')
  FROM submission_parcels WHERE submission_id = %s ORDER BY position
"""

SUBMITTED = """
UPDATE submissions SET status = 'submitted', submitted_at = now(), report = %s, warning_count = %s
 WHERE submission_id = %s
"""

APPROVED = """
UPDATE submissions SET status = 'approved', decided_at = now(), decided_by = %s, decided_by_name = %s,
       source_id = %s, report = %s, warning_count = %s
 WHERE submission_id = %s
"""

REJECTED = """
UPDATE submissions SET status = 'rejected', decided_at = now(), decided_by = %s, decided_by_name = %s, reasons = %s
 WHERE submission_id = %s
"""

WITHDRAWN = "UPDATE submissions SET status = 'withdrawn' WHERE submission_id = %s"

PREVIEW = """
WITH upload AS (
    SELECT 'upload' AS layer, p.position AS parcel_index, p.parcel_code, p.place, p.geom
      FROM submission_parcels p WHERE p.submission_id = %(id)s AND p.geom IS NOT NULL
),
extent AS (SELECT ST_Expand(ST_Extent(geom), 0.002) AS box FROM upload),
retired AS (
    SELECT DISTINCT ON (p.parcel_id) 'retired' AS layer, NULL::int AS parcel_index, p.parcel_code, NULL AS place,
           p.geom
      FROM submission_retirements r JOIN parcels p ON p.parcel_id = r.parcel_id
     WHERE r.submission_id = %(id)s ORDER BY p.parcel_id, p.version DESC
),
cadastre AS (
    SELECT 'cadastre' AS layer, NULL::int, c.parcel_code, NULL, c.geom
      FROM current_parcels c, extent
     WHERE c.geom && extent.box
       AND c.parcel_id NOT IN (SELECT parcel_id FROM submission_retirements WHERE submission_id = %(id)s)
     LIMIT 2000
)
SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(f), '[]'::json))
  FROM (
    SELECT json_build_object('type', 'Feature', 'geometry', ST_AsGeoJSON(geom, 7)::json,
           'properties', json_build_object('layer', layer, 'parcel_index', parcel_index,
                                           'parcel_code', parcel_code, 'place', place)) AS f
      FROM (SELECT * FROM upload UNION ALL SELECT * FROM retired UNION ALL SELECT * FROM cadastre) g
  ) features
"""
# The located faults of a submission's report, in the CRS of its file: made into lon/lat in Python,
# where a location that cannot be transformed (coordinates outside the CRS) is left off the map.
PREVIEW_ISSUES = """
SELECT s.crs, (i ->> 'parcel_index')::int AS parcel_index, i ->> 'code' AS code, i ->> 'message' AS message,
       i ->> 'location' AS location, i ->> 'severity' AS severity
  FROM submissions s, jsonb_array_elements(s.report -> 'issues') AS i
 WHERE s.submission_id = %(id)s AND i ->> 'location' IS NOT NULL
"""

# --- validation against the cadastre (cadastre_validation.py) -------------------------------

CADASTRE_VALIDATION = """
WITH upload AS (
    SELECT i, ST_Multi(ST_GeomFromWKB(w, 4490)) AS geom, code, crs
      FROM unnest(%(indices)b::int[], %(wkb)b::bytea[], %(codes)b::text[], %(crs)b::int[]) AS u(i, w, code, crs)
)
SELECT u.i, 'overlap' AS problem, p.parcel_code,
       ST_Area(ST_Intersection(u.geom, p.geom)::geography) AS area,
       ST_AsText(ST_Transform(ST_Intersection(u.geom, p.geom), u.crs)) AS location
  FROM upload u JOIN current_parcels p ON ST_Intersects(u.geom, p.geom)
       AND NOT ST_Touches(u.geom, p.geom)
       AND NOT (p.parcel_id = ANY(%(retiring)s::bigint[]))
UNION ALL
SELECT u.i, 'code_taken', p.parcel_code, NULL, NULL
  FROM upload u JOIN current_parcels p ON p.parcel_code = u.code::bpchar  -- bpchar: the index, no truncation
 WHERE NOT (p.parcel_id = ANY(%(retiring)s::bigint[]))
UNION ALL
SELECT u.i, 'outside', a.code,
       ST_Area(ST_Difference(u.geom, a.boundary)::geography),
       ST_AsText(ST_Transform(ST_Difference(u.geom, a.boundary), u.crs))
  FROM upload u JOIN admin_areas a ON a.code = left(u.code, 6)
 WHERE NOT ST_Covers(a.boundary, u.geom)  -- boundary first: PostGIS prepares it once, 4x faster
UNION ALL
SELECT u.i, 'unknown_area', left(u.code, 6), NULL, NULL
  FROM upload u WHERE u.code IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM admin_areas a WHERE a.code = left(u.code, 6))
ORDER BY 1, 2, 3
"""

COVERAGE = """
WITH new AS (
    SELECT ST_UnaryUnion(ST_Collect(ST_GeomFromWKB(w, 4490))) AS g FROM unnest(%(wkb)s::bytea[]) AS w
), old AS (
    SELECT ST_UnaryUnion(ST_Collect(geom)) AS g FROM current_parcels WHERE parcel_id = ANY(%(ids)s::bigint[])
)
SELECT ST_Area(ST_Difference(old.g, new.g)::geography), ST_Area(ST_Difference(new.g, old.g)::geography),
       ST_AsText(ST_Transform(ST_SymDifference(old.g, new.g), %(crs)s))
  FROM new, old
"""

LAND_USES = "SELECT code FROM land_uses"

# The cadastre's own extent (lon/lat, EPSG:4490): the bounding box of its administrative areas.
CADASTRE_EXTENT = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(boundary) AS e FROM admin_areas) x
"""

CURRENT_AMONG = "SELECT parcel_id FROM current_parcels WHERE parcel_id = ANY(%s)"

CODES_OF = "SELECT DISTINCT parcel_id, parcel_code FROM parcels WHERE parcel_id = ANY(%s) ORDER BY 1"

UNITS_ON = """
SELECT p.parcel_code, count(u.unit_id) FROM current_parcels p JOIN current_units u ON u.parcel_id = p.parcel_id
 WHERE p.parcel_id = ANY(%s) GROUP BY p.parcel_code ORDER BY 1
"""

# --- publication (publication.py) ------------------------------------------------------------

LOCK_CADASTRE = "LOCK TABLE parcels IN SHARE ROW EXCLUSIVE MODE"

INSERT_SOURCE = """
INSERT INTO sources (kind, reference, issued_on, issuer, description)
VALUES ('survey_report', %s, %s, %s, %s) RETURNING source_id
"""

LINEAGE = """
SELECT p.parcel_id, n.i
  FROM unnest(%(wkb)s::bytea[]) WITH ORDINALITY AS n(w, i)
  JOIN current_parcels p ON p.parcel_id = ANY(%(retiring)s::bigint[])
   AND ST_Intersects(p.geom, ST_GeomFromWKB(n.w, 4490))
 WHERE ST_Area(ST_Intersection(p.geom, ST_GeomFromWKB(n.w, 4490))::geography) > %(tolerance)s
"""

CURRENT_CODES = "SELECT parcel_code, parcel_id FROM current_parcels WHERE parcel_id = ANY(%s)"

NEXT_PARCEL_IDS = "SELECT nextval('parcel_id_seq') FROM generate_series(1, %s)"

COPY_PARCELS = """
COPY parcels (parcel_id, parcel_code, admin_area_code, land_use_code, survey_geom, declared_area, valid_from,
              source_id)
FROM STDIN (FORMAT BINARY)
"""
# Binary COPY: the geometry goes as EWKB bytes (geometry_recv reads them), no hex round trip.
COPY_TYPES = ["int8", "text", "text", "text", "bytea", "numeric", "date", "int8"]

INSERT_LINEAGE = """
INSERT INTO parcel_lineage (parent_parcel_id, child_parcel_id, event, source_id) VALUES (%s, %s, %s, %s)
"""

EXTENT = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
  FROM (SELECT ST_Extent(geom) AS e FROM current_parcels WHERE parcel_id = ANY(%s)) x
"""
