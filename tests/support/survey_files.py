"""Small surveyors' files for the workflow tests, placed in the empty margin of the demo district.

The demo district's admin area reaches 40 m beyond its parcel grid (portal/demo/district.py),
so squares south of the grid (northing 3,345,462 to 3,345,498) are inside 330102 and free.
The exchange-file format itself is written by `spatial_factories`, as for the reader tests.
"""

from __future__ import annotations

from spatial_factories import exchange_text, parcel_block

FREE_NORTHING = 3_345_462.0


def block(code: str, x0: float, y0: float, width: float, height: float | None = None, use: str = "0701") -> str:
    """A rectangle parcel with its south-west corner at easting `x0`, northing `y0`."""
    height = width if height is None else height
    ring = [(x0, y0), (x0 + width, y0), (x0 + width, y0 + height), (x0, y0 + height)]
    return parcel_block(code, [ring], area_ha=f"{width * height / 10000:.4f}", name="测试宗地", land_use=use)


def exchange(*blocks: str) -> bytes:
    return exchange_text(*blocks).encode("utf-8")
