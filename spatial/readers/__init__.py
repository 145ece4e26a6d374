"""One entry point for every accepted upload: `read_parcels` picks the reader from the content.

Content decides, the extension only breaks ties: uploads arrive renamed (``parcels.txt``
that is really GBK CSV, ``data.json`` that is a zip), and a surveyor should never have to
know which reader we have.

    exchange   界址点坐标交换格式 .txt            spatial.readers.exchange
    dxf        DXF drawing (ASCII or binary)    spatial.readers.dxf
    gis        GeoJSON, zipped Shapefile, GeoPackage, GML, EDIGEO archives (GDAL)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

from spatial.errors import LimitError, ReadError, SpatialError, UnsupportedFormatError
from spatial.model import ReadResult
from spatial.readers.dxf import read_dxf
from spatial.readers.exchange import looks_like_exchange, read_exchange
from spatial.readers.gis import read_gis
from spatial.readers.limits import ReadLimits

__all__ = ["read_parcels", "detect_reader", "read_exchange", "read_dxf", "read_gis", "ReadLimits"]

log = logging.getLogger(__name__)

Reader = Literal["exchange", "dxf", "gis"]

_DXF_START = re.compile(r"\A\s*(?:999\s*\n[^\n]*\n\s*)*0\s*\n\s*SECTION\b")
_GIS_EXTENSIONS = {
    ".json",
    ".geojson",
    ".gml",
    ".xml",
    ".gpkg",
    ".zip",
    ".shp",
    ".kml",
    ".fgb",
    ".vrt",
    ".sqlite",
    ".csv",
    ".bz2",
    ".tar",
    ".gz",
    ".tgz",
    ".xtf",
}
_ACCEPTED = (
    "accepted: boundary-point exchange file (.txt), DXF, GeoJSON, zipped Shapefile, GeoPackage, GML"
)


def detect_reader(path: str | Path, *, filename: str | None = None) -> Reader:
    """Which reader a file needs, from its first bytes and then its extension.

    Raises ReadError for an empty or unopenable file, UnsupportedFormatError when neither
    content nor extension tells.
    """
    name = filename or Path(path).name
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise ReadError(f"cannot be opened: {exc.strerror or exc}", file=name) from exc
    if not head.strip():
        raise ReadError("the file is empty", file=name)
    if head.startswith((b"PK\x03\x04", b"SQLite format 3\x00", b"BZh", b"\x1f\x8b", b"fgb\x03")):
        return "gis"
    if head.startswith(b"AutoCAD Binary DXF"):
        return "dxf"
    text = _peek_text(head)
    if looks_like_exchange(text):
        return "exchange"
    stripped = text.lstrip("\ufeff \t\r\n")
    if _DXF_START.match(text.replace("\r\n", "\n").replace("\r", "\n")):
        return "dxf"
    if stripped.startswith(("{", "<")):
        return "gis"
    suffix = Path(name).suffix.lower()
    if suffix == ".txt":
        return "exchange"
    if suffix == ".dxf":
        return "dxf"
    if suffix in _GIS_EXTENSIONS:
        return "gis"
    raise UnsupportedFormatError(f"the file format is not recognised ({_ACCEPTED})", file=name)


def _peek_text(head: bytes) -> str:
    for encoding in ("utf-8", "gb18030", "latin-1"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError as exc:
            # The 8 KiB cut may split a character: accept the text up to the cut.
            if exc.start >= len(head) - 4:
                return head[: exc.start].decode(encoding, "ignore")
    return ""


def read_parcels(
    path: str | Path,
    *,
    crs: int | None = None,
    layers: list[str] | None = None,
    filename: str | None = None,
    limits: ReadLimits | None = None,
) -> ReadResult:
    """Read the parcels of an uploaded file, whatever its format.

    `crs` (EPSG code) overrides the CRS the file declares and is required for files without
    one (DXF without zone-prefixed eastings, a shapefile without .prj); `layers` picks the
    DXF layers or GIS layers that hold parcels (default: all); `filename` is the name the
    uploader used, for messages, when `path` is a temporary file; `limits` bound what one file
    may cost (unpacked bytes, archive members, features; CPU and memory are bounded by
    `spatial.readers.isolated`, which runs this in a worker process).

    Raises a SpatialError (ReadError, UnsupportedFormatError, CrsError) naming the file and
    the place; never another exception type.
    """
    name = filename or Path(path).name
    try:
        reader = detect_reader(path, filename=name)
        if reader == "exchange":
            result = read_exchange(path, crs=crs, filename=name)
        elif reader == "dxf":
            result = read_dxf(path, crs=crs, layers=layers, filename=name)
        else:
            result = read_gis(path, crs=crs, layers=layers, filename=name, limits=limits)
        maximum = (limits or ReadLimits()).max_features
        if len(result.parcels) > maximum:
            raise LimitError(f"holds {len(result.parcels):,} parcels, more than the {maximum:,} one upload may "
                             "hold (max features per upload): split the survey into several uploads", file=name)
        return result
    except SpatialError as exc:
        if exc.file is None:
            exc.file = name
        raise
    except (MemoryError, RecursionError) as exc:
        raise ReadError("is too large or too deeply nested to read", file=name) from exc
    except Exception as exc:
        # A reader bug must not become a server error: log it for us, tell the uploader.
        log.exception("internal error while reading %s", name)
        raise ReadError(
            f"internal error while reading the file ({type(exc).__name__}); the file may be "
            "damaged: export it again, or report this file to the portal team",
            file=name,
        ) from exc
