"""Labels and boundary points of a DXF drawing: which text is a parcel code, a name or a point.

CAD drawings carry meaning in loose text: a 19-character parcel code, a block attribute
tagged ZDDM or MJ, a "J12" beside a boundary point. These helpers classify that text so the
reader can attach it to the parcel it sits in or the vertex it sits on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from ezdxf.entities.dxfentity import DXFEntity
from ezdxf.lldxf.encoding import decode_dxf_unicode, has_dxf_unicode
from ezdxf.tools.text import plain_mtext, plain_text
from shapely.geometry import MultiPolygon, Polygon

from spatial.attributes import DXF_TAGS, LAND_USE_LAYERS, LAND_USE_TEXT, parse_area, split_label
from spatial.codes import CodeError, parse_parcel_code
from spatial.model import BoundaryPoint
from spatial.readers._text import parse_number

# Entities are told apart by dxftype(), which mypy cannot follow: the `type: ignore`s on
# attributes of the concrete entity (MText, Insert, Polyline, Hatch...) mark that boundary.

__all__ = [
    "Label",
    "Recode",
    "as_is",
    "cad_text",
    "land_use_of",
    "xy",
    "text_labels",
    "insert_labels",
    "insert_point_name",
    "is_code",
    "is_point_label",
    "role",
    "boundary_points",
]

_CODE_TAGS = DXF_TAGS["parcel_code"]
_AREA_TAGS = DXF_TAGS["declared_area"]
_LAND_USE_TAGS = DXF_TAGS["land_use_code"]
_NAME_TAGS = DXF_TAGS["name"]
_PERCENT_CODE = re.compile(r"%%(\d{3})")
_POINT_NAME_TAGS = {"JZDH", "界址点号", "点号", "DH", "NAME", "ID"}
_CODE_LIKE = re.compile(r"\d{6}[0-9A-Za-z]{6,}")
_POINT_LABEL = re.compile(r"[A-Za-z]{0,3}\d{1,6}")


Recode = Callable[[str], str]
"""Turns a string as ezdxf decoded it into the text the bytes really hold (see `dxf._open`)."""


def as_is(text: str) -> str:
    return text


@dataclass(slots=True)
class Label:
    """A text in the drawing as CAD shows it, at the point CAD places it; `tag` is the block
    attribute tag or the label's prefix (``ZDDM`` of ``ZDDM=…``), `layer` its layer (upper case)."""

    text: str
    x: float
    y: float
    tag: str | None = None
    layer: str = ""


def cad_text(raw: str) -> str:
    """The content of a TEXT or ATTRIB as CAD displays it: ``\\U+XXXX`` escapes decoded, ``%%nnn``
    character codes, and the control codes ``%%u %%o %%k`` (underline, overline, strike: dropped)
    and ``%%d %%p %%c %%%`` (°, ±, Ø, %) applied by ezdxf's `plain_text` (AutoCAD's TEXT rules)."""
    text = decode_dxf_unicode(raw) if has_dxf_unicode(raw) else raw
    text = _PERCENT_CODE.sub(lambda found: _code_point(int(found.group(1))), text)
    return str(plain_text(text))


def _code_point(number: int) -> str:
    # %%nnn is a character of the drawing's ANSI code page; the ASCII half is the same in all of them.
    if number < 128:
        return chr(number)
    try:
        return bytes([number]).decode("cp1252") if number < 256 else chr(number)
    except UnicodeDecodeError:
        return chr(number)


def _labelled(text: str, x: float, y: float, tag: str | None, layer: str) -> Label:
    """A label, its prefix (``宗地代码：``, ``ZDDM=``) taken as its tag when it has one."""
    if tag is None:
        split = split_label(text)
        if split is not None:
            return Label(split[1], x, y, split[0], layer)
    return Label(text, x, y, tag, layer)


def xy(vec: Any) -> tuple[float, float]:
    x, y = float(vec[0]), float(vec[1])
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"coordinate ({x}, {y}) is not finite")
    return x, y


def _layer(entity: DXFEntity, recode: Recode) -> str:
    return recode(str(entity.dxf.get("layer", "0"))).upper()


def text_labels(entity: DXFEntity, recode: Recode = as_is) -> list[Label]:
    """The lines of a TEXT or MTEXT as labels. A TEXT sits where CAD places it: its insert point
    (group 10) when left/baseline justified, the midpoint of its two points when ALIGNED or FIT,
    otherwise its alignment point (group 11), which CAD recomputes the insert point from."""
    layer = _layer(entity, recode)
    if entity.dxftype() == "MTEXT":
        raw = recode(entity.all_columns_raw_content())  # type: ignore[attr-defined]
        text = str(plain_mtext(decode_dxf_unicode(raw) if has_dxf_unicode(raw) else raw, split=False))
        x, y = xy(entity.dxf.insert)
    else:
        text = cad_text(recode(str(entity.dxf.get("text", ""))))
        _align, p1, p2 = entity.get_placement()  # type: ignore[attr-defined]
        at = p1 if p2 is None else p1.lerp(p2)
        x, y = xy(entity.ocs().to_wcs(at))  # type: ignore[attr-defined]
    return [_labelled(part.strip(), x, y, None, layer) for part in text.splitlines() if part.strip()]


def insert_labels(entity: DXFEntity, recode: Recode = as_is) -> list[Label]:
    x, y = xy(entity.ocs().to_wcs(entity.dxf.insert))  # type: ignore[attr-defined]
    layer = _layer(entity, recode)
    out = []
    for attrib in entity.attribs:  # type: ignore[attr-defined]
        text = cad_text(recode(str(attrib.dxf.get("text", "")))).strip()
        if text:
            tag = recode(str(attrib.dxf.get("tag", ""))).upper()
            out.append(_labelled(text, x, y, tag or None, layer))
    return out


def insert_point_name(entity: DXFEntity, recode: Recode = as_is) -> str:
    for attrib in entity.attribs:  # type: ignore[attr-defined]
        if recode(str(attrib.dxf.get("tag", ""))).upper() in _POINT_NAME_TAGS:
            return cad_text(recode(str(attrib.dxf.get("text", "")))).strip()
    return ""


def land_use_of(label: Label) -> str:
    """The 4-digit land-use code of a land-use label (``0701``, ``0701城镇住宅用地``, ``地类编码=0701``)."""
    found = LAND_USE_TEXT.fullmatch(label.text)
    return found.group("code") if found else label.text


def is_code(text: str) -> bool:
    try:
        parse_parcel_code(text)
    except CodeError:
        return False
    return True


def role(label: Label) -> str:
    """What a label says: ``code``, ``area``, ``land_use``, ``name`` or ``other``."""
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
    land_use = LAND_USE_TEXT.fullmatch(label.text)
    named = land_use is not None and land_use.end("code") < len(label.text)  # 0701城镇住宅用地
    if land_use and (label.layer in LAND_USE_LAYERS or label.text.startswith("0") or named):
        return "land_use"
    area = parse_area(label.text)
    if area is not None and area[1]:
        return "area"
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
