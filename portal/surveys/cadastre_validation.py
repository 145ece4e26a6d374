"""The validation rules that need the cadastre: overlap with current parcels, a parcel code
already in use, a parcel outside the administrative area its code names, an unknown land-use
class, and for a split, merge or boundary adjustment, whether the new parcels cover the ones
they retire.

They plug into `spatial.validation.validate` as extra rules, and run again under a lock at
publication, since the cadastre may have changed since the upload was validated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import psycopg
import shapely

from portal.surveys import queries
from spatial.codes import CodeError, parse_parcel_code
from spatial.crs import CGCS2000, transformer
from spatial.model import SurveyedParcel
from spatial.report import Issue, IssueCode, ValidationReport
from spatial.validation import ParcelRule, ValidationRules, validate

if TYPE_CHECKING:
    from pyproj import Transformer

    from portal.settings import SurveySettings

__all__ = ["lonlat_wkbs", "assess", "cadastre_rule", "extent_rule", "normal_code",
           "land_use_rule", "retirement_rule", "validation_rules",
           "PURPOSES"]


def _moved(move: Transformer, xy: np.ndarray) -> np.ndarray:
    """Coordinates (n x 2, x first) through a pyproj transformer built with always_xy."""
    return np.column_stack(move.transform(xy[:, 0], xy[:, 1]))


def lonlat_wkbs(parcels: Sequence[SurveyedParcel]) -> list[bytes | None]:
    """Each parcel as CGCS2000 lon/lat WKB, or None where it cannot be transformed or is not a
    valid polygon (validation reports those). One pyproj call per CRS, not one per parcel:
    a 100,000-parcel upload is transformed in a fraction of a second. A workflow step calls
    it once and hands the result to the rules and to publication (their `lonlat`)."""
    out: list[bytes | None] = [None] * len(parcels)
    by_crs: dict[int, list[int]] = defaultdict(list)
    for index, parcel in enumerate(parcels):
        by_crs[parcel.crs].append(index)
    for crs, indices in by_crs.items():
        geoms = np.empty(len(indices), dtype=object)
        geoms[:] = [parcels[i].geometry for i in indices]
        if crs != CGCS2000:
            try:
                move = transformer(crs, CGCS2000)
            except Exception:  # noqa: BLE001 - an unusable CRS is reported by validation
                continue
            geoms = shapely.transform(geoms, partial(_moved, move))
        coords, owner = shapely.get_coordinates(geoms, return_index=True)
        finite = np.ones(len(indices), dtype=bool)
        finite[owner[~np.isfinite(coords).all(axis=1)]] = False
        usable = finite & shapely.is_valid(geoms) & ~shapely.is_empty(geoms) & np.isin(
            shapely.get_type_id(geoms), (3, 6))
        chosen = np.flatnonzero(usable)
        for position, wkb in zip(chosen, shapely.to_wkb(geoms[chosen]), strict=True):
            out[indices[position]] = wkb
    return out


def normal_code(code: str | None) -> str | None:
    """The parcel code in normal form (trimmed, upper case, half-width), or as given when it is
    malformed (validation reports it): what the cadastre compares and stores."""
    if code is None:
        return None
    try:
        return parse_parcel_code(code).code
    except CodeError:
        return code


def _cadastre_rows(conn: psycopg.Connection, parcels: Sequence[SurveyedParcel], retiring: Sequence[int],
                   lonlat: Sequence[bytes | None]) -> list[tuple[int, str, str, float | None, str | None]]:
    rows = [(i, w, normal_code(p.parcel_code), p.crs) for i, (p, w) in enumerate(zip(parcels, lonlat, strict=True))]
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return []
    return conn.execute(queries.CADASTRE_VALIDATION, {
        "indices": [r[0] for r in rows], "wkb": [r[1] for r in rows], "codes": [r[2] for r in rows],
        "crs": [r[3] for r in rows], "retiring": list(retiring)}, binary=True).fetchall()  # 100k WKB: no hex


def cadastre_rule(conn: psycopg.Connection, *, retiring: Sequence[int] = (),
                    rows: Future[list[tuple[int, str, str, float | None, str | None]]] | None = None,
                    lonlat: Sequence[bytes | None] | None = None) -> ParcelRule:
    """A rule that compares an upload with the current cadastre over `conn`.

    `retiring` lists parcel ids a split or merge retires: they may be overlapped. `rows`, when
    given, is the comparison already under way (see `assess`); `lonlat`, the parcels'
    `lonlat_wkbs` when the caller has them.
    """

    def rule(parcels: Sequence[SurveyedParcel], rules: ValidationRules) -> Iterable[Issue]:
        result = rows.result() if rows is not None else _cadastre_rows(
            conn, parcels, retiring, lonlat if lonlat is not None else lonlat_wkbs(parcels))
        issues: list[Issue] = []
        for index, problem, code, area, location in result:
            place = parcels[index].place
            if problem == "overlap":
                assert area is not None  # ST_Area of a non-empty intersection
                if area <= rules.overlap_tolerance_m2:
                    continue
                issues.append(Issue("error", IssueCode.OVERLAP_EXISTING,
                                    f"overlaps current parcel {code} by {area:.2f} m²", index, place, location,
                                    {"parcel_code": code, "area_m2": round(area, 3)}))
            elif problem == "code_taken":
                issues.append(Issue("error", IssueCode.PARCEL_CODE_TAKEN,
                                    f"parcel code {code} is already used by a current parcel", index, place,
                                    None, {"parcel_code": code}))
            elif problem == "outside":
                assert area is not None  # ST_Area of a non-empty difference
                if area <= rules.overlap_tolerance_m2:
                    continue
                issues.append(Issue("error", IssueCode.OUTSIDE_ADMIN_AREA,
                                    f"{area:.2f} m² lie outside administrative area {code} named by the "
                                    "parcel code", index, place, location,
                                    {"admin_area_code": code, "area_m2": round(area, 3)}))
            else:
                issues.append(Issue("error", IssueCode.OUTSIDE_ADMIN_AREA,
                                    f"administrative area {code} (positions 1-6 of the parcel code) is not "
                                    "in the cadastre", index, place, None, {"admin_area_code": code}))
        return issues

    return rule


EXTENT_MARGIN_DEG = 0.05
"""How far (degrees, about 5 km) beyond the bounding box of its administrative areas a parcel
may lie before it is said to be outside the cadastre altogether."""


def extent_rule(conn: psycopg.Connection, lonlat: Callable[[], Sequence[bytes | None]]) -> ParcelRule:
    """Every parcel within the cadastre's own extent (its administrative areas' bounding box,
    widened by `EXTENT_MARGIN_DEG`). A parcel far outside is a CRS fault rather than a
    boundary one, and the message says which when it can: x and y swapped, or another zone.
    `lonlat` gives the parcels' `lonlat_wkbs` (None where they cannot be made: validation
    reports those)."""

    def rule(parcels: Sequence[SurveyedParcel], rules: ValidationRules) -> Iterable[Issue]:
        row = conn.execute(queries.CADASTRE_EXTENT).fetchone()
        if row is None or row[0] is None:
            return
        m = EXTENT_MARGIN_DEG
        west, south, east, north = row[0] - m, row[1] - m, row[2] + m, row[3] + m
        extent = f"{row[0]:.4f}°E–{row[2]:.4f}°E, {row[1]:.4f}°N–{row[3]:.4f}°N"
        wkbs = np.empty(len(parcels), dtype=object)
        wkbs[:] = list(lonlat())
        present = np.flatnonzero([w is not None for w in wkbs])  # parcels with a lon/lat geometry
        boxes = shapely.bounds(shapely.from_wkb(wkbs[present])) if present.size else np.empty((0, 4))
        far = (boxes[:, 0] > east) | (boxes[:, 2] < west) | (boxes[:, 1] > north) | (boxes[:, 3] < south)
        for index, (x0, y0, x1, y1) in zip(present[far].tolist(), boxes[far].tolist(), strict=True):
            parcel = parcels[index]
            sx0, sy0, sx1, sy1 = parcel.geometry.bounds
            try:
                lon, lat = transformer(parcel.crs, CGCS2000).transform((sy0 + sy1) / 2, (sx0 + sx1) / 2)
            except Exception:  # noqa: BLE001 - no hint then
                lon, lat = float("inf"), float("inf")
            if west <= lon <= east and south <= lat <= north:
                hint = (": x and y look swapped (x holds the northing or latitude); write x first as easting or "
                        "longitude")
            else:
                hint = (f": EPSG:{parcel.crs} is probably not the CRS the parcel was surveyed in (another zone, "
                        "datum or unit); state the right EPSG code when uploading")
            yield Issue("error", IssueCode.OUTSIDE_CADASTRE,
                        f"the parcel lies at {(x0 + x1) / 2:.4f}°E, {(y0 + y1) / 2:.4f}°N, outside the cadastre's "
                        f"extent ({extent}){hint}", index, parcel.place, None,
                        {"lon": round((x0 + x1) / 2, 6), "lat": round((y0 + y1) / 2, 6), "crs": parcel.crs})

    return rule


def land_use_rule(conn: psycopg.Connection) -> ParcelRule:
    """Every parcel's land-use code must be a GB/T 21010 class the cadastre knows."""

    def rule(parcels: Sequence[SurveyedParcel], rules: ValidationRules) -> Iterable[Issue]:
        known = {row[0] for row in conn.execute(queries.LAND_USES)}
        for index, parcel in enumerate(parcels):
            if parcel.land_use_code not in known:
                problem = ("has no land-use code" if not parcel.land_use_code else
                           f"land-use code {parcel.land_use_code!r} is not a GB/T 21010 class")
                yield Issue("error", IssueCode.LAND_USE_UNKNOWN, problem, index, parcel.place, None,
                            {"field": "land_use_code"})

    return rule


