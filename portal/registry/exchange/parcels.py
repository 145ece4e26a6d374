"""Parcels with their geometry in the exchange (`ZDJBXX` 宗地基本信息), for a register whose
parcels were never surveyed into the cadastre.

A ZDJBXX row is a parcel: its code (ZDDM), land use (YT, GB/T 21010-2017), declared area (ZDMJ,
m²) and boundary: WKT in a stated CRS (EPSG, default 4490) in a CSV file, an XLSX sheet or a
GeoPackage attribute table, or the geometry of a GeoPackage feature layer named `ZDJBXX`, read
in the hardened, limited worker surveys use (`spatial.readers.isolated.read_isolated`: GDAL's
GPKG driver alone, no network). WKT is always x = easting or longitude, y = northing or latitude,
whatever axis order the EPSG definition gives (CGCS2000's codes are northing first by
authority); coordinates that fit the CRS only with the axes swapped are reported as such.

A new parcel passes the same rules as a survey publication (valid geometry, no overlap with
current parcels, inside its administrative area, a land-use code of the cadastre, CRS fit: the
`ParcelPublishing` the composition root hands in runs `portal.surveys`' own validation and
publication, in the import's transaction). A parcel already current with the same code:

- the same boundary (within 1 mm, compared in the parcel's surveyed CRS): left as it is and
  mapped to the row's BSM; a land use or area that differs is reported as a note, the
  cadastre's stays;
- another boundary: refused, naming the row. A boundary in the cadastre changes by survey (a
  split, merge or boundary adjustment with its survey report), never by a register import;
  this holds for parcels an earlier import brought too (docs/register-exchange.md).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import psycopg
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from portal.registry.exchange.layout import (
    BSM_MAX_CHARS,
    CELL_MAX_CHARS,
    COORDINATE_MAX,
    DEFAULT_EPSG,
    PARCEL_MAX_VERTICES,
)
from portal.registry.exchange.reading import Exchange, ReadProblem, Row
from portal.registry.exchange.validation import Known, Problem, unsafe_cell
from spatial.codes import parcel_code_problem
from spatial.crs import is_projected, resolve_crs, transform_geometry
from spatial.errors import SpatialError
from spatial.model import SurveyedParcel
from spatial.readers.isolated import read_isolated
from spatial.readers.limits import ReadLimits
from spatial.report import Issue

__all__ = ["ParcelPublishing", "ParcelsOutcome", "import_parcels", "SAME_BOUNDARY_M", "SAME_BOUNDARY_DEG"]

SAME_BOUNDARY_M = 0.001
"""Two boundaries are the same when no vertex is further apart than this (m, projected CRS)."""
SAME_BOUNDARY_DEG = 1e-8
"""The same in degrees (about 1 mm), for a parcel surveyed in longitude/latitude."""

_LAND_USE = re.compile(r"^(0[1-9]|1[0-2])([0-9]{2})?$")

Publish = Callable[[psycopg.Connection, Sequence[SurveyedParcel], str], tuple[list[Issue], list[int]]]


@dataclass(frozen=True)
class ParcelPublishing:
    """How new parcels enter the cadastre, handed in by the composition root (the register room
    does not import the surveys room): `publish(conn, parcels, reference)` validates the parcels
    as a survey publication and, only when none has an error, publishes them citing a source
    document `reference`; it returns the errors (Issue, `parcel_index` into `parcels`) and the
    new parcel ids in order. `limits` bound the read of a GeoPackage feature layer."""

    publish: Publish
    limits: ReadLimits = field(default_factory=ReadLimits)


@dataclass
class ParcelsOutcome:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "changed": 0, "unchanged": 0})
    mapping: list[tuple[str, str, int, bytes]] = field(default_factory=list)  # (table, BSM, parcel_id, digest)


@dataclass
class _Parcel:
    row: Row
    bsm: str
    parcel: SurveyedParcel
    digest: bytes


# The column a survey validation issue is about (spatial.report.IssueCode values).
# The column an issue is about: the declared area (ZDMJ) only for the declared-area issues, the
# parcel code (ZDDM, whose first six characters name the county) for code and administrative-area
# issues (review 3: "administrative area ... is not in the cadastre" was put under ZDMJ), the
# land use (YT), else the boundary (WKT).
_ISSUE_COLUMNS = (("parcel_code", "ZDDM"), ("admin_area", "ZDDM"), ("land_use", "YT"),
                  ("area_mismatch", "ZDMJ"), ("declared_area", "ZDMJ"))


def _column_of(issue: Issue) -> str:
    code = str(issue.code)
    return next((column for key, column in _ISSUE_COLUMNS if key in code), "WKT")


def _feature_geometries(path: Path, limits: ReadLimits) -> dict[str, tuple[Polygon | MultiPolygon, int]]:
    """The ZDJBXX feature layer of a GeoPackage, read by the hardened reader: code -> (geometry, EPSG)."""
    try:
        result = read_isolated(path, layers=["ZDJBXX"], limits=limits)
    except SpatialError as error:
        raise ReadProblem(f"{path.name}[ZDJBXX]: {error}") from error
    return {p.parcel_code.strip().upper(): (p.geometry, p.crs) for p in result.parcels if p.parcel_code}


def _checked(geometry: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """The geometry when it is one any later GEOS operation can take: at most PARCEL_MAX_VERTICES
    vertices, every coordinate finite and within COORDINATE_MAX of 0 (layout.py)."""
    count = int(shapely.get_num_coordinates(geometry))
    if count > PARCEL_MAX_VERTICES:
        raise _Bad("WKT", f"has {count:,} vertices; a parcel's boundary has at most {PARCEL_MAX_VERTICES:,}")
    coordinates = shapely.get_coordinates(geometry, include_z=geometry.has_z)
    bad = ~np.isfinite(coordinates) | (np.abs(coordinates) > COORDINATE_MAX)
    if bad.any():
        vertex, axis = (int(i) for i in np.argwhere(bad)[0])
        raise _Bad("WKT", f"vertex {vertex + 1}: the {'xyz'[axis]} coordinate {coordinates[vertex, axis]:.6g} is not "
                   f"a coordinate (finite, within {COORDINATE_MAX:.0e} of 0 in metres or degrees)")
    return geometry


def _geometry(row: Row, features: dict[str, tuple[Polygon | MultiPolygon, int]] | None,
              code: str) -> tuple[Polygon | MultiPolygon, int]:
    """The row's boundary and its EPSG, checked (`_checked`) before any GEOS operation."""
    if features is not None:
        found = features.get(code)
        if found is None:
            raise _Bad("ZDDM", f"parcel {code} has no polygon in the feature layer ZDJBXX")
        if found[0].is_empty:
            raise _Bad("ZDDM", f"parcel {code} has an empty polygon in the feature layer ZDJBXX")
        return _checked(found[0]), found[1]
    text = row.get("WKT")
    if text is None:
        raise _Bad("WKT", "is empty: give the boundary as WKT (POLYGON or MULTIPOLYGON)")
    epsg_text = row.get("EPSG")
    try:
        epsg = int(epsg_text) if epsg_text is not None else DEFAULT_EPSG
        resolve_crs(epsg)
    except (ValueError, SpatialError):
        raise _Bad("EPSG", f"{_short(epsg_text)!r} is not an EPSG code PROJ knows (e.g. 4490, 4527)") from None
    # Cheap bounds on the text before GEOS parses it: its length and its vertices (commas).
    if len(text) > CELL_MAX_CHARS or text.count(",") >= PARCEL_MAX_VERTICES:
        raise _Bad("WKT", f"has more than {PARCEL_MAX_VERTICES:,} vertices; a parcel's boundary has at most that many")
    try:
        with warnings.catch_warnings():  # 1e309 overflows to inf (refused just below), not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            geometry: BaseGeometry = shapely.from_wkt(text)
    except shapely.errors.GEOSException:
        raise _Bad("WKT", f"is not well-known text (WKT) geometry: {_short(text)!r}") from None
    if isinstance(geometry, Polygon | MultiPolygon) and geometry.is_empty:
        raise _Bad("WKT", f"is an empty {geometry.geom_type.upper()}: give the parcel's boundary")
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise _Bad("WKT", f"is a {geometry.geom_type.upper()}, not a POLYGON or MULTIPOLYGON")
    geometry = _checked(geometry)
    if geometry.has_z:
        geometry = shapely.force_2d(geometry)
    return geometry, epsg


