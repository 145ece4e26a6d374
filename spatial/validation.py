"""Geometric validation of an upload: what would make a parcel wrong to publish.

Pure geometry and attributes, no database: invalid rings with the point of the fault,
too few or duplicate points, declared area against measured area, malformed or repeated
parcel codes, and (in `spatial.topology`) overlaps and slivers between parcels of the same
upload. Rules that need the published cadastre (overlap with existing parcels, code already
registered, inside the administrative area) are passed in as `extra_rules` by the portal
and report with the same `Issue` shape. ("Check" is the restriction check's word, not this.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from spatial.attributes import DXF_TAGS, FIELD_NAMES, tried_for_code
from spatial.codes import PARCEL_CODE_PATTERN, CodeError, parse_parcel_code
from spatial.crs import geod_for, is_projected, metres_per_unit, resolve_crs, transform_geometry
from spatial.domain import domain_issues
from spatial.errors import CrsError
from spatial.model import ReadResult, SurveyedParcel
from spatial.report import Issue, IssueCode, Severity, ValidationReport
from spatial.topology import Measure, find_gaps, find_overlaps

__all__ = ["ValidationRules", "ParcelRule", "validate", "validate_result"]

ParcelRule = Callable[[Sequence[SurveyedParcel], "ValidationRules"], Iterable[Issue]]
"""A further validation rule over the whole upload, e.g. the portal's validation against the cadastre."""

_PARCEL_CODE = re.compile(PARCEL_CODE_PATTERN)
_REASON = re.compile(r"^(?P<text>.*?)\s*\[(?P<x>\S+) (?P<y>\S+)\]\s*$")
_REASON_CODES = (
    ("Ring Self-intersection", IssueCode.SELF_INTERSECTION),
    ("Self-intersection", IssueCode.SELF_INTERSECTION),
    ("Hole lies outside shell", IssueCode.HOLE_OUTSIDE_SHELL),
    ("Nested holes", IssueCode.NESTED_HOLES),
    ("Nested shells", IssueCode.NESTED_SHELLS),
    ("Interior is disconnected", IssueCode.INTERIOR_DISCONNECTED),
    ("Too few points", IssueCode.TOO_FEW_POINTS),
    ("Invalid Coordinate", IssueCode.INVALID_COORDINATE),
)
_EXPLAIN = {
    IssueCode.SELF_INTERSECTION: (
        "the boundary crosses itself (a bow-tie or a ring crossing another)"
    ),
    IssueCode.HOLE_OUTSIDE_SHELL: "an inner ring (hole) lies outside the outer boundary",
    IssueCode.NESTED_HOLES: "a hole lies inside another hole",
    IssueCode.NESTED_SHELLS: "one part of the parcel lies inside another part",
    IssueCode.INTERIOR_DISCONNECTED: "holes cut the parcel into separate pieces",
    IssueCode.TOO_FEW_POINTS: "a ring has fewer than 3 distinct points",
    IssueCode.INVALID_COORDINATE: "a coordinate is not a finite number",
}


@dataclass(frozen=True, slots=True)
class ValidationRules:
    """Tolerances of validation, all in metres or m².

    Area: the declared area may differ from the measured one by
    ``max(area_abs_tolerance_m2, area_rel_tolerance * S, 2 * boundary_point_error_m * sqrt(S))``
    — the last term is the cadastral survey rule ΔS = 2·m·√S with m the mean square error of
    boundary points (±0.05 m for urban first-class points).
    """

    area_abs_tolerance_m2: float = 1.0
    area_rel_tolerance: float = 0.0
    boundary_point_error_m: float = 0.05
    area_mismatch_severity: Severity = "error"
    overlap_tolerance_m2: float = 0.01
    gap_width_m: float = 0.05
    snap_tolerance_m: float = 0.001
    spike_angle_deg: float = 1.0
    require_parcel_code: bool = False
    validate_topology: bool = True

    def area_tolerance(self, area_m2: float) -> float:
        """Largest accepted |declared - measured| in m² for a parcel of `area_m2`."""
        area = abs(area_m2)
        return max(
            self.area_abs_tolerance_m2,
            self.area_rel_tolerance * area,
            2.0 * self.boundary_point_error_m * math.sqrt(area),
        )