# purpose: (fewest retired, most retired, fewest new, most new); None = no limit.
PURPOSES: dict[str, tuple[int, int | None, int, int | None]] = {
    "new": (0, 0, 1, None),
    "split": (1, 1, 2, None),
    "merge": (2, None, 1, 1),
    "boundary_adjustment": (1, None, 1, None),
}


def retirement_rule(conn: psycopg.Connection, purpose: str, retiring: Sequence[int],
                     coverage_tolerance_m2: float, *,
                     lonlat: Callable[[], Sequence[bytes | None]] | None = None) -> ParcelRule:
    """A split, merge or boundary adjustment: the counts fit the purpose, the retired parcels
    carry no current unit (units must be renumbered by a registry application first), and the
    new parcels cover exactly the retired ones, within `coverage_tolerance_m2` each way.
    `lonlat` gives the parcels' `lonlat_wkbs` when the caller has them (it is called only when
    coverage is measured).
    """

    def rule(parcels: Sequence[SurveyedParcel], rules: ValidationRules) -> Iterable[Issue]:
        fewest_old, most_old, fewest_new, most_new = PURPOSES[purpose]
        counts_fit = (fewest_old <= len(retiring) and (most_old is None or len(retiring) <= most_old)
                      and fewest_new <= len(parcels) and (most_new is None or len(parcels) <= most_new))
        if not counts_fit:
            yield Issue("error", IssueCode.PURPOSE_MISMATCH,
                        f"a {purpose.replace('_', ' ')} needs {_span(fewest_old, most_old)} retired parcel(s) "
                        f"and {_span(fewest_new, most_new)} new parcel(s); this submission has "
                        f"{len(retiring)} and {len(parcels)}",
                        None, None, None, {"retired": len(retiring), "new": len(parcels)})
        if not retiring:
            return
        current = {row[0] for row in conn.execute(queries.CURRENT_AMONG, (list(retiring),))}
        for _parcel_id, code in conn.execute(queries.CODES_OF, (sorted(set(retiring) - current),)):
            yield Issue("error", IssueCode.RETIRED_PARCEL_UNKNOWN,
                        f"parcel {code} to be retired is no longer current: another publication changed it",
                        None, None, None, {"parcel_code": code})
        kept = {normal_code(p.parcel_code) for p in parcels}
        for code, units in conn.execute(queries.UNITS_ON, (list(retiring),)):
            if code in kept:
                continue  # the parcel keeps its code: a new version of it, its units stay on it
            yield Issue("error", IssueCode.RETIRED_PARCEL_HAS_UNITS,
                        f"parcel {code} carries {units} current unit(s): renumber or close them by a "
                        "registry application before the parcel is retired", None, None, None,
                        {"parcel_code": code, "units": units})
        wkb = [w for w in (lonlat() if lonlat is not None else lonlat_wkbs(parcels)) if w is not None]
        if len(wkb) < len(parcels):
            return  # a parcel with broken geometry is already an error; coverage means nothing yet
        crs = parcels[0].crs if parcels else 4490
        uncovered, extra, location = conn.execute(
            queries.COVERAGE, {"wkb": wkb, "ids": list(retiring), "crs": crs}).fetchone()  # type: ignore[misc]
        if (uncovered or 0) > coverage_tolerance_m2 or (extra or 0) > coverage_tolerance_m2:
            yield Issue("error", IssueCode.COVERAGE_MISMATCH,
                        f"the new parcels do not cover the retired ones: {uncovered:.2f} m² of the retired "
                        f"parcels left uncovered, {extra:.2f} m² added outside them (tolerance "
                        f"{coverage_tolerance_m2:g} m² each way)", None, None, location,
                        {"uncovered_m2": round(uncovered, 3), "extra_m2": round(extra, 3),
                         "tolerance_m2": coverage_tolerance_m2})

    return rule


