"""Coordinates that fit their CRS: inside its area of use, transformable, valid in lon/lat.

A file whose coordinates do not belong to the CRS it names reads without complaint (the
numbers are numbers), yet cannot be published: PROJ turns them into infinities or into
points on the other side of the globe, and the database refuses them. The usual causes are
few and can be told apart from the numbers alone, so the message says which and how to fix it:

    axes_swapped          x holds the northing and y the easting (surveyors' X/Y order, or a
                          GML whose posList does not follow its srsName's axis order)
    zone_prefix_missing   a zone-prefixed CRS (EPSG:4528) with eastings that lost the prefix
    zone_prefix_unexpected  an unprefixed CRS (EPSG:4549) with eastings that carry one
    coordinates_outside_crs  none of these: the CRS is wrong for these coordinates

A parcel that fits is also transformed to CGCS2000 lon/lat (x = longitude), as publication
does, and must stay a valid polygon there (`invalid_after_transform` when not), and must
measure at least 0.01 m², the smallest area the cadastre stores (`area_too_small`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import shapely
from numpy.typing import NDArray

from spatial.crs import CGCS2000, gauss_kruger_zone, resolve_crs, transformer, zone_for_easting, zone_of_epsg
from spatial.report import Issue, IssueCode

__all__ = ["AreaOfUse", "area_of_use", "domain_issues", "MARGIN_DEG"]

MARGIN_DEG = 1.0
"""How far (degrees) a parcel may lie outside its CRS's area of use: surveys near a zone
border are often computed in the neighbouring zone, and areas of use are drawn tight."""


@dataclass(frozen=True, slots=True)
class AreaOfUse:
    """Lon/lat bounds (degrees, x = longitude) where a CRS may be used, and their name."""

    west: float
    south: float
    east: float
    north: float
    name: str

    def contains(self, lon: NDArray[np.float64], lat: NDArray[np.float64],
                 margin: float = MARGIN_DEG) -> NDArray[np.bool_]:
        """True where (lon, lat) lies inside the bounds widened by `margin` degrees."""
        inside = (lat >= self.south - margin) & (lat <= self.north + margin)
        if self.west <= self.east:  # an area of use crossing the antimeridian is not checked by longitude
            inside &= (lon >= self.west - margin) & (lon <= self.east + margin)
        return np.asarray(inside & np.isfinite(lon) & np.isfinite(lat))

    def describe(self) -> str:
        return f"{self.west:g}°E–{self.east:g}°E, {self.south:g}°N–{self.north:g}°N"


@cache
def area_of_use(epsg: int) -> AreaOfUse:
    """The area of use EPSG gives the CRS (whole globe when it gives none)."""
    found = resolve_crs(epsg).area_of_use
    if found is None:
        return AreaOfUse(-180.0, -90.0, 180.0, 90.0, "world")
    return AreaOfUse(found.west, found.south, found.east, found.north, found.name.rstrip(". "))


def _to_lonlat(crs: int, xy: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if crs == CGCS2000:
        return xy[:, 0].copy(), xy[:, 1].copy()
    with np.errstate(all="ignore"):
        lon, lat = transformer(crs, CGCS2000).transform(xy[:, 0], xy[:, 1], errcheck=False)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _all_fit(crs: int, xy: NDArray[np.float64], owner: NDArray[np.intp], count: int) -> NDArray[np.bool_]:
    """Per parcel (`owner` numbers each coordinate's parcel, 0..count-1): all its coordinates fit."""
    lon, lat = _to_lonlat(crs, np.ascontiguousarray(xy))
    fits = np.ones(count, dtype=bool)
    fits[owner[~area_of_use(crs).contains(lon, lat)]] = False
    return fits


def domain_issues(geoms: NDArray[np.object_], usable: NDArray[np.bool_], places: Sequence[str],
                  crs: int, wkt_precision: int) -> tuple[list[Issue], NDArray[np.bool_]]:
    """The issues of parcels whose coordinates do not fit EPSG:`crs`, and which parcels fit.

    `geoms` are the parcels in EPSG:`crs` (x = easting/longitude); `usable[i]` is false for
    parcels already reported as not polygons or empty (they are neither checked nor fitting).
    A parcel with a non-finite coordinate is left to the validity check (it does not fit).
    Never raises for odd coordinates.
    """
    fits = usable.copy()
    issues: list[Issue] = []
    idx = np.flatnonzero(usable)
    if idx.size == 0:
        return issues, fits
    coords, owner = shapely.get_coordinates(geoms[idx], return_index=True)
    finite: NDArray[np.bool_] = np.asarray(np.isfinite(coords).all(axis=1), dtype=bool)
    bad_parcel = np.zeros(idx.size, dtype=bool)
    bad_parcel[owner[~finite]] = True
    lon, lat = _to_lonlat(crs, np.where(finite[:, None], coords, 0.0))
    inside = area_of_use(crs).contains(lon, lat)
    outside = np.zeros(idx.size, dtype=bool)
    outside[owner[~inside & finite]] = True
    fits[idx[bad_parcel | outside]] = False
    misfit = np.flatnonzero(outside & ~bad_parcel)
    if misfit.size:
        # Which cause fits, for all misfits at once: x and y swapped, or the zone prefix added.
        starts = np.searchsorted(owner, misfit)
        ends = np.searchsorted(owner, misfit, side="right")
        take = np.concatenate([np.arange(s, e) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)])
        local = np.repeat(np.arange(misfit.size), ends - starts)
        theirs = coords[take]
        swapped = _all_fit(crs, theirs[:, ::-1], local, misfit.size)
        zone = zone_of_epsg(crs)
        shifted = np.zeros(misfit.size, dtype=bool)
        if zone is not None and zone.prefixed:
            moved_x = theirs + np.array([zone.zone * 1_000_000, 0.0])
            shifted = _all_fit(crs, moved_x, local, misfit.size)
        for j, k in enumerate(misfit.tolist()):
            i = int(idx[k])
            issues.append(_misfit(i, places[i], crs, coords[starts[j]:ends[j]], wkt_precision, bool(swapped[j]),
                                  bool(shifted[j])))
    # Those that fit: valid in lon/lat too (the cadastre stores them so). The coordinates are
    # already transformed: put them in place of the survey ones, in the same order.
    lonlat = np.column_stack([lon, lat])
    moved = np.asarray(shapely.transform(geoms[idx], lambda _: lonlat), dtype=object)
    broken = np.flatnonzero(fits[idx] & ~shapely.is_valid(moved))
    for k in broken[shapely.is_valid(geoms[idx[broken]])].tolist():
        i = int(idx[k])
        fits[i] = False
        issues.append(Issue(
            "error", IssueCode.INVALID_AFTER_TRANSFORM,
            f"the boundary is valid in EPSG:{crs} but not once transformed to CGCS2000 longitude/latitude "
            f"(EPSG:{CGCS2000}): {shapely.is_valid_reason(moved[k])}; a vertex is too close to another "
            "part of the boundary: move it apart by at least a millimetre",
            i, places[i], None, {"crs": crs}))
    return issues, fits