def validate_result(
    result: ReadResult,
    rules: ValidationRules | None = None,
    *,
    extra_rules: Sequence[ParcelRule] = (),
) -> ValidationReport:
    """Validate what a reader returned, keeping the reader's file-level issues in the report."""
    return validate(
        result.parcels,
        rules,
        file=result.file,
        crs=result.crs,
        read_issues=result.issues,
        extra_rules=extra_rules,
        crs_source=result.crs_source,
    )


def validate(
    parcels: Sequence[SurveyedParcel],
    rules: ValidationRules | None = None,
    *,
    file: str | None = None,
    crs: int | None = None,
    read_issues: Iterable[Issue] = (),
    extra_rules: Sequence[ParcelRule] = (),
    crs_source: str | None = None,
) -> ValidationReport:
    """Check every parcel and every pair of neighbours; return a report with all issues.

    The parcels' own reader warnings are included (with their `parcel_index`). Never raises
    for bad geometry: every fault becomes an Issue.
    """
    rules = rules or ValidationRules()
    crs = crs if crs is not None else (parcels[0].crs if parcels else None)
    report = ValidationReport(
        file=file, crs=crs, parcel_count=len(parcels), issues=list(read_issues), crs_source=crs_source,
        crs_name=_crs_name(crs),
    )
    if not parcels:
        report.issues.append(Issue("error", IssueCode.EMPTY, "the upload holds no parcel"))
        return report
    assert crs is not None
    for index, parcel in enumerate(parcels):
        for issue in parcel.warnings:
            report.issues.append(
                replace(issue, parcel_index=index, place=issue.place or parcel.place)
            )
    geoms = np.array([_in_crs(p, crs) for p in parcels], dtype=object)
    places = [p.place for p in parcels]
    measure = _measure(crs)
    usable = _validate_kind(geoms, places, report)
    fits = np.zeros(len(parcels), dtype=bool)
    own = np.empty(len(parcels), dtype=object)
    own[:] = [p.geometry for p in parcels]
    for parcel_crs in sorted({p.crs for p in parcels}):
        mine = usable & np.fromiter((p.crs == parcel_crs for p in parcels), dtype=bool, count=len(parcels))
        misfits, fitting = domain_issues(own, mine, places, parcel_crs, measure.wkt_precision)
        report.extend(misfits)
        fits |= fitting
    valid = _validate_geometry(geoms, usable, places, rules, measure, report)
    _validate_area(parcels, geoms, valid, measure, rules, report)
    _validate_size(parcels, geoms, valid & fits, measure, report)
    _validate_codes(parcels, rules, report)
    if rules.validate_topology:
        indices = np.nonzero(valid)[0]
        subset = geoms[indices]
        report.extend(find_overlaps(subset, indices, places, measure, rules.overlap_tolerance_m2))
        report.extend(
            find_gaps(subset, indices, places, measure, rules.gap_width_m, rules.snap_tolerance_m)
        )
    for rule in extra_rules:
        report.extend(rule(parcels, rules))
    report.issues.sort(key=lambda i: (i.parcel_index is not None, i.parcel_index or 0))
    return report


def _crs_name(crs: int | None) -> str | None:
    if crs is None:
        return None
    try:
        return str(resolve_crs(crs).name)
    except CrsError:
        return None


def _in_crs(parcel: SurveyedParcel, crs: int) -> Polygon | MultiPolygon:
    if parcel.crs == crs:
        return parcel.geometry
    try:
        return transform_geometry(parcel.geometry, parcel.crs, crs)
    except CrsError:
        return parcel.geometry  # coordinates that do not fit their CRS: the domain check says so


