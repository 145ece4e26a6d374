"""Coordinate reference systems: EPSG look-up, Chinese Gauss-Krüger zones, transforms to lon/lat.

Chinese survey files name their CRS by datum, zone width and zone number rather than by EPSG
code, and eastings often carry the zone number as a prefix (40438683.652 is zone 40). The
functions here turn that into EPSG codes, and transform to CGCS2000 longitude/latitude in
the order GeoJSON and PostGIS use (x = longitude) although EPSG:4490 is latitude-first.

Transformers and CRS objects are cached: building one costs far more than using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal, TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError
from shapely.geometry.base import BaseGeometry

from spatial.errors import CrsError

__all__ = [
    "CGCS2000",
    "Datum",
    "GaussKrugerZone",
    "resolve_crs",
    "epsg_of",
    "is_projected",
    "is_geographic",
    "metres_per_unit",
    "gauss_kruger_zone",
    "zone_for_meridian",
    "zone_for_easting",
    "zone_of_easting",
    "zone_of_epsg",
    "transformer",
    "transform_geometry",
    "to_cgcs2000_lonlat",
    "geod_for",
]

CGCS2000 = 4490
"""EPSG code of geographic CGCS2000 (latitude-first by authority; we always use x = lon)."""

Datum = Literal["CGCS2000", "Xian1980", "Beijing1954"]

# First EPSG code of each family: (datum, zone width, prefixed) -> code of the westernmost
# zone (3-degree zone 25 / 6-degree zone 13, both central meridian 75°E). Codes run
# consecutively eastwards to 135°E.
_FIRST_CODE: dict[tuple[Datum, int, bool], int] = {
    ("CGCS2000", 3, True): 4513,
    ("CGCS2000", 3, False): 4534,
    ("CGCS2000", 6, True): 4491,
    ("CGCS2000", 6, False): 4502,
    ("Xian1980", 3, True): 2349,
    ("Xian1980", 3, False): 2370,
    ("Xian1980", 6, True): 2327,
    ("Xian1980", 6, False): 2338,
    ("Beijing1954", 3, True): 2401,
    ("Beijing1954", 3, False): 2422,
    ("Beijing1954", 6, True): 21413,
    ("Beijing1954", 6, False): 21473,
}
_ZONES = {3: range(25, 46), 6: range(13, 24)}

G = TypeVar("G", bound=BaseGeometry)


@dataclass(frozen=True, slots=True)
class GaussKrugerZone:
    """One Chinese Gauss-Krüger zone and its EPSG code.

    `prefixed` says whether eastings carry the zone number (false easting zone x 10^6 + 500000)
    or not (false easting 500000, the CRS named by its central meridian).
    """

    epsg: int
    datum: Datum
    width: int
    zone: int
    central_meridian: int
    prefixed: bool


def _width_of_zone(zone: int) -> int:
    # 3-degree zones covering China are 25-45, 6-degree zones 13-23: the ranges do not meet.
    for width, zones in _ZONES.items():
        if zone in zones:
            return width
    raise CrsError(
        f"zone {zone} is not a Chinese Gauss-Krüger zone "
        "(3-degree zones are 25-45, 6-degree zones 13-23)"
    )


def gauss_kruger_zone(
    zone: int,
    *,
    width: int | None = None,
    prefixed: bool = True,
    datum: Datum = "CGCS2000",
) -> GaussKrugerZone:
    """The zone numbered `zone`; width 3 or 6 degrees, inferred from the number when None.

    >>> gauss_kruger_zone(40).epsg
    4528
    >>> gauss_kruger_zone(40, prefixed=False).epsg
    4549

    Raises CrsError when the zone number does not exist for that width.
    """
    if width is None:
        width = _width_of_zone(zone)
    if width not in _ZONES:
        raise CrsError(f"zone width must be 3 or 6 degrees, not {width}")
    zones = _ZONES[width]
    if zone not in zones:
        raise CrsError(
            f"{width}-degree zone {zone} does not cover China "
            f"(zones {zones.start}-{zones.stop - 1})"
        )
    central_meridian = 3 * zone if width == 3 else 6 * zone - 3
    epsg = _FIRST_CODE[(datum, width, prefixed)] + zone - zones.start
    return GaussKrugerZone(epsg, datum, width, zone, central_meridian, prefixed)


def zone_for_meridian(
    central_meridian: float,
    *,
    width: int = 3,
    prefixed: bool = False,
    datum: Datum = "CGCS2000",
) -> GaussKrugerZone:
    """The zone whose central meridian is `central_meridian` (degrees east).

    Without a prefix the EPSG name gives the meridian (EPSG:4549 = CM 120E), which is what
    ``prefixed=False`` returns by default. Raises CrsError for a meridian no zone has.
    """
    meridian = float(central_meridian)
    whole = int(meridian) if meridian.is_integer() else None
    if whole is not None and width == 3 and whole % 3 == 0:
        zone = whole // 3
    elif whole is not None and width == 6 and (whole + 3) % 6 == 0:
        zone = (whole + 3) // 6
    else:
        raise CrsError(f"{central_meridian}°E is not the central meridian of a {width}-degree zone")
    return gauss_kruger_zone(zone, width=width, prefixed=prefixed, datum=datum)


def zone_of_easting(easting: float) -> int | None:
    """The zone number carried as a prefix of the easting (40438683.652 -> 40), or None.

    An easting with a prefix is zone x 10^6 + (false easting 500000 ± less than 10^6/2 in
    China); anything else is treated as carrying no prefix.
    """
    if not np.isfinite(easting) or easting < 1e7 or easting >= 1e8:
        return None
    zone = int(easting // 1_000_000)
    width = 3 if zone in _ZONES[3] else 6 if zone in _ZONES[6] else None
    return zone if width else None


def zone_for_easting(easting: float, *, datum: Datum = "CGCS2000") -> GaussKrugerZone | None:
    """The prefixed zone an easting belongs to (40438683.652 -> zone 40, EPSG:4528), or None."""
    zone = zone_of_easting(easting)
    if zone is None:
        return None
    return gauss_kruger_zone(zone, prefixed=True, datum=datum)


@cache
def _zone_table() -> dict[int, GaussKrugerZone]:
    table: dict[int, GaussKrugerZone] = {}
    for datum, width, prefixed in _FIRST_CODE:
        for zone in _ZONES[width]:
            gk = gauss_kruger_zone(zone, width=width, prefixed=prefixed, datum=datum)
            table[gk.epsg] = gk
    return table


def zone_of_epsg(epsg: int) -> GaussKrugerZone | None:
    """The Gauss-Krüger zone an EPSG code stands for, or None for any other CRS."""
    return _zone_table().get(epsg)


@cache
def resolve_crs(epsg: int) -> CRS:
    """The pyproj CRS of an EPSG code. Raises CrsError for a code EPSG does not define."""
    try:
        return CRS.from_epsg(epsg)
    except (PyprojCRSError, TypeError, ValueError, OverflowError) as exc:
        raise CrsError(f"EPSG:{epsg} is not a known coordinate reference system") from exc


def epsg_of(crs: CRS | str | int) -> int:
    """The EPSG code of a CRS given as WKT, PROJ string, URN, ``EPSG:n`` or a pyproj CRS.

    Raises CrsError when the text is not a CRS or matches no EPSG code closely enough
    (a custom CRS must be re-exported with an EPSG code or stated by the uploader).
    """
    if isinstance(crs, int):
        resolve_crs(crs)
        return crs
    try:
        parsed = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
    except (PyprojCRSError, TypeError, ValueError) as exc:
        raise CrsError(f"{str(crs)[:80]!r} is not a coordinate reference system") from exc
    code = parsed.to_epsg(min_confidence=70)
    if code is None:
        raise CrsError(
            f"the coordinate reference system {parsed.name!r} has no EPSG code; "
            "export the file with an EPSG CRS or state the EPSG code when uploading"
        )
    return int(code)


def is_projected(epsg: int) -> bool:
    """True when coordinates are planar (area in unit²), False for longitude/latitude."""
    return bool(resolve_crs(epsg).is_projected)


def is_geographic(epsg: int) -> bool:
    return bool(resolve_crs(epsg).is_geographic)


@cache
def metres_per_unit(epsg: int) -> float:
    """Length of one horizontal unit in metres for a projected CRS (1.0 for metres).

    Raises CrsError for a geographic CRS, whose unit (the degree) has no fixed length.
    """
    crs = resolve_crs(epsg)
    if not crs.is_projected:
        raise CrsError(f"EPSG:{epsg} is not projected: its unit has no length in metres")
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return float(factor)


@cache
def transformer(source: int, target: int) -> Transformer:
    """A cached Transformer between two EPSG codes, with x = easting/longitude on both sides."""
    return Transformer.from_crs(resolve_crs(source), resolve_crs(target), always_xy=True)


def transform_geometry(geometry: G, source: int, target: int) -> G:
    """`geometry` moved from EPSG:`source` to EPSG:`target` (x = easting/longitude).

    Raises CrsError when a coordinate cannot be transformed (it comes out infinite).
    """
    if source == target:
        return geometry
    tr = transformer(source, target)

    def move(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    moved: G = shapely.transform(geometry, move)
    if not moved.is_empty and not np.isfinite(shapely.get_coordinates(moved)).all():
        raise CrsError(f"coordinates cannot be transformed from EPSG:{source} to EPSG:{target}")
    return moved


def to_cgcs2000_lonlat(geometry: G, source: int) -> G:
    """`geometry` in EPSG:4490 as x = longitude, y = latitude (GeoJSON and PostGIS order)."""
    return transform_geometry(geometry, source, CGCS2000)


@cache
def geod_for(epsg: int) -> Geod:
    """The ellipsoid of a CRS, for ellipsoidal areas of longitude/latitude geometry."""
    crs = resolve_crs(epsg)
    geodetic = crs.geodetic_crs
    ellipsoid = geodetic.ellipsoid if geodetic is not None else None
    if ellipsoid is None:
        return Geod(ellps="GRS80")
    return Geod(a=ellipsoid.semi_major_metre, rf=ellipsoid.inverse_flattening)