def _span(fewest: int, most: int | None) -> str:
    if most is None:
        return f"at least {fewest}"
    return str(fewest) if fewest == most else f"{fewest} to {most}"


def assess(conn: psycopg.Connection, parcels: Sequence[SurveyedParcel], settings: SurveySettings, *,
           file: str | None = None, crs: int | None = None, read_issues: Iterable[Issue] = (),
           purpose: str = "new", retiring: Sequence[int] = (),
           lonlat: Sequence[bytes | None] | None = None, crs_source: str | None = None) -> ValidationReport:
    """The whole validation of an upload: geometry, attributes, and against the cadastre.

    The comparison with the cadastre runs in PostgreSQL while this process checks geometry and
    topology, so a large upload keeps both cores busy; `conn` is used by one thread at a time.
    `lonlat` is the parcels' `lonlat_wkbs` when the caller has them; otherwise they are made
    here, once, in the background.
    """
    # Leaving the `with` waits for the thread, so the connection is never left busy in it.
    with ThreadPoolExecutor(1, thread_name_prefix="cadastre-validation") as background:
        moved: Future[Sequence[bytes | None]]
        if lonlat is None:
            moved = background.submit(lonlat_wkbs, parcels)
        else:
            moved = Future()
            moved.set_result(lonlat)
        # One worker: the comparison starts once the transform is done.
        rows = background.submit(lambda: _cadastre_rows(conn, parcels, retiring, moved.result()))
        report = validate(parcels, validation_rules(settings), file=file, crs=crs, read_issues=read_issues,
                          crs_source=crs_source, extra_rules=[
            cadastre_rule(conn, retiring=retiring, rows=rows),
            extent_rule(conn, moved.result),
            land_use_rule(conn),
            retirement_rule(conn, purpose, retiring, settings.coverage_tolerance_m2, lonlat=moved.result),
        ])
    report.issues = said_once(report.issues)
    return report


