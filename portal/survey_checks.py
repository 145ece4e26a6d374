"""The validation checks that need the cadastre: overlap with current parcels, a parcel code
already in use, and a parcel outside the administrative area its code names.

They plug into `spatial.validation.validate` as extra checks, and run again under a lock at
publication, since the cadastre may have changed since the upload was validated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
import shapely

from spatial.crs import to_cgcs2000_lonlat
from spatial.model import SurveyedParcel
from spatial.report import Issue, IssueCode
from spatial.validation import ParcelCheck, ValidationRules

__all__ = ["cadastre_checks"]

CHECK_SQL = """
WITH upload AS (
    SELECT i, ST_Multi(ST_GeomFromWKB(w, 4490)) AS geom, code
      FROM unnest(%(indices)s::int[], %(wkb)s::bytea[], %(codes)s::text[]) AS u(i, w, code)
)
SELECT u.i, 'overlap' AS problem, p.parcel_code,
       ST_Area(ST_Intersection(u.geom, p.geom)::geography) AS area,
       ST_AsText(ST_Intersection(u.geom, p.geom)) AS location
  FROM upload u JOIN current_parcels p ON ST_Intersects(u.geom, p.geom)
       AND NOT ST_Touches(u.geom, p.geom)
       AND NOT (p.parcel_id = ANY(%(retiring)s::bigint[]))
UNION ALL
SELECT u.i, 'code_taken', p.parcel_code, NULL, NULL
  FROM upload u JOIN current_parcels p ON p.parcel_code = u.code
 WHERE NOT (p.parcel_id = ANY(%(retiring)s::bigint[]))
UNION ALL
SELECT u.i, 'outside', a.code,
       ST_Area(ST_Difference(u.geom, a.boundary)::geography), ST_AsText(ST_Difference(u.geom, a.boundary))
  FROM upload u JOIN admin_areas a ON a.code = left(u.code, 6)
 WHERE NOT ST_CoveredBy(u.geom, a.boundary)
UNION ALL
SELECT u.i, 'unknown_area', left(u.code, 6), NULL, NULL
  FROM upload u WHERE u.code IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM admin_areas a WHERE a.code = left(u.code, 6))
ORDER BY 1, 2, 3
"""


def _lonlat_wkb(parcel: SurveyedParcel) -> bytes | None:
    try:
        geom = to_cgcs2000_lonlat(parcel.geometry, parcel.crs)
    except Exception:  # noqa: BLE001 - a parcel that cannot be transformed is reported by validation
        return None
    if geom.is_empty or not geom.is_valid:
        return None
    return bytes(shapely.to_wkb(geom))


def cadastre_checks(conn: psycopg.Connection, *, retiring: Sequence[int] = ()) -> ParcelCheck:
    """A check that compares an upload with the current cadastre over `conn`.

    `retiring` lists parcel ids a split or merge retires: they may be overlapped.
    """

    def check(parcels: Sequence[SurveyedParcel], rules: ValidationRules) -> Iterable[Issue]:
        rows = [(i, _lonlat_wkb(p), p.parcel_code) for i, p in enumerate(parcels)]
        rows = [r for r in rows if r[1] is not None]
        if not rows:
            return []
        issues: list[Issue] = []
        result = conn.execute(CHECK_SQL, {
            "indices": [r[0] for r in rows], "wkb": [r[1] for r in rows], "codes": [r[2] for r in rows],
            "retiring": list(retiring)})
        for index, problem, code, area, location in result:
            where = parcels[index].where
            if problem == "overlap":
                if area <= rules.overlap_tolerance_m2:
                    continue
                issues.append(Issue("error", IssueCode.OVERLAP_EXISTING,
                                    f"overlaps current parcel {code} by {area:.2f} m²", index, where, location,
                                    {"parcel_code": code, "area_m2": round(area, 3)}))
            elif problem == "code_taken":
                issues.append(Issue("error", IssueCode.PARCEL_CODE_TAKEN,
                                    f"parcel code {code} is already used by a current parcel", index, where,
                                    None, {"parcel_code": code}))
            elif problem == "outside":
                if area <= rules.overlap_tolerance_m2:
                    continue
                issues.append(Issue("error", IssueCode.OUTSIDE_ADMIN_AREA,
                                    f"{area:.2f} m² lie outside administrative area {code} named by the "
                                    "parcel code", index, where, location,
                                    {"admin_area_code": code, "area_m2": round(area, 3)}))
            else:
                issues.append(Issue("error", IssueCode.OUTSIDE_ADMIN_AREA,
                                    f"administrative area {code} (positions 1-6 of the parcel code) is not "
                                    "in the cadastre", index, where, None, {"admin_area_code": code}))
        return issues

    return check
