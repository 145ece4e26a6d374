"""GET /parcels/{code}/geometry.{format}: a parcel's boundary as a file, written by a library.

    geojson  RFC 7946 GeoJSON, lon/lat on CGCS2000 (EPSG:4490), axis order lon, lat (GDAL, pyogrio)
    gml      GML 3.2 (OGC 07-036), CGCS2000 lon/lat (EPSG:4490) (GDAL, pyogrio)
    dxf      AutoCAD DXF R2010 in the parcel's survey CRS (its Gauss-Krüger zone, metres, easting x,
             northing y), as surveyors draw, one closed polyline per ring on layer PARCEL and
             the code as text (ezdxf); the CRS is named in the file name
    kml      KML 2.2 (OGC 07-147r2), WGS 84 lon/lat: the geometry element is written by PostGIS
             (ST_AsKML, see `queries.parcel_kml_geometry` for the datum: CGCS2000 coordinates
             written unchanged, a few centimetres from WGS 84), the Placemark around it here. Not
             by GDAL: the upload hardening unregisters GDAL's KML driver for the whole process
             (spatial/readers/_gdal.py), and it stays unregistered.

Each file holds one feature with the public attributes only (code, land use, area, version).
An unknown format is a 404 naming the formats; a malformed code a 422.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import shapely
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from portal.public import queries
from portal.public.parcels import checked_parcel_code, public_parcel
from portal.public.sheet import sheet_srid

__all__ = ["router", "FORMATS", "geometry_file", "kml_document"]

router = APIRouter(tags=["public map"])

# format: (GDAL driver, media type, survey CRS rather than lon/lat, dataset options)
FORMATS: dict[str, tuple[str, str, bool, dict[str, str]]] = {
    "geojson": ("GeoJSON", "application/geo+json", False, {"RFC7946": "YES"}),
    "gml": ("GML", "application/gml+xml", False, {"FORMAT": "GML3.2"}),
    "dxf": ("DXF", "image/vnd.dxf", True, {}),
    "kml": ("", "application/vnd.google-earth.kml+xml", False, {}),
}


def geometry_file(fmt: str, geometry: dict[str, Any], srid: int, attributes: dict[str, Any]) -> bytes:
    """One feature (`geometry`: a GeoJSON geometry in EPSG:`srid`) with `attributes`, written
    by GDAL's driver for `fmt` (a key of FORMATS). CPU and disk: call it from a thread."""
    driver, _, _, options = FORMATS[fmt]
    shape = shapely.geometry.shape(geometry)
    if fmt == "dxf":
        return _dxf(shape, str(attributes["parcel_code"]))
    if fmt == "kml":
        raise ValueError("KML is written by PostGIS: use kml_document")
    names = list(attributes)
    with tempfile.TemporaryDirectory(prefix="parcel-") as folder:
        path = Path(folder) / f"parcel.{fmt}"
        from pyogrio.raw import write

        write(str(path), np.array([shapely.to_wkb(shape)], dtype=object),
              [np.array([attributes[n]], dtype=object if isinstance(attributes[n], str) else None) for n in names],
              names, driver=driver, geometry_type=shape.geom_type, crs=f"EPSG:{srid}", layer="parcel",
              dataset_options=options or None)
        return path.read_bytes()


def _dxf(shape: Any, code: str) -> bytes:
    from ezdxf import units
    from ezdxf.document import Drawing

    doc = Drawing.new("R2010")
    doc.units = units.M
    doc.layers.add("PARCEL")
    space = doc.modelspace()
    polygons = getattr(shape, "geoms", [shape])
    for polygon in polygons:
        for ring in (polygon.exterior, *polygon.interiors):
            space.add_lwpolyline([(x, y) for x, y, *_ in ring.coords], close=True, dxfattribs={"layer": "PARCEL"})
    at = shape.representative_point()
    space.add_text(code, height=1.5, dxfattribs={"layer": "PARCEL"}).set_placement((at.x, at.y))
    out = io.StringIO()
    doc.write(out)
    return out.getvalue().encode("utf-8")


# Characters XML 1.0 (§2.2 Char) does not allow in a document: C0 controls but tab, line feed
# and carriage return; surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: object) -> str:
    """`value` as XML character data: escaped, the characters XML 1.0 forbids left out."""
    return escape(_NOT_XML.sub("", str(value)))


def kml_document(geometry_kml: str, attributes: dict[str, Any]) -> bytes:
    """A KML 2.2 document of one Placemark named by the parcel code, the public attributes as
    ExtendedData, around `geometry_kml` (PostGIS's ST_AsKML element, lon/lat WGS 84). Always
    well-formed XML 1.0: characters XML forbids (control characters) are left out of names and
    values."""
    data = "".join(f"<Data name={quoteattr(_NOT_XML.sub('', str(name)))}><value>{_xml_text(value)}</value></Data>"
                   for name, value in attributes.items())
    code = _xml_text(attributes["parcel_code"])
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"<name>{code}</name><Placemark><name>{code}</name>"
            f"<ExtendedData>{data}</ExtendedData>{geometry_kml}</Placemark>"
            "</Document></kml>\n").encode()


@router.get("/parcels/{parcel_code}/geometry.{fmt}", response_class=Response,
            responses={200: {"content": {t: {} for _, t, _, _ in FORMATS.values()}}})
async def parcel_geometry(request: Request, parcel_code: str, fmt: str) -> Response:
    """The parcel's boundary as GeoJSON, GML (CGCS2000 lon/lat), KML (WGS 84 lon/lat) or DXF (metres:
    the survey CRS when it is projected, else the CGCS2000 Gauss-Krüger zone of the parcel, as its sheet)."""
    if fmt not in FORMATS:
        fmt = fmt if len(fmt) <= 20 else fmt[:20] + "…"  # echoed cut short
        raise HTTPException(404, f"no geometry format {fmt!r}; choose one of {', '.join(FORMATS)}")
    code = checked_parcel_code(parcel_code)
    in_survey_crs = FORMATS[fmt][2]
    async with request.app.state.pool.connection() as conn:
        parcel, row = await public_parcel(conn, code)
        survey = None
        kml = await queries.parcel_kml_geometry(conn, row["parcel_id"], row["version"]) if fmt == "kml" else None
        if in_survey_crs:  # metres, as the sheet: the survey CRS when projected, else the parcel's GK zone
            place = await queries.parcel_sheet_place(conn, row["parcel_id"], row["version"])
            survey = None if place is None else await queries.parcel_sheet_geometry(
                conn, row["parcel_id"], row["version"], sheet_srid(place["survey_srid"], place["lon"]))
    if in_survey_crs:
        if survey is None:
            raise HTTPException(409, f"parcel {code} changed meanwhile; try again")
        geometry, srid = survey["geometry"], int(survey["srid"])
    else:
        geometry, srid = parcel.geometry, 4490
    attributes = {"parcel_code": code, "land_use": parcel.land_use.code, "area_m2": round(parcel.area, 2),
                  "version": parcel.version}
    if fmt == "kml":
        if kml is None:
            raise HTTPException(409, f"parcel {code} changed meanwhile; try again")
        body = kml_document(kml, attributes)
    else:
        body = await run_in_threadpool(geometry_file, fmt, geometry, srid, attributes)
    suffix = f"-EPSG{srid}" if in_survey_crs else ""
    return Response(body, media_type=FORMATS[fmt][1], headers={
        "Content-Disposition": f'attachment; filename="{code}{suffix}.{fmt}"'})
