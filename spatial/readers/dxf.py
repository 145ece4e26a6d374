"""Reader for parcels drawn in CAD (DXF): closed polylines or hatches, labels, boundary points.

A cadastral drawing (地籍图/宗地图) has no attribute table: a parcel is a closed LWPOLYLINE,
POLYLINE or a HATCH, its code is a TEXT/MTEXT or a block attribute placed inside it, and its
boundary points are POINT entities or block symbols on its vertices. The reader rebuilds
that link spatially: a label belongs to the smallest parcel containing it, and a closed
outline drawn inside another parcel is an enclave (cut out of the outer parcel).

A DXF carries no CRS: the uploader states it, or the zone prefix of the eastings gives it.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from ezdxf import path as ezpath
from ezdxf import recover
from ezdxf.document import Drawing
from ezdxf.entities.dxfentity import DXFEntity
from ezdxf.filemanagement import readfile
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon

from spatial.attributes import parse_area
from spatial.crs import gauss_kruger_zone, resolve_crs, zone_of_easting
from spatial.errors import CrsError, ReadError
from spatial.model import ReadResult, SurveyedParcel
from spatial.readers._dxf_labels import (
    Label,
    Recode,
    as_is,
    boundary_points,
    insert_labels,
    insert_point_name,
    is_code,
    is_point_label,
    land_use_of,
    role,
    text_labels,
    xy,
)
from spatial.readers._rings import RawRing, assemble_polygon, format_point
from spatial.report import Issue, IssueCode

# Entities are told apart by dxftype(), which mypy cannot follow: the `type: ignore`s on
# attributes of the concrete entity (MText, Insert, Polyline, Hatch...) mark that boundary.

__all__ = ["read_dxf", "DxfOptions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DxfOptions:
    """Drawing tolerances in drawing units (metres for a survey drawing).

    `flatten_distance`: largest gap between an arc and its chords; `close_tolerance`: an open
    polyline whose ends are this close is taken as a parcel that forgot to close;
    `point_tolerance`: a POINT/INSERT this close to a vertex is that vertex's boundary point;
    `name_radius`: how far a point-name text (J1) may sit from its point.
    """

    flatten_distance: float = 0.01
    close_tolerance: float = 0.05
    point_tolerance: float = 0.01
    name_radius: float = 3.0


@dataclass(slots=True)
class _Shape:
    place: str
    handle: str
    geometry: Polygon | MultiPolygon
    issues: list[Issue]
    labels: list[Label] = field(default_factory=list)
    holes_from: list[str] = field(default_factory=list)
    dropped: bool = False


def _place_of(entity: DXFEntity) -> str:
    return f"entity {entity.dxftype()} #{entity.dxf.handle} (layer {entity.dxf.get('layer', '0')})"


def read_dxf(
    path: str | Path,
    *,
    crs: int | None = None,
    layers: list[str] | None = None,
    filename: str | None = None,
    options: DxfOptions | None = None,
) -> ReadResult:
    """Read the parcels of a DXF drawing; `layers` limits which layers hold parcel outlines.

    Labels and boundary points are taken from every layer. Raises ReadError when the file is
    not a readable DXF or holds no closed outline, CrsError when `crs` is not given and the
    eastings carry no zone prefix.
    """
    name = filename or Path(path).name
    opts = options or DxfOptions()
    doc, recode = _open(path, name)
    wanted = {layer.casefold() for layer in layers} if layers else None
    issues: list[Issue] = []
    shapes: list[_Shape] = []
    labels: list[Label] = []
    points: list[tuple[float, float, str]] = []
    for entity in _entities(doc, name):
        kind = entity.dxftype()
        try:
            if kind in ("LWPOLYLINE", "POLYLINE", "HATCH", "MPOLYGON"):
                layer = str(entity.dxf.get("layer", "0")).casefold()
                if wanted is None or layer in wanted:
                    shape = _shape(entity, opts, issues, report_open=wanted is not None)
                    if shape is not None:
                        shapes.append(shape)
            elif kind in ("TEXT", "MTEXT"):
                labels.extend(text_labels(entity, recode))
            elif kind == "INSERT":
                labels.extend(insert_labels(entity, recode))
                x, y = xy(entity.ocs().to_wcs(entity.dxf.insert))  # type: ignore[attr-defined]
                points.append((x, y, insert_point_name(entity, recode)))
            elif kind == "POINT":
                x, y = xy(entity.dxf.location)
                points.append((x, y, ""))
        except Exception as exc:  # ezdxf raises many types on damaged entities
            issues.append(
                Issue(
                    "warning",
                    IssueCode.BAD_VALUE,
                    f"entity could not be read and was skipped: {exc}",
                    place=_place_of(entity),
                )
            )
    if not shapes:
        scope = f" on layers {', '.join(layers)}" if layers else ""
        raise ReadError(
            f"holds no parcel outline{scope}: draw each parcel as a closed LWPOLYLINE, POLYLINE "
            "or HATCH",
            file=name,
        )
    epsg = _crs(shapes, crs, name, issues)
    shapes = _drop_duplicates(shapes, issues)
    _assign_labels(shapes, labels)
    _cut_enclaves(shapes)
    point_labels = [lb for lb in labels if lb.tag is None and is_point_label(lb.text)]
    parcels = [_parcel(s, epsg, points, point_labels, opts) for s in shapes if not s.dropped]
    return ReadResult(file=name, crs=epsg, parcels=parcels, issues=issues, format="dxf",
                      crs_source="uploader" if crs is not None else "zone_prefix")


def _open(path: str | Path, name: str) -> tuple[Drawing, Recode]:
    """The drawing, and how to turn its strings into the text its bytes really hold."""
    try:
        with open(path, "rb") as handle:
            binary = handle.read(18) == b"AutoCAD Binary DXF"
        if binary:  # the recover module reads ASCII DXF only; binary DXF text is UTF-8 or the code page
            return readfile(str(path)), as_is
        doc, auditor = recover.readfile(str(path))
    except OSError as exc:
        raise ReadError(f"cannot be opened: {exc.strerror or exc}", file=name) from exc
    except (
        Exception
    ) as exc:  # DXFStructureError, UnicodeDecodeError, ValueError ... on damaged files
        raise ReadError(f"is not a readable DXF drawing: {exc}", file=name) from exc
    if auditor.has_errors:
        log.info("%s: ezdxf recovered %d structure errors", name, len(auditor.errors))
    return doc, _recoder(Path(path).read_bytes(), doc, name)


_WESTERN = {"cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874"}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _recoder(data: bytes, doc: Drawing, name: str) -> Recode:
    """How to read the drawing's strings as the text the bytes really hold.

    ezdxf decodes by the header: UTF-8 from DXF 2007 (AC1021) on, else the $DWGCODEPAGE code
    page. Drawings lie: a header saying ANSI_936 (GBK) over UTF-8 text, UTF-8 over GBK, or the
    ANSI_1252 default of many tools over GBK. Bytes that are valid UTF-8 and not ASCII are UTF-8
    (GBK text almost never is); otherwise the declared code page read strictly; otherwise, for a
    Western code page, GBK when the bytes are GBK Chinese. Anything else is refused: never
    garbled text. Strings are turned back into their bytes (ezdxf keeps undecodable bytes as
    surrogates) and decoded again as what they are.
    """
    if data.isascii():
        return as_is
    declared = "utf-8" if doc.dxfversion >= "AC1021" else codecs.lookup(doc.encoding or "cp1252").name
    try:
        data.decode("utf-8")
        actual = "utf-8"
    except UnicodeDecodeError:
        actual = ""
    if not actual and declared != "utf-8":
        try:
            data.decode(declared)
            actual = declared
            if declared in _WESTERN and _CJK.search(data.decode("gb18030")):
                actual = "gb18030"
        except UnicodeDecodeError:
            pass
    if not actual and declared in ("utf-8", *_WESTERN):
        try:
            data.decode("gb18030")
            actual = "gb18030"
        except UnicodeDecodeError:
            pass
    if not actual:
        page = doc.header.get("$DWGCODEPAGE", "?")
        raise ReadError(f"the drawing's text is neither in the code page its header declares ({page}, "
                        f"{declared}) nor UTF-8 nor GBK, so its labels cannot be read: save the drawing again "
                        "as DXF 2007 or later (UTF-8)", file=name)
    if actual == declared:
        return as_is

    def recode(text: str) -> str:
        try:
            return text.encode(declared, "surrogateescape").decode(actual)
        except (UnicodeEncodeError, UnicodeDecodeError):
            return text

    return recode


def _entities(doc: Drawing, name: str) -> Iterator[DXFEntity]:
    try:
        yield from list(doc.modelspace())
    except Exception as exc:
        raise ReadError(f"the model space of the drawing cannot be read: {exc}", file=name) from exc


def _ring(p: ezpath.Path, opts: DxfOptions) -> list[tuple[float, float]]:
    return [xy(v) for v in p.flattening(opts.flatten_distance)]


def _shape(
    entity: DXFEntity, opts: DxfOptions, issues: list[Issue], *, report_open: bool
) -> _Shape | None:
    place = _place_of(entity)
    kind = entity.dxftype()
    if kind in ("HATCH", "MPOLYGON"):
        rings = [RawRing(_ring(p, opts), 0, place) for p in ezpath.from_hatch(entity)]  # type: ignore[arg-type]
        rings = [r for r in rings if r.coords]
        if not rings:
            return None
        geometry, ring_issues = assemble_polygon(rings)
        # Hatch boundary paths are closed by definition: the closing edge is implicit.
        ring_issues = [i for i in ring_issues if i.code != IssueCode.UNCLOSED_RING]
    else:
        if kind == "POLYLINE" and not (entity.is_2d_polyline or entity.is_3d_polyline):  # type: ignore[attr-defined]
            return None
        coords = _ring(ezpath.make_path(entity), opts)
        if len(coords) < 2:
            return None
        closed = bool(entity.closed if kind == "LWPOLYLINE" else entity.is_closed)  # type: ignore[attr-defined]
        gap = float(np.hypot(coords[0][0] - coords[-1][0], coords[0][1] - coords[-1][1]))
        if closed and coords[0] != coords[-1]:
            coords.append(coords[0])
        elif not closed and gap > opts.close_tolerance:
            if report_open:
                issues.append(
                    Issue(
                        "warning",
                        IssueCode.UNCLOSED_RING,
                        f"open polyline (its ends are {gap:.3f} apart) on a parcel "
                        "layer; not read as a parcel",
                        place=place,
                        location=format_point(*coords[0]),
                    )
                )
            return None
        elif not closed and coords[0] != coords[-1]:
            coords[-1] = coords[0]  # ends nearly meet: snap, and say so below
            issues_for_ring = [
                Issue(
                    "warning",
                    IssueCode.UNCLOSED_RING,
                    f"polyline is not closed (its ends are {gap:.3f} apart); it was closed",
                    place=place,
                    location=format_point(*coords[0]),
                )
            ]
            geometry, ring_issues = assemble_polygon([RawRing(coords, 0, place)])
            return _Shape(place, str(entity.dxf.handle), geometry, issues_for_ring + ring_issues)
        geometry, ring_issues = assemble_polygon([RawRing(coords, 0, place)])
    for issue in ring_issues:
        issue.place = place
    return _Shape(place, str(entity.dxf.handle), geometry, ring_issues)


def _all_coords(shapes: Iterable[_Shape]) -> np.ndarray[Any, np.dtype[np.float64]]:
    arrays = [shapely.get_coordinates(s.geometry) for s in shapes]
    return np.concatenate(arrays) if arrays else np.empty((0, 2))


def _crs(shapes: list[_Shape], crs: int | None, name: str, issues: list[Issue]) -> int:
    if crs is not None:
        resolve_crs(crs)
        return crs
    coords = _all_coords(shapes)
    zones = {zone_of_easting(float(x)) for x in coords[:, 0]}
    northings_ok = bool(((coords[:, 1] > 1e6) & (coords[:, 1] < 7e6)).all())
    if len(zones) == 1 and None not in zones and northings_ok:
        zone = zones.pop()
        assert zone is not None
        gk = gauss_kruger_zone(zone)
        issues.append(
            Issue(
                "warning",
                IssueCode.CRS_INFERRED,
                f"the drawing states no CRS; EPSG:{gk.epsg} (CGCS2000 zone {zone}) was "
                "inferred from "
                "the zone prefix of the eastings",
                details={"inferred": gk.epsg},
            )
        )
        return gk.epsg
    raise CrsError(
        "a DXF drawing carries no coordinate reference system and its x coordinates carry no "
        "Gauss-Krüger zone prefix: the uploader must state the CRS (EPSG code, e.g. 4528 for "
        "CGCS2000 3-degree zone 40)",
        file=name,
    )


def _drop_duplicates(shapes: list[_Shape], issues: list[Issue]) -> list[_Shape]:
    """An outline drawn twice (a polyline and its associative hatch) is one parcel."""
    geoms = np.array([s.geometry for s in shapes], dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms)
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if j <= i or shapes[i].dropped or shapes[j].dropped:
            continue
        try:
            same = bool(shapes[i].geometry.equals(shapes[j].geometry))
        except GEOSException:
            same = False
        if same:
            shapes[j].dropped = True
            issues.append(
                Issue(
                    "warning",
                    IssueCode.DUPLICATE_DRAWING,
                    f"the outline repeats {shapes[i].place}; it was read once",
                    place=shapes[j].place,
                )
            )
    return [s for s in shapes if not s.dropped]


def _smallest_containing(
    shapes: list[_Shape], xs: list[float], ys: list[float]
) -> list[int | None]:
    geoms = np.array([s.geometry for s in shapes], dtype=object)
    areas = shapely.area(geoms)
    tree = shapely.STRtree(geoms)
    found: list[int | None] = [None] * len(xs)
    if not xs:
        return found
    pts = shapely.points(np.array(xs), np.array(ys))
    try:
        which, hit = tree.query(pts, predicate="intersects")
    except GEOSException:
        return found
    for p, s in zip(which.tolist(), hit.tolist(), strict=True):
        current = found[p]
        if current is None or areas[s] < areas[current]:
            found[p] = s
    return found


def _assign_labels(shapes: list[_Shape], labels: list[Label]) -> None:
    owners = _smallest_containing(shapes, [lb.x for lb in labels], [lb.y for lb in labels])
    for label, owner in zip(labels, owners, strict=True):
        if owner is not None:
            shapes[owner].labels.append(label)


def _cut_enclaves(shapes: list[_Shape]) -> None:
    """A closed outline inside another parcel: an enclave (if labelled) or a hole (if not)."""
    geoms = np.array([s.geometry for s in shapes], dtype=object)
    areas = shapely.area(geoms)
    tree = shapely.STRtree(geoms)
    try:
        outer, inner = tree.query(geoms, predicate="contains_properly")
    except GEOSException:
        return
    container: dict[int, int] = {}
    for o, i in zip(outer.tolist(), inner.tolist(), strict=True):
        if o != i and (i not in container or areas[o] < areas[container[i]]):
            container[i] = o
    for i, o in container.items():
        host, guest = shapes[o], shapes[i]
        if not isinstance(host.geometry, Polygon) or not isinstance(guest.geometry, Polygon):
            continue
        holes = [list(r.coords) for r in host.geometry.interiors]
        holes.append(list(guest.geometry.exterior.coords))
        host.geometry = Polygon(host.geometry.exterior.coords, holes)
        labelled = any(role(lb) in ("code", "name") for lb in guest.labels)
        guest.dropped = not labelled
        what = (
            "a parcel of its own, cut out as an enclave"
            if labelled
            else "unlabelled, read as a hole"
        )
        x, y = guest.geometry.exterior.coords[0]
        host.issues.append(
            Issue(
                "warning",
                IssueCode.RING_NESTING,
                f"{guest.place} lies inside this parcel: {what}",
                place=host.place,
                location=format_point(x, y),
            )
        )


def _parcel(
    shape: _Shape,
    epsg: int,
    points: list[tuple[float, float, str]],
    labels: list[Label],
    opts: DxfOptions,
) -> SurveyedParcel:
    issues = list(shape.issues)
    by_role: dict[str, list[Label]] = {}
    for label in shape.labels:
        by_role.setdefault(role(label), []).append(label)
    codes = by_role.get("code", [])
    # A well-formed code wins over a code-like text that is not one.
    codes.sort(key=lambda lb: not is_code(lb.text))
    distinct = list(dict.fromkeys(lb.text for lb in codes))
    if len(distinct) > 1:
        issues.append(
            Issue(
                "warning",
                IssueCode.MULTIPLE_LABELS,
                f"{len(distinct)} parcel codes lie inside this parcel ({', '.join(distinct[:4])}); "
                f"{distinct[0]} was used",
                place=shape.place,
                details={"codes": distinct},
            )
        )
    area: float | None = None
    for label in by_role.get("area", []):
        parsed = parse_area(label.text)
        area = parsed[0] if parsed is not None else None
        if area is None:
            issues.append(
                Issue(
                    "error",
                    IssueCode.BAD_VALUE,
                    f"attribute {label.tag}: {label.text!r} is not an area (a number of m², or with a "
                    "unit: m², 平方米, 亩, 公顷)",
                    place=shape.place,
                    details={"field": label.tag, "value": label.text},
                )
            )
        break
    land_use = by_role.get("land_use", [])
    names = by_role.get("name", [])
    return SurveyedParcel(
        geometry=shape.geometry,
        crs=epsg,
        place=shape.place,
        parcel_code=distinct[0] if distinct else None,
        declared_area=area,
        land_use_code=land_use_of(land_use[0]) if land_use else None,
        name=names[0].text if names else None,
        boundary_points=boundary_points(
            shape.geometry, points, labels, opts.point_tolerance, opts.name_radius
        ),
        warnings=issues,
    )