def _short(text: str | None, most: int = 40) -> str | None:
    """A cell as quoted in a message: at most `most` characters, then an ellipsis."""
    return text if text is None or len(text) <= most else text[:most] + "…"


class _Bad(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _read_rows(exchange: Exchange, limits: ReadLimits, out: ParcelsOutcome) -> list[_Parcel]:
    rows = exchange.rows("ZDJBXX")
    features = _feature_geometries(exchange.path, limits) if "ZDJBXX" in exchange.feature_layers else None
    parcels: list[_Parcel] = []
    seen: dict[str, int] = {}
    codes: dict[str, int] = {}
    for row in rows:
        bsm = row.get("BSM")
        try:
            if bsm is None:
                raise _Bad("BSM", "is empty: every row carries the old system's identifier")
            if len(bsm) > BSM_MAX_CHARS:
                raise _Bad("BSM", f"{len(bsm)} characters, more than the {BSM_MAX_CHARS} an identifier may hold")
            if bsm in seen:
                raise _Bad("BSM", f"{bsm!r} appears twice in ZDJBXX (also row {seen[bsm]})")
            seen[bsm] = row.number
            unsafe = unsafe_cell(row)
            if unsafe:
                raise _Bad(*unsafe)
            code = (row.get("ZDDM") or "").upper()
            if not code:
                raise _Bad("ZDDM", "is empty")
            problem = parcel_code_problem(code)
            if problem:
                raise _Bad("ZDDM", problem)
            if code in codes:
                raise _Bad("ZDDM", f"parcel {code} appears twice in ZDJBXX (also row {codes[code]})")
            codes[code] = row.number
            land_use = row.get("YT")
            if land_use is None or not _LAND_USE.match(land_use):
                raise _Bad("YT", f"{_short(land_use)!r} is not a land-use code of GB/T 21010-2017 (e.g. 07 or 0701)")
            area = _area(row.get("ZDMJ"))
            geometry, epsg = _geometry(row, features, code)
        except _Bad as bad:
            out.problems.append(Problem(row.file, row.number, bad.column, str(bad)))
            continue
        assert bsm is not None
        parcel = SurveyedParcel(geometry=geometry, crs=epsg, place=f"{row.file} row {row.number}", parcel_code=code,
                                declared_area=float(area) if area is not None else None, land_use_code=land_use)
        values = (code, land_use, str(area), epsg, shapely.to_wkb(shapely.normalize(geometry)))
        parcels.append(_Parcel(row, bsm, parcel, hashlib.sha256(repr(values).encode()).digest()))
    return parcels


def _area(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        area = Decimal(text.replace(",", ""))
    except InvalidOperation:
        area = Decimal("NaN")
    if not area.is_finite() or area <= 0 or area >= Decimal("1e12"):
        raise _Bad("ZDMJ", f"{_short(text)!r} is not a positive area in m² (below 1e12)")
    return area.quantize(Decimal("0.01"))


def _same_boundary(incoming: SurveyedParcel, stored: BaseGeometry, srid: int) -> bool:
    """Whether the incoming boundary is the stored one, compared in the stored surveyed CRS."""
    geometry = incoming.geometry if incoming.crs == srid else transform_geometry(incoming.geometry, incoming.crs, srid)
    tolerance = SAME_BOUNDARY_M if is_projected(srid) else SAME_BOUNDARY_DEG
    a, b = shapely.normalize(shapely.multipolygons([geometry]) if isinstance(geometry, Polygon) else geometry), \
        shapely.normalize(shapely.multipolygons([stored]) if isinstance(stored, Polygon) else stored)
    return bool(shapely.equals_exact(a, b, tolerance=tolerance))


_CURRENT = """
SELECT parcel_code, parcel_id, ST_AsBinary(survey_geom), ST_SRID(survey_geom), land_use_code, declared_area
  FROM parcels WHERE end_lifespan IS NULL AND parcel_code = ANY(%s)
"""


def import_parcels(conn: psycopg.Connection, exchange: Exchange, known: Known, publishing: ParcelPublishing | None,
                   *, clean_only: bool = False) -> ParcelsOutcome:
    """Check the exchange's ZDJBXX rows and publish the new parcels in `conn`'s transaction;
    `known.parcels` learns every parcel the rows name (new or kept), so units may refer to them.

    Returns the problems (file, row, column), notes (kept parcels whose attributes differ) and
    counts. With `clean_only`, the parcels without a problem are published and the rest
    reported; otherwise nothing is published unless every row is clean. Raises ReadProblem when
    a GeoPackage feature layer cannot be read.
    """
    out = ParcelsOutcome()
    if not exchange.rows("ZDJBXX"):
        return out
    parcels = _read_rows(exchange, publishing.limits if publishing else ReadLimits(), out)
    mapped = known.mapping("ZDJBXX")
    current = {code: (pid, shapely.from_wkb(bytes(wkb)), srid, land_use, area) for code, pid, wkb, srid, land_use, area
               in conn.execute(_CURRENT, ([p.parcel.parcel_code for p in parcels],))}
    new: list[_Parcel] = []
    for item in parcels:
        code = item.parcel.parcel_code
        assert code is not None
        before = mapped.get(item.bsm)
        found = current.get(code)
        if found is None:
            if before is not None:
                out.problems.append(Problem(item.row.file, item.row.number, "ZDDM", f"row {item.bsm!r} brought another "
                                            "parcel before, which is no longer current: a parcel ends by survey, "
                                            "give a new parcel a BSM of its own"))
            else:
                new.append(item)
            continue
        parcel_id, stored, srid, land_use, area = found
        if before is not None and before[0] != parcel_id:
            out.problems.append(Problem(item.row.file, item.row.number, "ZDDM", f"row {item.bsm!r} brought another "
                                        f"parcel before than the current parcel {code}"))
            continue
        if before is not None and before[1] == item.digest:
            out.counts["unchanged"] += 1
            known.parcels[code] = parcel_id
            continue
        if not _same_boundary(item.parcel, stored, srid):
            out.problems.append(Problem(item.row.file, item.row.number, "WKT", f"parcel {code} is in the cadastre "
                                        "already with another boundary: a boundary changes by survey (split, merge or "
                                        "boundary adjustment), not by a register import; leave the row out or give "
                                        "the cadastre's boundary"))
            continue
        differs = [f"land use {land_use} (YT {item.parcel.land_use_code})"
                   if land_use != item.parcel.land_use_code else "",
                   f"area {area} m² (ZDMJ {item.parcel.declared_area:.2f})"
                   if item.parcel.declared_area is not None and area is not None
                   and Decimal(f"{item.parcel.declared_area:.2f}") != area else ""]
        if any(differs):
            out.notes.append(f"{item.row.file}: row {item.row.number}: parcel {code} is in the cadastre with the same "
                             f"boundary and is left as it is, with its {' and '.join(d for d in differs if d)}")
        out.counts["unchanged"] += 1
        known.parcels[code] = parcel_id
        out.mapping.append(("ZDJBXX", item.bsm, parcel_id, item.digest))
    if out.problems and not clean_only:
        return out
    if new and publishing is None:
        out.problems.extend(Problem(i.row.file, i.row.number, "ZDDM", "new parcels cannot be published by this "
                                    "import (no survey publication given)") for i in new)
        return out
    while new and publishing is not None:
        issues, ids = publishing.publish(conn, [i.parcel for i in new], f"register import: ZDJBXX of {exchange.sha256}")
        if not issues:
            for item, parcel_id in zip(new, ids, strict=True):
                assert item.parcel.parcel_code is not None
                known.parcels[item.parcel.parcel_code] = parcel_id
                out.mapping.append(("ZDJBXX", item.bsm, parcel_id, item.digest))
            out.counts["new"] = len(new)
            break
        bad = {issue.parcel_index for issue in issues}
        for issue in issues:
            if issue.parcel_index is None:
                row = new[0].row
                out.problems.append(Problem(row.file, row.number, "WKT", f"the new parcels: {issue.message}"))
            else:
                row = new[issue.parcel_index].row
                out.problems.append(Problem(row.file, row.number, _column_of(issue), issue.message))
        if not clean_only or None in bad:
            break
        new = [item for index, item in enumerate(new) if index not in bad]
    return out
