"""Templates a surveyor can download and fill in: one small file per accepted kind, each holding two
adjacent 20 m x 20 m parcels in CGCS2000 3-degree Gauss-Krüger zone 40 (EPSG:4528), with every
attribute where the readers look for it (`spatial.attributes`).

    exchange   parcels.txt      界址点坐标交换格式: header, then a header line and point lines per parcel
    geojson    parcels.geojson  RFC 7946: longitude/latitude (CGCS2000 ≈ WGS 84), properties named as read
    dxf        parcels.dxf      DXF 2010 (UTF-8): outlines on layer ZD, codes on ZDDM, land use on DLBM,
                                areas on MJ, boundary points (block JZD) on JZD

They are generated, not stored, so they always match what the readers accept; a test reads
each back and expects both parcels with their code, land use and area.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache

from ezdxf.enums import TextEntityAlignment
from ezdxf.filemanagement import new as new_drawing
from shapely.geometry import Polygon

from spatial.crs import to_cgcs2000_lonlat

__all__ = ["Sample", "SAMPLES", "sample"]

_EPSG = 4528
_ORIGIN = (40_515_100.0, 3_345_470.0)  # easting (with zone prefix 40), northing
_PARCELS = (("330102001001GB00001", "0701", "城镇住宅用地", "某宗地甲"),
            ("330102001001GB00002", "0501", "商业服务业设施用地", "某宗地乙"))
_SIZE = 20.0


@dataclass(frozen=True)
class Sample:
    name: str
    """The file name offered for download."""
    media_type: str
    content: bytes


def _squares() -> list[list[tuple[float, float]]]:
    e0, n0 = _ORIGIN
    return [[(e0 + k * _SIZE, n0), (e0 + (k + 1) * _SIZE, n0), (e0 + (k + 1) * _SIZE, n0 + _SIZE),
             (e0 + k * _SIZE, n0 + _SIZE)] for k in range(len(_PARCELS))]


def _exchange() -> bytes:
    lines = ["[属性描述]", "格式版本号=1.01", "数据产生单位=某测绘院", "数据产生日期=2025-6-15",
             "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格", "计量单位=米", "带号=40", "精度=0.001",
             "转换参数=,,,,,,", "[地块坐标]"]
    point = 0
    for (code, use, use_name, name), ring in zip(_PARCELS, _squares(), strict=True):
        closed = [*ring, ring[0]]
        lines.append(f"{len(closed)},{_SIZE * _SIZE / 10_000:.4f},{code},{name},面,H51G093001,{use_name},{use},@")
        for e, n in closed:
            point += 1
            lines.append(f"J{point},1,{n:.3f},{e:.3f}")  # X = northing first, Y = easting
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _geojson() -> bytes:
    features = []
    for (code, use, _use_name, name), ring in zip(_PARCELS, _squares(), strict=True):
        lonlat = to_cgcs2000_lonlat(Polygon(ring), _EPSG)
        coords = [[round(x, 9), round(y, 9)] for x, y in lonlat.exterior.coords]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [coords]},
                         "properties": {"parcel_code": code, "land_use_code": use,
                                        "declared_area": _SIZE * _SIZE, "name": name}})
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False,
                      indent=1).encode("utf-8")


def _dxf() -> bytes:
    doc = new_drawing("R2010")
    for layer in ("ZD", "ZDDM", "DLBM", "MJ", "JZD"):
        doc.layers.add(layer)
    point_block = doc.blocks.new("JZD")
    point_block.add_circle((0, 0), 0.2)
    point_block.add_attdef("JZDH", (0.3, 0))
    msp = doc.modelspace()
    number = 0
    for (code, use, _use_name, _name), ring in zip(_PARCELS, _squares(), strict=True):
        msp.add_lwpolyline(ring, close=True, dxfattribs={"layer": "ZD"})
        cx = sum(x for x, _ in ring) / 4
        cy = sum(y for _, y in ring) / 4
        msp.add_text(f"ZDDM={code}", height=0.8, dxfattribs={"layer": "ZDDM"}).set_placement(
            (cx, cy + 3), align=TextEntityAlignment.MIDDLE_CENTER)
        msp.add_text(use, height=0.8, dxfattribs={"layer": "DLBM"}).set_placement(
            (cx, cy), align=TextEntityAlignment.MIDDLE_CENTER)
        msp.add_text(f"{_SIZE * _SIZE:.2f}m²", height=0.8, dxfattribs={"layer": "MJ"}).set_placement(
            (cx, cy - 3), align=TextEntityAlignment.MIDDLE_CENTER)
        for x, y in ring:
            number += 1
            msp.add_blockref("JZD", (x, y), dxfattribs={"layer": "JZD"}).add_auto_attribs({"JZDH": f"J{number}"})
    stream = io.StringIO()
    doc.write(stream)
    return stream.getvalue().encode("utf-8")


SAMPLES = {"exchange": ("parcels.txt", "text/plain; charset=utf-8", _exchange),
           "geojson": ("parcels.geojson", "application/geo+json", _geojson),
           "dxf": ("parcels.dxf", "image/vnd.dxf", _dxf)}
"""Kind -> (file name, media type, how it is made)."""


@cache
def sample(kind: str) -> Sample:
    """The template of `kind` (a key of `SAMPLES`). Raises KeyError for another kind."""
    name, media_type, make = SAMPLES[kind]
    return Sample(name, media_type, make())
