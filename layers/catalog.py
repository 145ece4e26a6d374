"""What OGC API publishes: the collections, their public properties, and the CRSs on offer.

This module is the whitelist. Only the properties named here ever leave the server through
`/ogc` (features, queryables, schema and tiles are all built from it), and each one maps to a
column of the public views `published_parcels`/`published_admin_areas` or of the tables
behind them; party, share and restriction tables are never named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import pyproj

from layers.errors import InvalidParameter, UnsupportedCrs

__all__ = [
    "CRS84", "Crs", "Collection", "Property", "COLLECTIONS", "STORAGE_SRID", "STORAGE_CRS",
    "SUPPORTED_SRIDS", "crs_uri", "parse_crs", "collection",
]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STORAGE_SRID = 4490  # stored with x = longitude, y = latitude (PostGIS order)
STORAGE_CRS = f"http://www.opengis.net/def/crs/EPSG/0/{STORAGE_SRID}"
# CGCS2000 geographic, Web Mercator, and every CGCS2000 Gauss-Krüger zone (EPSG:4491-4554).
SUPPORTED_SRIDS = (4490, 3857, *range(4491, 4555))


@dataclass(frozen=True)
class Crs:
    """A published CRS: its URI, SRID, and whether its first axis is northing/latitude."""

    uri: str
    srid: int
    northing_first: bool
    geographic: bool
    # Where coordinates in this CRS can be transformed (x = easting/longitude first): the
    # whole globe for a geographic CRS, the area of use with a margin for a projected one.
    domain: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)

    @property
    def digits(self) -> int:
        """Decimal digits that keep millimetres: 9 in degrees, 3 in metres."""
        return 9 if self.geographic else 3

    def check_within(self, xs: list[float], ys: list[float], what: str) -> None:
        """Raise InvalidParameter naming `what` unless every (x, y), in this CRS's own axis
        order, lies in its domain (PostGIS cannot transform what lies far outside)."""
        if not all(math.isfinite(v) for v in (*xs, *ys)):
            raise InvalidParameter(f"{what} has coordinates that are not finite numbers")
        if self.northing_first:
            xs, ys = ys, xs
        x0, y0, x1, y1 = self.domain
        if min(xs) < x0 or max(xs) > x1 or min(ys) < y0 or max(ys) > y1:
            first, second = ((y0, y1), (x0, x1)) if self.northing_first else ((x0, x1), (y0, y1))
            raise InvalidParameter(
                f"{what} lies outside the area where {self.uri} is defined (first axis "
                f"{first[0]:.10g} to {first[1]:.10g}, second axis {second[0]:.10g} to "
                f"{second[1]:.10g}); give coordinates in that range, or use {CRS84}")


def crs_uri(srid: int) -> str:
    return f"http://www.opengis.net/def/crs/EPSG/0/{srid}"


# How far beyond its area of use a projected CRS is still accepted, in degrees (half a
# 3-degree Gauss-Krüger zone): a bbox a little outside the zone is still transformed exactly.
DOMAIN_MARGIN_DEGREES = 1.5


def _domain(info: pyproj.CRS) -> tuple[float, float, float, float]:
    if info.is_geographic or info.area_of_use is None:
        return (-180.0, -90.0, 180.0, 90.0)
    west, south, east, north = info.area_of_use.bounds
    m = DOMAIN_MARGIN_DEGREES
    to_crs = pyproj.Transformer.from_crs(4326, info, always_xy=True)
    x0, y0, x1, y1 = to_crs.transform_bounds(max(west - m, -180.0), max(south - m, -85.06),
                                             min(east + m, 180.0), min(north + m, 85.06),
                                             densify_pts=21)
    return (float(x0), float(y0), float(x1), float(y1))


@cache
def _crs(srid: int | None) -> Crs:
    if srid is None:
        return Crs(CRS84, STORAGE_SRID, northing_first=False, geographic=True)
    info = pyproj.CRS.from_epsg(srid)
    first = info.axis_info[0].direction.lower()
    return Crs(crs_uri(srid), srid, northing_first=first in ("north", "south"),
               geographic=info.is_geographic, domain=_domain(info))


def parse_crs(value: str | None, parameter: str = "crs", *, strict: bool = True) -> Crs:
    """The CRS a `crs`/`bbox-crs`/`filter-crs` parameter names (CRS84 when absent).

    Accepts the URIs the collections advertise (and their https form); with `strict=False`
    (for the CRS names pygeoapi and PROJ write, never for a client's parameter) also the
    `EPSG:n`, `OGC:CRS84` and URN shorthands.
    Raises UnsupportedCrs naming the parameter for any other value, an empty one included
    (`crs=`: the OpenAPI lists the values allowed, and "" is none of them).
    """
    if value is None or (value == "" and not strict):
        return _crs(None)
    text = value.strip().strip("[]")
    lowered = text.lower().replace("https://", "http://")
    shorthands = () if strict else ("ogc:crs84", "crs84", "urn:ogc:def:crs:ogc:1.3:crs84")
    if lowered == CRS84.lower() or lowered in shorthands:
        return _crs(None)
    srid: int | None = None
    prefixes = ("http://www.opengis.net/def/crs/epsg/0/",) if strict else (
        "http://www.opengis.net/def/crs/epsg/0/", "epsg:", "urn:ogc:def:crs:epsg::")
    for prefix in prefixes:
        if lowered.startswith(prefix) and lowered[len(prefix):].isascii() and lowered[len(prefix):].isdigit():
            srid = int(lowered[len(prefix):])
    if srid not in SUPPORTED_SRIDS:
        raise UnsupportedCrs(
            f"{parameter}={value!r} is not offered; use one of the URIs the collection lists: "
            f"{CRS84}, or http://www.opengis.net/def/crs/EPSG/0/n for EPSG:4490, EPSG:3857 or a "
            "CGCS2000 Gauss-Krüger zone EPSG:4491-4554"
        )
    return _crs(srid)


@dataclass(frozen=True)
class Property:
    """One public property: its name in JSON, the SQL expression, and its JSON Schema type."""

    name: str
    sql: str
    type: str
    title: str
    format: str | None = None


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    table: str  # the base table (versioned for parcels)
    alias: str
    id_property: str
    geometry_sql: str
    properties: tuple[Property, ...]
    joins: str  # joins that supply names (land use, admin area)
    versioned: bool
    tile_layer: str
    tile_properties: tuple[str, ...]

    def prop(self, name: str) -> Property | None:
        for p in self.properties:
            if p.name == name:
                return p
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)


PARCELS = Collection(
    id="parcels",
    title="Parcels",
    description="Cadastral parcels (宗地): parcel code, area, land use, administrative area "
    "and validity dates. `datetime` gives the parcels as they were at that time.",
    table="parcels",
    alias="p",
    id_property="parcel_code",
    geometry_sql="p.geom",
    properties=(
        Property("parcel_code", "p.parcel_code", "string", "Parcel code (宗地代码)"),
        Property("area", "p.calculated_area", "number", "Area in square metres"),
        Property("land_use_code", "p.land_use_code", "string", "Land use (GB/T 21010)"),
        Property("land_use_name", "lu.name_zh", "string", "Land use name"),
        Property("admin_area_code", "p.admin_area_code", "string",
                 "Administrative area code (GB/T 2260)"),
        Property("admin_area_name", "a.name", "string", "Administrative area name"),
        Property("valid_from", "p.valid_from", "string", "Valid from", "date"),
        Property("valid_to", "p.valid_to", "string", "Valid to", "date"),
    ),
    joins="JOIN land_uses lu ON lu.code = p.land_use_code "
          "JOIN admin_areas a ON a.code = p.admin_area_code",
    versioned=True,
    tile_layer="parcels",
    tile_properties=("parcel_code", "land_use_code"),
)

ADMIN_AREAS = Collection(
    id="admin-areas",
    title="Administrative areas",
    description="County-level administrative divisions (GB/T 2260 codes).",
    table="admin_areas",
    alias="a",
    id_property="admin_area_code",
    geometry_sql="a.boundary",
    properties=(
        Property("admin_area_code", "a.code", "string",
                 "Administrative area code (GB/T 2260)"),
        Property("admin_area_name", "a.name", "string", "Administrative area name"),
    ),
    joins="",
    versioned=False,
    tile_layer="admin-areas",
    tile_properties=("admin_area_code", "admin_area_name"),
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (PARCELS, ADMIN_AREAS)}


def collection(collection_id: str) -> Collection:
    from layers.errors import NotFound

    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(f"no collection {collection_id!r}; collections: "
                       + ", ".join(COLLECTIONS)) from None
