"""Small surveyors' files for the workflow tests, placed in the empty margin of the demo district.

The demo district's admin area reaches 40 m beyond its parcel grid (portal/demo/district.py),
so squares south of the grid (northing 3,345,462 to 3,345,498) are inside 330102 and free.
"""

from __future__ import annotations

HEADER = """[属性描述]
格式版本号=1.01
数据产生单位=测试测绘院
数据产生日期=2025-6-15
坐标系=2000国家大地坐标系
几度分带=3
投影类型=高斯克吕格
计量单位=米
带号=40
精度=0.001
转换参数=,,,,,,
[地块坐标]
"""

FREE_NORTHING = 3_345_462.0


def block(code: str, x0: float, y0: float, width: float, height: float | None = None, use: str = "0701") -> str:
    """A rectangle parcel; the exchange file's X is northing and Y easting with zone prefix."""
    height = width if height is None else height
    ring = [(x0, y0), (x0 + width, y0), (x0 + width, y0 + height), (x0, y0 + height), (x0, y0)]
    lines = [f"5,{width * height / 10000:.4f},{code},测试宗地,面,H51G093001,住宅用地,{use},@"]
    lines += [f"J{k + 1},1,{y:.3f},{x:.3f}" for k, (x, y) in enumerate(ring)]
    return "\n".join(lines) + "\n"


def exchange(*blocks: str) -> bytes:
    return (HEADER + "".join(blocks)).encode("utf-8")