def _measure(crs: int) -> Measure:
    if is_projected(crs):
        factor = metres_per_unit(crs)

        def planar(geoms: NDArray[np.object_]) -> NDArray[np.float64]:
            return np.asarray(shapely.area(geoms), dtype=np.float64) * factor * factor

        return Measure(planar, factor, 3)
    geod = geod_for(crs)

    def ellipsoidal(geoms: NDArray[np.object_]) -> NDArray[np.float64]:
        return np.array(
            [abs(geod.geometry_area_perimeter(g)[0]) if not g.is_empty else 0.0 for g in geoms],
            dtype=np.float64,
        )

    return Measure(ellipsoidal, 111_320.0, 9)


def _wkt_point(x: float, y: float, precision: int) -> str:
    return str(shapely.to_wkt(shapely.points(x, y), rounding_precision=precision))


def _validate_kind(
    geoms: NDArray[np.object_], places: list[str], report: ValidationReport
) -> NDArray[np.bool_]:
    usable = np.ones(len(geoms), dtype=bool)
    for i, g in enumerate(geoms):
        if not isinstance(g, (Polygon, MultiPolygon)):
            usable[i] = False
            report.issues.append(
                Issue(
                    "error",
                    IssueCode.NOT_POLYGON,
                    f"geometry is a {g.geom_type}, not a polygon",
                    i,
                    places[i],
                )
            )
        elif g.is_empty:
            usable[i] = False
            report.issues.append(
                Issue("error", IssueCode.EMPTY, "parcel has no geometry", i, places[i])
            )
    return usable


