"""Reader for GIS formats through GDAL (pyogrio): GeoJSON, zipped Shapefile, GeoPackage, GML.

GIS files declare their CRS and carry attribute tables, so the work here is choosing the
layers, refusing a missing or implausible CRS, mapping whichever field obviously holds the
parcel code, area or land use (ZDDM, 宗地代码, nationalCadastralReference ...), and keeping
non-polygon features out while saying which ones they were.

Which files GDAL opens (temporary copies, zip members, unpacked EDIGEO archives), and with
which one driver, is decided from their content in `spatial.readers._sources`; GDAL itself is
restricted at import (`spatial.readers._gdal`: five drivers, no network, no virtual file systems).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyogrio import list_layers, read_info
from pyogrio import raw as ogr_raw
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from spatial.attributes import FIELD_NAMES
from spatial.crs import epsg_of, is_geographic, resolve_crs, transform_geometry
from spatial.errors import CrsError, ReadError, UnsupportedFormatError
from spatial.model import ReadResult, SurveyedParcel
from spatial.readers._gdal import lock_down
from spatial.readers._sources import Source, open_sources
from spatial.readers._text import parse_number
from spatial.readers.limits import ReadLimits
from spatial.report import Issue, IssueCode

lock_down()

__all__ = ["read_gis", "FIELD_NAMES"]


_POLYGONAL = (
    "polygon",
    "multipolygon",
    "surface",
    "multisurface",
    "curvepolygon",
    "unknown",
    "geometrycollection",
    "geometry",
)
_HECTARES = {"ha", "hectare", "hectares", "公顷"}
_GDAL_ERRORS = (DataSourceError, DataLayerError, FieldError, GeometryError, RuntimeError, OSError)


def read_gis(
    path: str | Path,
    *,
    crs: int | None = None,
    layers: list[str] | None = None,
    filename: str | None = None,
    limits: ReadLimits | None = None,
) -> ReadResult:
    """Read polygon features of a GDAL vector file; `crs` (EPSG) overrides the declared CRS.

    Raises UnsupportedFormatError for INTERLIS XTF and files GDAL cannot open, ReadError for a
    file without polygon features, CrsError for a missing, unknown or implausible CRS.
    """
    name = filename or Path(path).name
    with open_sources(Path(path), name, crs, limits) as sources:
        result: ReadResult | None = None
        for source in sources:
            part = _read_source(source, name, crs, layers)
            if len(sources) > 1 and source.member:
                _prefix_places(part, source.member)
            if result is None:
                result = part
            else:
                _merge(result, part)
    assert result is not None
    result.file = name
    result.crs_source = "uploader" if crs is not None else "file"
    if not result.parcels:
        skipped = "; ".join(f"{i.place}: {i.message}" for i in result.issues[:3] if i.place)
        raise ReadError(
            "holds no polygon feature" + (f" ({skipped})" if skipped else ""),
            file=name,
        )
    return result


def _prefix_places(part: ReadResult, member: str) -> None:
    """Several files in one archive: say which file a feature is in."""
    for parcel in part.parcels:
        parcel.place = f"{member}, {parcel.place}"
        for issue in parcel.warnings:
            issue.place = f"{member}, {issue.place}" if issue.place else None
    for issue in part.issues:
        issue.place = f"{member}, {issue.place}" if issue.place else member


def _merge(into: ReadResult, part: ReadResult) -> None:
    if part.crs != into.crs:
        for parcel in part.parcels:
            parcel.geometry = transform_geometry(parcel.geometry, part.crs, into.crs)
            parcel.crs = into.crs
        part.issues.append(
            Issue(
                "warning",
                IssueCode.CRS_TRANSFORMED,
                f"parcels in EPSG:{part.crs} were transformed to EPSG:{into.crs}, the CRS of the "
                "first layer read",
                details={"from": part.crs, "to": into.crs},
            )
        )
    into.parcels.extend(part.parcels)
    into.issues.extend(part.issues)


# --- reading one source -----------------------------------------------------------------


def _clean(message: str, source: Source, display: str) -> str:
    return message.replace(source.path, display).replace(str(Path(source.path).parent), "")


def _read_source(
    source: Source, name: str, crs: int | None, wanted: list[str] | None
) -> ReadResult:
    display = source.member or name
    options = dict(source.open_options)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            available = [(str(n), str(t)) for n, t in list_layers(source.path)]
    except _GDAL_ERRORS as exc:
        raise UnsupportedFormatError(
            "is not a vector format this portal reads (exchange .txt, DXF, GeoJSON, zipped "
            f"Shapefile, GeoPackage, GML): {_clean(str(exc), source, display)}",
            file=display,
        ) from exc
    chosen, issues = _choose_layers(available, wanted, source, display)
    driver = _driver_format(source, chosen[0], options)
    if source.driver and driver != _DRIVER_FORMATS.get(source.driver.lower(), "?"):
        # Belt and braces: `_sources` decided the format; no other driver may have taken the file.
        raise UnsupportedFormatError(f"was opened as {driver or 'an unknown format'}, not as the "
                                     f"{source.format} it looks like; refused", file=display)
    fmt = source.format or driver or _format_of(display)
    result: ReadResult | None = None
    for layer in chosen:
        part = _read_layer(source, display, layer, crs, options, several=len(available) > 1)
        part.format = fmt
        if result is None:
            result = part
        else:
            _merge(result, part)
    assert result is not None
    result.issues[:0] = issues
    return result


def _choose_layers(
    available: list[tuple[str, str]], wanted: list[str] | None, source: Source, display: str
) -> tuple[list[str], list[Issue]]:
    by_name = {n.casefold(): n for n, _ in available}
    if wanted:
        missing = [w for w in wanted if w.casefold() not in by_name]
        chosen = [by_name[w.casefold()] for w in wanted if w.casefold() in by_name]
        if not chosen:
            raise ReadError(
                f"has no layer {', '.join(repr(m) for m in missing)}; its layers are "
                + ", ".join(repr(n) for n, _ in available),
                file=display,
            )
        return chosen, []
    if source.default_layers:
        chosen = [by_name[d.casefold()] for d in source.default_layers if d.casefold() in by_name]
        if chosen:
            return chosen, []
    chosen, issues = [], []
    for layer, kind in available:
        if _is_polygonal_type(kind):
            chosen.append(layer)
        else:
            issues.append(
                Issue(
                    "warning",
                    IssueCode.LAYER_SKIPPED,
                    f"layer {layer!r} holds {kind} geometry, not polygons; skipped",
                    place=f"layer {layer!r}",
                )
            )
    if not chosen:
        listing = ", ".join(f"{n!r} ({t})" for n, t in available) or "none"
        raise ReadError(f"has no polygon layer; its layers are {listing}", file=display)
    return chosen, issues


def _is_polygonal_type(kind: str) -> bool:
    """GDAL layer geometry types that may hold polygons ("Polygon Z", "3D MultiPolygon" ...)."""
    plain = re.sub(r"^3d|(zm|z|m)$", "", kind.lower().replace(" ", ""))
    return plain in _POLYGONAL


def _read_layer(
    source: Source,
    display: str,
    layer: str,
    crs: int | None,
    options: dict[str, str],
    *,
    several: bool,
) -> ReadResult:
    prefix = f"layer {layer!r}, " if several else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta, fids, wkbs, columns = ogr_raw.read(
                source.path,
                layer=layer,
                encoding=source.encoding,
                force_2d=True,
                return_fids=True,
                datetime_as_string=True,
                **options,
            )
    except _GDAL_ERRORS as exc:
        raise ReadError(
            f"layer {layer!r} cannot be read: {_clean(str(exc), source, display)}", file=display
        ) from exc
    issues: list[Issue] = []
    epsg = _layer_crs(meta.get("crs"), crs, display, layer, issues)
    fields = [str(f) for f in meta.get("fields", [])]
    mapping = _map_fields(fields)
    uom = _uom_column(fields, mapping.get("declared_area"))
    parcels: list[SurveyedParcel] = []
    ready = _plain_polygons(wkbs)
    count = len(wkbs)
    nothing: list[Any] = [None] * count
    texts = {key: _text_column(columns[mapping[key]]) if key in mapping else nothing
             for key in ("parcel_code", "land_use_code", "name")}
    area_field = fields[mapping["declared_area"]] if "declared_area" in mapping else ""
    areas = _plain_areas(columns[mapping["declared_area"]]) if area_field and uom is None else None
    fid_list = fids.tolist() if fids is not None else range(count)
    for i in range(count):
        fid = int(fid_list[i])
        place = f"{prefix}feature {i + 1}" + (f" (fid {fid})" if fid not in (i, i + 1) else "")
        parcel_issues: list[Issue] = []
        geometry = ready[i] if ready[i] is not None else _polygonal(wkbs[i], place, issues, parcel_issues)
        if geometry is None:
            continue
        if areas is not None and areas[i] is not _UNPLAIN:
            area = areas[i]
        else:
            area = _area(
                columns[mapping["declared_area"]][i] if area_field else None,
                columns[uom][i] if uom is not None else None,
                area_field,
                place,
                parcel_issues,
            )
        parcels.append(
            SurveyedParcel(
                geometry=geometry,
                crs=epsg,
                place=place,
                parcel_code=texts["parcel_code"][i],
                declared_area=area,
                land_use_code=texts["land_use_code"][i],
                name=texts["name"][i],
                warnings=parcel_issues,
            )
        )
    _check_plausible(parcels, epsg, display, layer)
    return ReadResult(display, epsg, parcels, issues, format=source.format)


_DRIVER_FORMATS = {
    "geojson": "geojson",
    "gpkg": "gpkg",
    "gml": "gml",
    "esri shapefile": "shapefile",
    "edigeo": "edigeo",
}


def _driver_format(source: Source, layer: str, options: dict[str, str]) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            driver = str(read_info(source.path, layer=layer, **options).get("driver") or "")
    except _GDAL_ERRORS:
        return ""
    return _DRIVER_FORMATS.get(driver.lower(), driver.lower())


def _format_of(display: str) -> str:
    return Path(display).suffix.lower().lstrip(".")


def _layer_crs(
    declared: Any, crs: int | None, display: str, layer: str, issues: list[Issue]
) -> int:
    if crs is not None:
        resolve_crs(crs)
        if declared:
            try:
                found = epsg_of(str(declared))
            except CrsError:
                found = None
            if found != crs:
                what = f"EPSG:{found}" if found else "another CRS"
                issues.append(
                    Issue(
                        "warning",
                        IssueCode.CRS_OVERRIDDEN,
                        f"layer {layer!r} declares {what}; EPSG:{crs} was used as requested",
                        place=f"layer {layer!r}",
                        details={"declared": found, "used": crs},
                    )
                )
        return crs
    if not declared:
        raise CrsError(
            f"layer {layer!r} declares no coordinate reference system: export it with its CRS "
            "(a .prj for a shapefile) or state the EPSG code when uploading",
            file=display,
        )
    try:
        return epsg_of(str(declared))
    except CrsError as exc:
        raise CrsError(f"layer {layer!r}: {exc.message}", file=display) from exc


def _check_plausible(
    parcels: Sequence[SurveyedParcel], epsg: int, display: str, layer: str
) -> None:
    """Projected coordinates in a file that claims longitude/latitude (GeoJSON's default)."""
    if not parcels or not is_geographic(epsg):
        return
    bounds = shapely.total_bounds(np.array([p.geometry for p in parcels], dtype=object))
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    swapped = -90 <= minx and maxx <= 90 and -180 <= miny and maxy <= 360
    if (minx < -180 or maxx > 360 or miny < -90 or maxy > 90) and not swapped:
        # Latitude written first fits degrees the other way round: validation says "x and y
        # look swapped" of each feature (spatial.domain).
        raise CrsError(
            f"layer {layer!r} is declared in EPSG:{epsg} (longitude/latitude) but its coordinates "
            f"reach x {maxx:.0f}, y {maxy:.0f}, which are not degrees: state the projected CRS "
            "(e.g. EPSG:4528) when uploading",
            file=display,
        )


def _map_fields(fields: list[str]) -> dict[str, int]:
    lower = {f.casefold(): i for i, f in enumerate(fields)}
    mapping: dict[str, int] = {}
    for key, candidates in FIELD_NAMES.items():
        for candidate in candidates:
            if candidate in lower and lower[candidate] not in mapping.values():
                mapping[key] = lower[candidate]
                break
    return mapping


def _uom_column(fields: list[str], area_index: int | None) -> int | None:
    if area_index is None:
        return None
    wanted = f"{fields[area_index]}_uom".casefold()
    return next((i for i, f in enumerate(fields) if f.casefold() == wanted), None)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    return text or None


def _text_column(values: Any) -> list[str | None]:
    """`_text` of every value; a column of plain strings (the usual case) in one pass."""
    if all(type(v) is str for v in values):
        return [v.strip() or None for v in values]
    return [_text(v) for v in values]


_UNPLAIN = object()  # marks an area value `_area` must look at (and perhaps report)


def _plain_areas(values: Any) -> list[Any]:
    """A numeric area column without units as floats (NaN: no area) in one pass; any other
    value, or an infinite one, is left to `_area` (marked `_UNPLAIN`)."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        return [_UNPLAIN] * len(array)
    numbers = array.astype(np.float64)
    return [None if x != x else (x if x - x == 0 else _UNPLAIN) for x in numbers.tolist()]


def _area(value: Any, uom: Any, field: str, place: str, issues: list[Issue]) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number: float | None = float(value)
        if not math.isfinite(float(value)):
            number = None
    else:
        text = str(value).strip().replace(",", "")
        if not text:
            return None
        number = parse_number(text)
    if number is None:
        issues.append(
            Issue(
                "error",
                IssueCode.BAD_VALUE,
                f"field {field}: {str(value)[:40]!r} is not a number (area)",
                place=place,
                details={"field": field, "value": str(value)[:40]},
            )
        )
        return None
    unit = _text(uom)
    if unit and unit.casefold() in _HECTARES:
        number *= 10_000.0
    return number


def _plain_polygons(wkbs: Any) -> list[Polygon | MultiPolygon | None]:
    """Decode every feature at once and keep the ones that need no attention (valid WKB, a
    non-empty polygon or multipolygon, finite coordinates); None marks the rest, which
    `_polygonal` looks at one by one to say what is wrong. Most files are all plain."""
    blobs = np.empty(len(wkbs), dtype=object)
    blobs[:] = list(wkbs)
    geoms = shapely.from_wkb(blobs, on_invalid="ignore")
    plain = np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_empty(geoms)
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    plain[owner[~np.isfinite(coords).all(axis=1)]] = False
    return [g if ok else None for g, ok in zip(geoms.tolist(), plain.tolist(), strict=True)]


def _polygonal(
    wkb: Any, place: str, issues: list[Issue], fixed_issues: list[Issue]
) -> Polygon | MultiPolygon | None:
    """The feature's polygon, or None after reporting why it is not one.

    File-level problems (feature skipped) go to `issues`; repairs of a kept feature go to
    `fixed_issues`, which become the parcel's warnings.
    """
    if wkb is None:
        issues.append(
            Issue("error", IssueCode.EMPTY, "feature has no geometry; skipped", place=place)
        )
        return None
    geometry: BaseGeometry | None = shapely.from_wkb(wkb, on_invalid="ignore")
    if geometry is None:
        # Rings that do not return to their first point are the usual reason: close them.
        geometry = shapely.from_wkb(wkb, on_invalid="fix")
        if geometry is None:
            issues.append(
                Issue(
                    "error",
                    IssueCode.NOT_POLYGON,
                    "feature geometry cannot be decoded (a ring with too few points, or a curved "
                    "geometry): export it as straight-edged polygons",
                    place=place,
                )
            )
            return None
        fixed_issues.append(
            Issue(
                "warning",
                IssueCode.UNCLOSED_RING,
                "a ring does not return to its first point; it was closed",
                place=place,
            )
        )
    if isinstance(geometry, GeometryCollection) and not geometry.is_empty:
        parts = [g for g in geometry.geoms if isinstance(g, (Polygon, MultiPolygon))]
        if len(parts) == len(geometry.geoms):
            polys = [p for g in parts for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
            geometry = polys[0] if len(polys) == 1 else MultiPolygon(polys)
    if geometry.is_empty:
        issues.append(
            Issue("error", IssueCode.EMPTY, "feature geometry is empty; skipped", place=place)
        )
        return None
    if not isinstance(geometry, (Polygon, MultiPolygon)):
        issues.append(
            Issue(
                "error",
                IssueCode.NOT_POLYGON,
                f"feature is a {geometry.geom_type}, not a polygon; skipped",
                place=place,
                details={"geometry_type": geometry.geom_type},
            )
        )
        return None
    if not np.isfinite(shapely.get_coordinates(geometry)).all():
        issues.append(
            Issue(
                "error",
                IssueCode.INVALID_COORDINATE,
                "feature has a NaN or infinite coordinate; skipped",
                place=place,
            )
        )
        return None
    return geometry