def said_once(issues: list[Issue]) -> list[Issue]:
    """`issues` without the ones another already explains: coordinates that do not fit their CRS
    lie outside the cadastre too, and a parcel outside the cadastre altogether lies outside its
    administrative area. Order kept."""
    misfit = {i.parcel_index for i in issues if i.code in _MISFITS}
    far = misfit | {i.parcel_index for i in issues if i.code == IssueCode.OUTSIDE_CADASTRE}
    return [i for i in issues if not (
        (i.code == IssueCode.OUTSIDE_ADMIN_AREA and i.parcel_index in far)
        or (i.code == IssueCode.OUTSIDE_CADASTRE and i.parcel_index in misfit))]


_MISFITS = {IssueCode.AXES_SWAPPED, IssueCode.ZONE_PREFIX_MISSING, IssueCode.ZONE_PREFIX_UNEXPECTED,
            IssueCode.COORDINATES_OUTSIDE_CRS}


def validation_rules(settings: SurveySettings) -> ValidationRules:
    """The validation rules for a publication: the office's tolerances; every parcel needs its code."""
    return ValidationRules(
        area_abs_tolerance_m2=settings.area_abs_tolerance_m2,
        area_rel_tolerance=settings.area_rel_tolerance,
        boundary_point_error_m=settings.boundary_point_error_m,
        overlap_tolerance_m2=settings.overlap_tolerance_m2,
        gap_width_m=settings.gap_width_m,
        require_parcel_code=True,
    )