def _validate_geometry(
    geoms: NDArray[np.object_],
    usable: NDArray[np.bool_],
    places: list[str],
    rules: ValidationRules,
    measure: Measure,
    report: ValidationReport,
) -> NDArray[np.bool_]:
    """Validity with the point of the fault, ring point counts, duplicates and spikes."""
    valid = usable.copy()
    idx = np.nonzero(usable)[0]
    if idx.size == 0:
        return valid
    precision = measure.wkt_precision
    reasons = shapely.is_valid_reason(geoms[idx])
    parts, part_owner = shapely.get_parts(geoms[idx], return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    owner = idx[part_owner[ring_part]]
    spikes = _spikes(coords, coord_ring, rules.spike_angle_deg)
    spike_at: dict[int, tuple[float, float]] = {}
    for k in spikes.tolist():
        spike_at.setdefault(int(owner[coord_ring[k]]), (float(coords[k, 0]), float(coords[k, 1])))
    # Distinct points per ring, then consecutive repeats.
    order = np.lexsort((coords[:, 1], coords[:, 0], coord_ring))
    s_ring, s_xy = coord_ring[order], coords[order]
    new = np.r_[len(s_ring) > 0, (s_ring[1:] != s_ring[:-1]) | (s_xy[1:] != s_xy[:-1]).any(axis=1)]
    distinct = np.bincount(s_ring[new], minlength=len(rings))
    for r in np.nonzero(distinct < 3)[0].tolist():
        i = int(owner[r])
        valid[i] = False
        first = coords[coord_ring == r]
        report.issues.append(
            Issue(
                "error",
                IssueCode.TOO_FEW_POINTS,
                f"a ring has {int(distinct[r])} distinct point(s); at least 3 are needed",
                i,
                places[i],
                _wkt_point(float(first[0, 0]), float(first[0, 1]), precision)
                if len(first)
                else None,
            )
        )
    repeat = (
        np.nonzero((coord_ring[1:] == coord_ring[:-1]) & (coords[1:] == coords[:-1]).all(axis=1))[0]
        + 1
    )
    by_parcel: dict[int, list[int]] = {}
    for k in repeat.tolist():
        by_parcel.setdefault(int(owner[coord_ring[k]]), []).append(k)
    for i, ks in by_parcel.items():
        x, y = float(coords[ks[0], 0]), float(coords[ks[0], 1])
        report.issues.append(
            Issue(
                "warning",
                IssueCode.DUPLICATE_POINT,
                f"{len(ks)} point(s) repeat the point before them",
                i,
                places[i],
                _wkt_point(x, y, precision),
                {"count": len(ks)},
            )
        )
    for i, reason in zip(idx.tolist(), reasons.tolist(), strict=True):
        if reason == "Valid Geometry":
            if i in spike_at:
                x, y = spike_at[i]
                report.issues.append(
                    Issue(
                        "warning",
                        IssueCode.SPIKE,
                        "the boundary turns back on itself (a spike)",
                        i,
                        places[i],
                        _wkt_point(x, y, precision),
                    )
                )
            continue
        if not valid[i]:
            continue  # too few points already said
        valid[i] = False
        report.issues.append(_invalidity(i, str(reason), places[i], spike_at.get(i), precision))
    return valid


def _invalidity(
    i: int, reason: str, place: str, spike: tuple[float, float] | None, precision: int
) -> Issue:
    match = _REASON.match(reason)
    text = match.group("text") if match else reason
    code = IssueCode.INVALID_GEOMETRY
    for prefix, mapped in _REASON_CODES:
        if text.startswith(prefix):
            code = mapped
            break
    location = None
    if match:
        try:
            location = _wkt_point(float(match.group("x")), float(match.group("y")), precision)
        except ValueError:
            location = None
    if code == IssueCode.SELF_INTERSECTION and spike is not None:
        return Issue(
            "error",
            IssueCode.SPIKE,
            "the boundary turns back on itself (a spike), which makes it cross itself",
            i,
            place,
            _wkt_point(spike[0], spike[1], precision),
            {"geos_reason": reason},
        )
    explanation = _EXPLAIN.get(code, "the geometry is not a valid polygon")
    return Issue(
        "error", code, f"{explanation} ({text})", i, place, location, {"geos_reason": reason}
    )


def _spikes(
    coords: NDArray[np.float64], coord_ring: NDArray[np.intp], angle_deg: float
) -> NDArray[np.intp]:
    """Indices of vertices where the boundary reverses (turn sharper than 180° - angle)."""
    n = len(coords)
    if n < 4:
        return np.empty(0, dtype=np.intp)
    starts = np.r_[0, np.nonzero(coord_ring[1:] != coord_ring[:-1])[0] + 1]
    ends = np.r_[starts[1:], n] - 1  # index of each ring's closing coordinate
    is_closing = np.zeros(n, dtype=bool)
    is_closing[ends] = True
    prev = np.arange(n) - 1
    prev[starts] = ends - 1  # the vertex before the first is the last distinct one
    nxt = np.minimum(np.arange(n) + 1, n - 1)
    v1 = coords - coords[prev]
    v2 = coords[nxt] - coords
    cross = v1[:, 0] * v2[:, 1] - v1[:, 1] * v2[:, 0]
    dot = (v1 * v2).sum(axis=1)
    n1 = np.hypot(v1[:, 0], v1[:, 1])
    n2 = np.hypot(v2[:, 0], v2[:, 1])
    with np.errstate(invalid="ignore"):
        sharp = (np.abs(cross) <= math.sin(math.radians(angle_deg)) * n1 * n2) & (dot < 0)
    sharp &= (n1 > 0) & (n2 > 0) & ~is_closing
    return np.nonzero(sharp)[0]


def _validate_area(
    parcels: Sequence[SurveyedParcel],
    geoms: NDArray[np.object_],
    valid: NDArray[np.bool_],
    measure: Measure,
    rules: ValidationRules,
    report: ValidationReport,
) -> None:
    declared = np.array(
        [p.declared_area if p.declared_area is not None else np.nan for p in parcels]
    )
    idx = np.nonzero(valid & ~np.isnan(declared))[0]
    if idx.size == 0:
        return
    measured = measure.area(geoms[idx])
    for i, area in zip(idx.tolist(), measured.tolist(), strict=True):
        difference = area - float(declared[i])
        tolerance = rules.area_tolerance(area)
        if abs(difference) <= tolerance:
            continue
        point = shapely.point_on_surface(geoms[i])
        report.issues.append(
            Issue(
                rules.area_mismatch_severity,
                IssueCode.AREA_MISMATCH,
                f"declared area {declared[i]:.2f} m² differs from the measured {area:.2f} m² by "
                f"{difference:+.2f} m² (tolerance {tolerance:.2f} m²)",
                i,
                parcels[i].place,
                shapely.to_wkt(point, rounding_precision=measure.wkt_precision),
                {
                    "declared_m2": round(float(declared[i]), 4),
                    "measured_m2": round(area, 4),
                    "difference_m2": round(difference, 4),
                    "tolerance_m2": round(tolerance, 4),
                },
            )
        )


SMALLEST_AREA_M2 = 0.01
"""The smallest area the cadastre stores (m², two decimals): a smaller parcel rounds to nothing."""
LARGEST_AREA_M2 = 1e11
"""The largest area the cadastre stores (m², 14 digits with two decimals, with room to spare)."""


def _validate_size(
    parcels: Sequence[SurveyedParcel],
    geoms: NDArray[np.object_],
    measurable: NDArray[np.bool_],
    measure: Measure,
    report: ValidationReport,
) -> None:
    """Measured and declared areas the cadastre can store: at least 0.01 m², below 10^11 m²."""
    idx = np.flatnonzero(measurable)
    measured = measure.area(geoms[idx]) if idx.size else np.empty(0)
    for i, area in zip(idx.tolist(), measured.tolist(), strict=True):
        if not math.isfinite(area) or area < SMALLEST_AREA_M2 or area >= LARGEST_AREA_M2:
            report.issues.append(Issue(
                "error", IssueCode.AREA_TOO_SMALL if not area >= LARGEST_AREA_M2 else IssueCode.AREA_TOO_LARGE,
                f"the parcel measures {area:.4g} m²; the cadastre stores parcels of "
                f"{SMALLEST_AREA_M2} m² to {LARGEST_AREA_M2:.0e} m²: check the units and the coordinates",
                i, parcels[i].place, None, {"measured_m2": area}))
    for i, parcel in enumerate(parcels):
        declared = parcel.declared_area
        if declared is None or declared == 0:
            continue
        if not math.isfinite(declared) or round(declared, 2) <= 0 or declared >= LARGEST_AREA_M2:
            report.issues.append(Issue(
                "error", IssueCode.DECLARED_AREA_INVALID,
                f"the declared area {declared:.4g} m² is not an area the cadastre stores "
                f"(more than 0 at two decimals, less than {LARGEST_AREA_M2:.0e} m²)",
                i, parcel.place, None, {"field": "declared_area", "declared_m2": declared}))


def _validate_codes(
    parcels: Sequence[SurveyedParcel], rules: ValidationRules, report: ValidationReport
) -> None:
    first_seen: dict[str, int] = {}
    for i, parcel in enumerate(parcels):
        code = parcel.parcel_code
        if code is None or not code.strip():
            report.issues.append(
                Issue(
                    "error" if rules.require_parcel_code else "warning",
                    IssueCode.PARCEL_CODE_MISSING,
                    f"the parcel has no parcel code (宗地代码): {tried_for_code()}",
                    i,
                    parcel.place,
                    details={"tried_fields": list(FIELD_NAMES["parcel_code"]),
                             "tried_dxf_tags": sorted(DXF_TAGS["parcel_code"])},
                )
            )
            continue
        try:
            # Most codes are already in normal form: skip the slower normalising parse.
            normal = code if _PARCEL_CODE.match(code) else parse_parcel_code(code).code
        except CodeError as exc:
            report.issues.append(
                Issue(
                    "error",
                    IssueCode.PARCEL_CODE_MALFORMED,
                    f"parcel code {exc}",
                    i,
                    parcel.place,
                    details={"parcel_code": code},
                )
            )
            continue
        if normal in first_seen:
            j = first_seen[normal]
            report.issues.append(
                Issue(
                    "error",
                    IssueCode.PARCEL_CODE_DUPLICATE,
                    f"parcel code {normal} is also used by the parcel at {parcels[j].place}",
                    i,
                    parcel.place,
                    details={"parcel_code": normal, "other_parcel_index": j},
                )
            )
        else:
            first_seen[normal] = i