def _misfit(i: int, place: str, crs: int, xy: NDArray[np.float64], precision: int, swapped: bool,
            shifted: bool) -> Issue:
    """Say why a parcel's coordinates do not fit EPSG:`crs`, with the fix."""
    aou = area_of_use(crs)
    x, y = float(xy[0, 0]), float(xy[0, 1])
    at = str(shapely.to_wkt(shapely.points(x, y), rounding_precision=precision))
    geographic = bool(resolve_crs(crs).is_geographic)
    what = "longitudes/latitudes" if geographic else "eastings/northings"
    head = (f"coordinates such as x {x:.3f}, y {y:.3f} are not {what} of EPSG:{crs} "
            f"(outside its area of use, {aou.name}: {aou.describe()})")
    details: dict[str, object] = {"crs": crs, "x": round(x, 3), "y": round(y, 3),
                                  "area_of_use": [aou.west, aou.south, aou.east, aou.north]}
    if swapped:
        return Issue("error", IssueCode.AXES_SWAPPED,
                     f"{head}: x and y look swapped (x holds the northing, y the easting). Write x = easting "
                     "(the surveyors' Y) and y = northing (the surveyors' X); for GML, write each position in "
                     "the axis order of its srsName (urn:ogc:def:crs:EPSG::n and "
                     "http://www.opengis.net/def/crs/EPSG/0/n mean northing first for Chinese Gauss-Krüger "
                     "CRSs, EPSG:n means easting first)", i, place, at, details)
    zone = zone_of_epsg(crs)
    if zone is not None and zone.prefixed and float(np.nanmax(np.abs(xy[:, 0]))) < 1_000_000:
        unprefixed = gauss_kruger_zone(zone.zone, width=zone.width, prefixed=False, datum=zone.datum)
        details["suggested_crs"] = unprefixed.epsg
        if shifted:
            return Issue("error", IssueCode.ZONE_PREFIX_MISSING,
                         f"{head}: the eastings have lost their zone prefix — EPSG:{crs} is zone {zone.zone}, whose "
                         f"eastings read {zone.zone}xxxxxx.xxx (e.g. {x + zone.zone * 1_000_000:.3f}); write the "
                         f"zone number {zone.zone} in front of every easting, or state EPSG:"
                         f"{details['suggested_crs']} (zone {zone.zone} without prefix, central meridian "
                         f"{zone.central_meridian}°E) when uploading", i, place, at, details)
    prefixed = zone_for_easting(x, datum=zone.datum) if zone is not None and not zone.prefixed else None
    if prefixed is not None:
        details["suggested_crs"] = prefixed.epsg
        return Issue("error", IssueCode.ZONE_PREFIX_UNEXPECTED,
                     f"{head}: the eastings carry the zone prefix {prefixed.zone} but EPSG:{crs} has no prefix; "
                     f"state EPSG:{prefixed.epsg} (zone {prefixed.zone} with prefix) when uploading, or remove "
                     "the prefix from every easting", i, place, at, details)
    return Issue("error", IssueCode.COORDINATES_OUTSIDE_CRS,
                 f"{head}: the file's CRS is not the one these coordinates were surveyed in; export the file "
                 "with the right CRS, or state the right EPSG code when uploading", i, place, at, details)
