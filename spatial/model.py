"""What a reader hands over: surveyed parcels in the CRS they were delivered in.

Geometry keeps the delivered CRS (transforming is a separate, explicit step, see
`spatial.crs`) so that areas are checked in the plane the surveyor measured in and error
locations can be shown in the surveyor's own coordinates. Axis order is always the
traditional GIS one: x = easting or longitude, y = northing or latitude, even where the
file (or the EPSG definition) puts northing first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shapely.geometry import MultiPolygon, Polygon

from spatial.report import Issue

__all__ = ["BoundaryPoint", "SurveyedParcel", "ReadResult", "CrsSource"]

CrsSource = Literal["file", "zone_prefix", "uploader"]
"""How the CRS of an upload was decided: stated in the file (a .prj, an srsName, the exchange
header's zone), inferred from the zone prefix of the eastings, or given by the uploader."""


@dataclass(slots=True)
class BoundaryPoint:
    """A boundary point (界址点): its name as surveyed (J1, J2 ...), x = easting, y = northing.

    `ring` is the ring number the file gave (1 = outer boundary); 0 when unknown.
    """

    name: str
    x: float
    y: float
    ring: int = 0


@dataclass(slots=True)
class SurveyedParcel:
    """One parcel as read from a file, before any validation against the cadastre.

    `declared_area` is in m² (hectares are converted by the reader); `place` says where the
    parcel is in the file (``line 12``, ``layer 'parcel', feature 3``,
    ``entity LWPOLYLINE #1A2 (layer ZD)``); `warnings` lists what the reader already found and
    repaired or could not repair (the severity says which).
    """

    geometry: Polygon | MultiPolygon
    crs: int
    place: str
    parcel_code: str | None = None
    declared_area: float | None = None
    land_use_code: str | None = None
    name: str | None = None
    boundary_points: list[BoundaryPoint] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


@dataclass(slots=True)
class ReadResult:
    """The parcels of one file, its CRS (EPSG code) and file-level issues.

    `format` names the reader that was used: ``exchange``, ``dxf``, ``geojson``, ``shapefile``,
    ``gpkg``, ``gml``, ``edigeo`` or another GDAL driver name in lower case; `crs_source` says
    how the CRS was decided.
    """

    file: str
    crs: int
    parcels: list[SurveyedParcel]
    issues: list[Issue] = field(default_factory=list)
    format: str = ""
    crs_source: CrsSource = "file"
