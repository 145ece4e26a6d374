"""Checks between parcels of one upload: overlaps and sliver gaps, fast for 100,000 parcels.

Both checks start from an STRtree and vectorised shapely calls, so that only the few pairs
that are actually at fault reach Python loops. Overlaps are measured as an area; gaps are
found where a vertex of one parcel lies close to, but not on, the boundary of its neighbour
(the usual digitising sliver), and the sliver itself is then rebuilt for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from spatial.report import Issue, IssueCode

__all__ = ["Measure", "find_overlaps", "find_gaps"]

Geoms = NDArray[np.object_]


@dataclass(frozen=True, slots=True)
class Measure:
    """How to turn CRS units into metres: `area` gives m², `length_unit` is metres per unit.

    For a geographic CRS, `length_unit` is an approximation (metres per degree of latitude)
    used only to turn metre thresholds into degrees; areas are ellipsoidal.
    """

    area: Callable[[Geoms], NDArray[np.float64]]
    length_unit: float
    wkt_precision: int


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    if isinstance(geometry, (Polygon, MultiPolygon)):
        return geometry
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    polys = [p for g in parts for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    return MultiPolygon(polys) if len(polys) > 1 else polys[0] if polys else Polygon()


def find_overlaps(
    geoms: Geoms,
    indices: NDArray[np.intp],
    places: list[str],
    measure: Measure,
    tolerance_m2: float,
) -> list[Issue]:
    """Pairs of parcels whose interiors share more than `tolerance_m2`; one error per pair.

    `geoms` are valid polygons, `indices` their positions in the upload.
    """
    if len(geoms) < 2:
        return []
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if left.size == 0:
        return []
    # Boxes that meet only along a line cannot hold an overlap: a cheap, exact first cut.
    bounds = shapely.bounds(geoms)
    width = np.minimum(bounds[left, 2], bounds[right, 2]) - np.maximum(
        bounds[left, 0], bounds[right, 0]
    )
    height = np.minimum(bounds[left, 3], bounds[right, 3]) - np.maximum(
        bounds[left, 1], bounds[right, 1]
    )
    boxed = (width > 0) & (height > 0)
    left, right = left[boxed], right[boxed]
    if left.size == 0:
        return []
    # Neighbours only touch: keep pairs whose interiors meet (DE-9IM interior/interior).
    inside = shapely.relate_pattern(geoms[left], geoms[right], "T********")
    left, right = left[inside], right[inside]
    if left.size == 0:
        return []
    try:
        shared = shapely.intersection(geoms[left], geoms[right])
    except GEOSException:
        shared = np.array(
            [_safe_intersection(geoms[a], geoms[b]) for a, b in zip(left, right, strict=True)],
            dtype=object,
        )
    shared = np.array([_polygonal(g) for g in shared], dtype=object)
    areas = measure.area(shared)
    issues = []
    for k in np.nonzero(areas > tolerance_m2)[0].tolist():
        a, b = int(indices[left[k]]), int(indices[right[k]])
        issues.append(
            Issue(
                "error",
                IssueCode.OVERLAP,
                f"overlaps the parcel at {places[b]} by {areas[k]:.3f} m²",
                parcel_index=a,
                place=places[a],
                location=shapely.to_wkt(shared[k], rounding_precision=measure.wkt_precision),
                details={
                    "other_parcel_index": b,
                    "other_where": places[b],
                    "area_m2": round(float(areas[k]), 4),
                },
            )
        )
    return issues


def _safe_intersection(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    try:
        return a.intersection(b)
    except GEOSException:
        return Polygon()


def find_gaps(
    geoms: Geoms,
    indices: NDArray[np.intp],
    places: list[str],
    measure: Measure,
    width_m: float,
    snap_m: float,
) -> list[Issue]:
    """Slivers narrower than `width_m` between neighbours; one warning per pair of parcels.

    A vertex closer than `snap_m` to the neighbour's boundary counts as on it.
    """
    if len(geoms) < 2 or width_m <= 0:
        return []
    width = width_m / measure.length_unit
    snap = snap_m / measure.length_unit
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    ring_owner = part_owner[ring_part]
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    # Drop each ring's closing coordinate, then share vertices common to several parcels.
    last = np.r_[coord_ring[1:] != coord_ring[:-1], True]
    coords, owner = coords[~last], ring_owner[coord_ring[~last]]
    # Complex numbers sort like (x, y) pairs, and far faster than np.unique(axis=0).
    keys, inverse = np.unique(coords[:, 0] + 1j * coords[:, 1], return_inverse=True)
    inverse = inverse.reshape(-1)
    unique = np.column_stack([keys.real, keys.imag])
    points = cast("NDArray[np.object_]", shapely.points(unique))  # an array in, an array out
    boundaries = shapely.boundary(geoms)
    tree = shapely.STRtree(boundaries)
    point_idx, parcel_idx = tree.query(points, predicate="dwithin", distance=width)
    if point_idx.size == 0:
        return []
    distance = cast("NDArray[np.float64]", shapely.distance(points[point_idx], boundaries[parcel_idx]))
    near = (distance > snap) & (distance <= width)
    point_idx, parcel_idx, distance = point_idx[near], parcel_idx[near], distance[near]
    if point_idx.size == 0:
        return []
    # A vertex inside the neighbour is an overlap, reported by find_overlaps.
    outside = ~shapely.intersects(geoms[parcel_idx], points[point_idx])
    point_idx, parcel_idx, distance = point_idx[outside], parcel_idx[outside], distance[outside]
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(unique)))
    ends = np.searchsorted(inverse[order], np.arange(len(unique)), side="right")
    pairs: dict[tuple[int, int], tuple[float, list[int]]] = {}
    for u, j, d in zip(point_idx.tolist(), parcel_idx.tolist(), distance.tolist(), strict=True):
        for i in set(owner[order[starts[u] : ends[u]]].tolist()):
            if i == j:
                continue
            key = (min(i, j), max(i, j))
            best, pts = pairs.get(key, (0.0, []))
            pts.append(u)
            pairs[key] = (max(best, d), pts)
    issues = []
    for (i, j), (max_d, pts) in sorted(pairs.items()):
        sliver = _sliver(geoms[i], geoms[j], unique[pts], width)
        area = (
            float(measure.area(np.array([sliver], dtype=object))[0]) if not sliver.is_empty else 0.0
        )
        location = sliver if not sliver.is_empty else cast(BaseGeometry, shapely.multipoints(unique[pts]))
        a, b = int(indices[i]), int(indices[j])
        issues.append(
            Issue(
                "warning",
                IssueCode.GAP,
                f"a gap up to {max_d * measure.length_unit:.3f} m wide separates it from "
                "the parcel at "
                f"{places[b]}; neighbours should share their boundary",
                parcel_index=a,
                place=places[a],
                location=shapely.to_wkt(location, rounding_precision=measure.wkt_precision),
                details={
                    "other_parcel_index": b,
                    "other_where": places[b],
                    "width_m": round(max_d * measure.length_unit, 4),
                    "area_m2": round(area, 4),
                },
            )
        )
    return issues


def _sliver(
    a: BaseGeometry, b: BaseGeometry, points: NDArray[np.float64], width: float
) -> BaseGeometry:
    """The space between a and b narrower than `width`, near the vertices that revealed it."""
    try:
        both = shapely.union(a, b)
        closed = shapely.buffer(
            shapely.buffer(both, width, join_style="mitre"), -width, join_style="mitre"
        )
        gap = shapely.difference(closed, both)
        near = shapely.buffer(shapely.multipoints(points), width * 2)
        pieces = [g for g in shapely.get_parts(gap) if g.intersects(near) and not g.is_empty]
    except GEOSException:
        return Polygon()
    if not pieces:
        return Polygon()
    return _polygonal(shapely.union_all(pieces))
