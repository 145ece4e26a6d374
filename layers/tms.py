"""Tile matrix set documents that readers of both TileMatrixSet versions understand.

pygeoapi answers `/tileMatrixSets/{id}` in OGC Two Dimensional Tile Matrix Set 2.0 (OGC
17-083r4: `id`, `crs`, `tileMatrices[].id`, `pointOfOrigin`, `cellSize`). Readers written for
1.0 (OGC 17-083r2: `identifier`, `supportedCRS`, `boundingBox` with `lowerCorner` and
`upperCorner`, `tileMatrices[].identifier`, `topLeftCorner`), among them GDAL 3.6's OGCAPI
driver (Debian 12), find none of what they need and give up ("Invalid tiling matrix set
name"). The two versions name every member differently, so the 1.0 members are added beside
the 2.0 ones: a 2.0 reader ignores them, a 1.0 reader ignores the 2.0 ones.
"""

from __future__ import annotations

from typing import Any

__all__ = ["with_tms1_members"]


def with_tms1_members(document: dict[str, Any]) -> None:
    """Add, in place, the TMS 1.0 members to a TMS 2.0 `document` (a dict as parsed from JSON).

    Coordinates stay in the set's CRS and its axis order (`orderedAxes`; E, N for
    WebMercatorQuad, metres). The bounding box is the extent of the first (coarsest) tile
    matrix, given as 2.0 `lowerLeft`/`upperRight` and as 1.0 `lowerCorner`/`upperCorner`,
    added when the document has no `boundingBox`. A document that is not a TMS 2.0 set (no `tileMatrices`) is
    left as it is. Raises nothing.
    """
    matrices = document.get("tileMatrices")
    if not isinstance(matrices, list) or not matrices:
        return
    crs = document.get("crs")
    if isinstance(crs, str):
        document.setdefault("supportedCRS", crs)
    if "id" in document:
        document.setdefault("identifier", document["id"])
    for matrix in matrices:
        if not isinstance(matrix, dict):
            return
        if "id" in matrix:
            matrix.setdefault("identifier", matrix["id"])
        origin = matrix.get("pointOfOrigin")
        if origin is not None and matrix.get("cornerOfOrigin", "topLeft") == "topLeft":
            matrix.setdefault("topLeftCorner", origin)
    if "boundingBox" not in document:
        box = _extent(matrices[0])
        if box is not None:
            xmin, ymin, xmax, ymax = box
            document["boundingBox"] = {
                "crs": crs, "lowerLeft": [xmin, ymin], "upperRight": [xmax, ymax],
                "lowerCorner": [xmin, ymin], "upperCorner": [xmax, ymax]}


def _extent(matrix: dict[str, Any]) -> tuple[float, float, float, float] | None:
    try:
        x0, y0 = (float(v) for v in matrix["pointOfOrigin"])
        width = float(matrix["cellSize"]) * int(matrix["tileWidth"]) * int(matrix["matrixWidth"])
        height = float(matrix["cellSize"]) * int(matrix["tileHeight"]) * int(matrix["matrixHeight"])
    except (KeyError, TypeError, ValueError):
        return None
    if matrix.get("cornerOfOrigin", "topLeft") != "topLeft":
        return x0, y0, x0 + width, y0 + height
    return x0, y0 - height, x0 + width, y0
