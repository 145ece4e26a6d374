"""Turn loose rings into a polygon: close them, then decide shell, hole or separate part.

Survey files list rings without saying what they are beyond "1 = outer boundary", and CAD
hatches list boundary paths in any order. Nesting decides: a ring inside a shell is a hole,
a ring inside a hole is an island (a new shell), a ring outside every shell is another part
of the parcel. Where that contradicts the ring number the file gave, the reader says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import shapely
from shapely.errors import GEOSException
from shapely.geometry import LinearRing, MultiPolygon, Polygon

from spatial.report import Issue, IssueCode

__all__ = ["RawRing", "assemble_polygon", "format_point"]

Coord = tuple[float, float]


@dataclass(slots=True)
class RawRing:
    """Ring vertices as read (closed or not); `number` is the file's ring number, 0 if none."""

    coords: list[Coord]
    number: int
    place: str


@dataclass(slots=True)
class _Placed:
    ring: RawRing
    polygon: Polygon
    area: float
    depth: int = 0
    parent: int | None = None


def format_point(x: float, y: float) -> str:
    return f"POINT ({x:.3f} {y:.3f})"


def _distinct(coords: Sequence[Coord]) -> int:
    return len(set(coords))


def _close(ring: RawRing, issues: list[Issue]) -> list[Coord] | None:
    coords = list(ring.coords)
    label = f"ring {ring.number}" if ring.number else "ring"
    if _distinct(coords) < 3:
        issues.append(
            Issue(
                "error",
                IssueCode.TOO_FEW_POINTS,
                f"{label} has {_distinct(coords)} distinct point(s); a ring needs at least 3",
                place=ring.place,
                location=format_point(*coords[0]) if coords else None,
                details={"ring": ring.number, "distinct_points": _distinct(coords)},
            )
        )
        return None
    if coords[0] != coords[-1]:
        issues.append(
            Issue(
                "warning",
                IssueCode.UNCLOSED_RING,
                f"{label} does not return to its first point; it was closed",
                place=ring.place,
                location=format_point(*coords[0]),
                details={"ring": ring.number},
            )
        )
        coords.append(coords[0])
    return coords


def _covers(outer: Polygon, inner: Polygon) -> bool:
    try:
        return bool(outer.covers(inner.exterior))
    except GEOSException:
        # Invalid rings can defeat the predicate: fall back to where the vertices lie.
        xy = shapely.get_coordinates(inner.exterior)
        return bool(shapely.contains_xy(outer, xy[:, 0], xy[:, 1]).all())


def _intersects(a: Polygon, b: Polygon) -> bool:
    try:
        return bool(a.intersects(b))
    except GEOSException:
        return True


def assemble_polygon(rings: Sequence[RawRing]) -> tuple[Polygon | MultiPolygon, list[Issue]]:
    """Close `rings`, nest them and build a Polygon or MultiPolygon; also return what was done.

    The polygon may be invalid (a hole crossing its shell stays a hole so that validation
    can report where they cross); it is empty when no ring had three distinct points.
    """
    issues: list[Issue] = []
    placed: list[_Placed] = []
    for ring in rings:
        coords = _close(ring, issues)
        if coords is None:
            continue
        polygon = Polygon(LinearRing(coords))
        placed.append(_Placed(ring, polygon, float(polygon.area)))
    # Biggest first, so that every possible container is placed before what it contains.
    order = sorted(range(len(placed)), key=lambda i: -placed[i].area)
    done: list[int] = []
    for i in order:
        item = placed[i]
        for j in reversed(done):  # smallest containers first
            if _covers(placed[j].polygon, item.polygon):
                item.parent, item.depth = j, placed[j].depth + 1
                break
        else:
            # Not inside anything: a ring numbered as a further ring that crosses a shell is
            # kept as that shell's hole, so validation reports where the two cross.
            if item.ring.number >= 2:
                for j in done:
                    if placed[j].depth == 0 and _intersects(placed[j].polygon, item.polygon):
                        item.parent, item.depth = j, 1
                        break
        done.append(i)
    for item in placed:
        _report_role(item, placed, issues)
    shells: dict[int, list[list[Coord]]] = {}
    for i in order:
        if placed[i].depth % 2 == 0:
            shells[i] = []
    for i in order:
        item = placed[i]
        if item.depth % 2 == 1 and item.parent is not None:
            shells[item.parent].append(cast("list[Coord]", list(item.polygon.exterior.coords)))  # 2D rings
    polygons = [Polygon(placed[i].polygon.exterior.coords, holes) for i, holes in shells.items()]
    if not polygons:
        return Polygon(), issues
    if len(polygons) == 1:
        return polygons[0], issues
    return MultiPolygon(polygons), issues


def _report_role(item: _Placed, placed: list[_Placed], issues: list[Issue]) -> None:
    number = item.ring.number
    if number == 0:
        return
    x, y = item.polygon.exterior.coords[0]
    if number == 1 and item.depth % 2 == 1:
        parent = placed[item.parent].ring.number if item.parent is not None else 0
        issues.append(
            Issue(
                "warning",
                IssueCode.RING_NESTING,
                f"ring 1 (the outer boundary) lies inside ring {parent}; it was read as a hole",
                place=item.ring.place,
                location=format_point(x, y),
                details={"ring": number},
            )
        )
    elif number >= 2 and item.depth % 2 == 0:
        what = "outside the other rings" if item.depth == 0 else "inside a hole"
        issues.append(
            Issue(
                "warning",
                IssueCode.SEPARATE_PART,
                f"ring {number} lies {what}; it was read as a separate part of the parcel",
                place=item.ring.place,
                location=format_point(x, y),
                details={"ring": number},
            )
        )
