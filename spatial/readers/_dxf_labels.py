"""Labels and boundary points of a DXF drawing: which text is a parcel code, a name or a point.

CAD drawings carry meaning in loose text: a 19-character parcel code, a block attribute
tagged ZDDM or MJ, a "J12" beside a boundary point. These helpers classify that text so the
reader can attach it to the parcel it sits in or the vertex it sits on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from ezdxf.entities.dxfentity import DXFEntity
from shapely.geometry import MultiPolygon, Polygon

from spatial.codes import CodeError, parse_parcel_code
from spatial.model import BoundaryPoint
from spatial.readers._text import parse_number

# Entities are told apart by dxftype(), which mypy cannot follow: the `type: ignore`s on
# attributes of the concrete entity (MText, Insert, Polyline, Hatch...) mark that boundary.

__all__ = [
    "Label",
    "xy",
    "text_labels",
    "insert_labels",
    "insert_point_name",
    "is_code",
    "is_point_label",
    "role",
    "boundary_points",
]

_CODE_TAGS = {"ZDDM", "宗地代码", "宗地编码", "PARCEL_CODE", "PARCELCODE", "CODE", "BDCDYH"}
_AREA_TAGS = {"MJ", "ZDMJ", "面积", "宗地面积", "AREA", "DECLARED_AREA"}
_LAND_USE_TAGS = {"DLBM", "地类编码", "地类代码", "LAND_USE", "LANDUSE", "LAND_USE_CODE", "TDYT"}
_NAME_TAGS = {"NAME", "名称", "ZDMC", "宗地名称"}
_POINT_NAME_TAGS = {"JZDH", "界址点号", "点号", "DH", "NAME", "ID"}
_CODE_LIKE = re.compile(r"\d{6}[0-9A-Za-z]{6,}")
_POINT_LABEL = re.compile(r"[A-Za-z]{0,3}\d{1,6}")


@dataclass(slots=True)
class Label:
    text: str
    x: float
    y: float
    tag: str | None = None


def xy(vec: Any) -> tuple[float, float]:
    x, y = float(vec[0]), float(vec[1])
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"coordinate ({x}, {y}) is not finite")
    return x, y


def text_labels(entity: DXFEntity) -> list[Label]:
    if entity.dxftype() == "MTEXT":
        text = entity.plain_text()  # type: ignore[attr-defined]
        x, y = xy(entity.dxf.insert)
    else:
        text = entity.dxf.get("text", "")
        x, y = xy(entity.ocs().to_wcs(entity.dxf.insert))  # type: ignore[attr-defined]
    return [Label(part.strip(), x, y) for part in str(text).splitlines() if part.strip()]


def insert_labels(entity: DXFEntity) -> list[Label]:
    x, y = xy(entity.ocs().to_wcs(entity.dxf.insert))  # type: ignore[attr-defined]
    out = []
    for attrib in entity.attribs:  # type: ignore[attr-defined]
        text = str(attrib.dxf.get("text", "")).strip()
        if text:
            out.append(Label(text, x, y, str(attrib.dxf.get("tag", "")).upper()))
    return out


def insert_point_name(entity: DXFEntity) -> str:
    for attrib in entity.attribs:  # type: ignore[attr-defined]
        if str(attrib.dxf.get("tag", "")).upper() in _POINT_NAME_TAGS:
            return str(attrib.dxf.get("text", "")).strip()
    return ""


def is_code(text: str) -> bool:
    try:
        parse_parcel_code(text)
    except CodeError:
        return False
    return True


def role(label: Label) -> str:
    tag = label.tag or ""
    if tag in _CODE_TAGS or is_code(label.text):
        return "code"
    if tag in _AREA_TAGS:
        return "area"
    if tag in _LAND_USE_TAGS:
        return "land_use"
    if tag in _NAME_TAGS:
        return "name"
    if _CODE_LIKE.fullmatch(label.text):
        return "code"
    if tag or parse_number(label.text) is not None or _POINT_LABEL.fullmatch(label.text):
        return "other"
    return "name"


def boundary_points(
    geometry: Polygon | MultiPolygon,
    points: list[tuple[float, float, str]],
    labels: list[Label],
    point_tolerance: float,
    name_radius: float,
) -> list[BoundaryPoint]:
    if not points or geometry.is_empty:
        return []
    rings = shapely.get_rings(shapely.get_parts(geometry))
    out: list[tuple[int, int, BoundaryPoint]] = []
    px = np.array([p[0] for p in points])
    py = np.array([p[1] for p in points])
    minx, miny, maxx, maxy = geometry.bounds
    tol = point_tolerance
    near = np.nonzero(
        (px >= minx - tol) & (px <= maxx + tol) & (py >= miny - tol) & (py <= maxy + tol)
    )[0]
    if near.size == 0:
        return []
    for ring_no, ring in enumerate(rings, start=1):
        coords = shapely.get_coordinates(ring)[:-1]
        for idx in near.tolist():
            d = np.hypot(coords[:, 0] - px[idx], coords[:, 1] - py[idx])
            k = int(np.argmin(d))
            if d[k] <= tol:
                name = points[idx][2] or _nearest_point_label(px[idx], py[idx], labels, name_radius)
                out.append(
                    (
                        ring_no,
                        k,
                        BoundaryPoint(name, float(coords[k, 0]), float(coords[k, 1]), ring_no),
                    )
                )
    out.sort(key=lambda t: (t[0], t[1]))
    seen: set[tuple[int, int]] = set()
    result = []
    for ring_no, k, bp in out:
        if (ring_no, k) not in seen:
            seen.add((ring_no, k))
            result.append(bp)
    return result


def _nearest_point_label(x: float, y: float, labels: list[Label], radius: float) -> str:
    candidates = labels
    if not candidates:
        return ""
    lx = np.array([lb.x for lb in candidates])
    ly = np.array([lb.y for lb in candidates])
    d = np.hypot(lx - x, ly - y)
    k = int(np.argmin(d))
    return candidates[k].text if d[k] <= radius else ""


def is_point_label(text: str) -> bool:
    return bool(_POINT_LABEL.fullmatch(text)) and not text.isdigit()
