"""Builders for small test files: exchange texts, DXF drawings, GIS files (no database)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

HEADER = """[属性描述]
格式版本号=1.01
数据产生单位=某测绘院
数据产生日期=2025-6-15
坐标系={system}
几度分带={width}
投影类型=高斯克吕格
计量单位=米
带号={zone}
精度=0.001
转换参数=,,,,,,
[地块坐标]
"""

E0, N0 = 40438683.652, 3351490.000
"""A corner in CGCS2000 3-degree zone 40 (the easting carries the zone prefix)."""


def square(e: float, n: float, size: float) -> list[tuple[float, float]]:
    """Corners (easting, northing) of an axis-aligned square, counter-clockwise, not closed."""
    return [(e, n), (e + size, n), (e + size, n + size), (e, n + size)]


def parcel_block(
    code: str,
    rings: Sequence[Sequence[tuple[float, float]]],
    *,
    area_ha: str = "0.0400",
    count: int | None = None,
    close: bool = True,
    name: str = "某宗地",
    land_use: str = "0701",
) -> str:
    """One parcel: its header line and point lines (X = northing first, Y = easting)."""
    lines = []
    number = 0
    for ring_no, ring in enumerate(rings, start=1):
        pts = list(ring) + ([ring[0]] if close else [])
        for e, n in pts:
            number += 1
            lines.append(f"J{number},{ring_no},{n:.3f},{e:.3f}")
    total = count if count is not None else len(lines)
    header = f"{total},{area_ha},{code},{name},面,H51G093001,住宅用地,{land_use},@"
    return "\n".join([header, *lines]) + "\n"


def exchange_text(
    *blocks: str, system: str = "2000国家大地坐标系", width: str = "3", zone: str = "40"
) -> str:
    return HEADER.format(system=system, width=width, zone=zone) + "".join(blocks)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


CODE1 = "330102001001GB00001"
CODE2 = "330102001001GB00002"
CODE3 = "330102001001GB00003"
