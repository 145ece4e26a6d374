"""Warping a georeferenced scan into a tiled GeoTIFF in the target CRS, with GDAL's own tools.

`warp_image(image, fit, crs, out)` hands GDAL control points computed from the fitted
transformation on a 9 x 9 grid over the image (so GDAL's warp follows our fit exactly, whatever
its kind) and lets `gdalwarp` resample: first order for similarity and affine, second order for
polynomial2, thin-plate spline for projective (which GDAL's polynomials cannot express; on a
dense grid the spline reproduces it to well below a pixel). The output is a tiled, deflated
GeoTIFF with an alpha band and overviews (`gdaladdo`), in `crs` (an EPSG code, metres), whose metadata records the
transformation, its parameters, the RMS and the control points given (CADASTRE_GEOREFERENCE, JSON).

Raises WarpError (a SpatialError) when GDAL is missing or fails, GeoreferenceError for a fit
degenerate or out of range (checked before GDAL runs); needs Debian's gdal-bin.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from spatial.errors import SpatialError
from spatial.georeference import ControlPoint, Fit, Transformation, check_plausible

__all__ = ["WarpError", "Warped", "warp_image", "tile_png", "tile_bounds", "build_pyramid", "pixel_levels",
           "pixel_tile_png", "open_tiles"]

_GRID = 9
T = TypeVar("T")


class WarpError(SpatialError):
    """GDAL is missing or could not warp the image."""


@dataclass(frozen=True)
class Warped:
    """The warped GeoTIFF: its path, size in pixels, pixel size in metres and bounds
    (min easting, min northing, max easting, max northing) in `crs`."""

    path: Path
    crs: int
    width: int
    height: int
    pixel_size: float
    bounds: tuple[float, float, float, float]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise WarpError(f"{name} is not installed (apt-get install gdal-bin)")
    return found


def _run(args: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              env={"GDAL_HTTP_TIMEOUT": "1", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".none",
                                   "GDAL_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired as error:
        raise WarpError(f"{Path(args[0]).name} took more than {timeout:.0f} s and was stopped") from error
    if done.returncode:
        raise WarpError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def warp_image(image: Path, fit: Fit, crs: int, out: Path, *, width: int, height: int,
               control_points: Sequence[ControlPoint] = (), timeout: float = 600.0) -> Warped:
    """Warp `image` (width x height pixels) by `fit` into a tiled GeoTIFF at `out` in EPSG:`crs`.
    GeoreferenceError, before anything runs, for a fit degenerate or out of range
    (`spatial.georeference.check_plausible`)."""
    check_plausible(fit, width, height, crs)
    columns = np.linspace(0, width, _GRID)
    rows = np.linspace(0, height, _GRID)
    grid = np.array([[c, r] for r in rows for c in columns])
    world = fit.apply(grid)
    evidence = {**fit.to_dict(), "crs": crs,
                "control_points": [{"label": p.label, "column": p.column, "row": p.row, "easting": p.easting,
                                    "northing": p.northing} for p in control_points]}
    method = {Transformation.SIMILARITY: ["-order", "1"], Transformation.AFFINE: ["-order", "1"],
              Transformation.POLYNOMIAL2: ["-order", "2"], Transformation.PROJECTIVE: ["-tps"]}[fit.kind]
    with tempfile.TemporaryDirectory(prefix="cadastre-warp-") as folder:
        vrt = Path(folder) / "gcps.vrt"
        gcps = [arg for (c, r), (x, y) in zip(grid, world, strict=True)
                for arg in ("-gcp", f"{c:.6f}", f"{r:.6f}", f"{x:.4f}", f"{y:.4f}")]
        _run([_tool("gdal_translate"), "-q", "-of", "VRT", "-a_srs", f"EPSG:{crs}", *gcps,
              "-mo", f"CADASTRE_GEOREFERENCE={json.dumps(evidence, separators=(',', ':'))}",
              str(image), str(vrt)], timeout)
        _run([_tool("gdalwarp"), "-q", "-overwrite", *method, "-t_srs", f"EPSG:{crs}", "-r", "bilinear",
              "-dstalpha", "-of", "GTiff", "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "ZLEVEL=1",
              "-co", "BIGTIFF=IF_SAFER", "-multi", "-wo", "NUM_THREADS=2", "-wm", "1024", str(vrt), str(out)], timeout)
    _run([_tool("gdaladdo"), "-q", "-r", "average", "--config", "COMPRESS_OVERVIEW", "DEFLATE", "--config",
          "ZLEVEL_OVERVIEW", "1", "--config", "GDAL_NUM_THREADS", "2", str(out), "2", "4", "8", "16", "32", "64"],
         timeout)
    info = json.loads(_run([_tool("gdalinfo"), "-json", str(out)], timeout))
    w, h = info["size"]
    x0, dx, _, y0, _, dy = info["geoTransform"]
    return Warped(out, crs, int(w), int(h), float(dx), (float(x0), float(y0 + dy * h), float(x0 + dx * w), float(y0)))


_WEB_MERCATOR_HALF = 20037508.342789244


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) in EPSG:3857 metres of the XYZ tile z/x/y (y counted from the north)."""
    size = 2 * _WEB_MERCATOR_HALF / 2**z
    return (-_WEB_MERCATOR_HALF + x * size, _WEB_MERCATOR_HALF - (y + 1) * size,
            -_WEB_MERCATOR_HALF + (x + 1) * size, _WEB_MERCATOR_HALF - y * size)


def build_pyramid(image: Path, out: Path, *, timeout: float = 600.0) -> int:
    """Copy `image` (a PNG page, grey or RGB) into a tiled, deflated GeoTIFF at `out` with
    internal overviews 2, 4, ... down to one 256-pixel tile (`gdal_translate`, `gdaladdo -r
    average`): the scan's pixel pyramid, read a window at a time for pixel-space tiles and by
    `gdalwarp` (a tiled source warps about three times faster than a PNG, read whole). No CRS:
    the file is in scan pixels (column, row; row axis down). Returns the number of overview
    levels. WarpError when GDAL is missing or fails."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # the page was accepted under the archive's pixel limit
    with Image.open(image) as opened:
        width, height = opened.size
    levels = pixel_levels(width, height)
    _run([_tool("gdal_translate"), "-q", "-of", "GTiff", "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co",
          "ZLEVEL=1", "-co", "BIGTIFF=IF_SAFER", "-co", "NUM_THREADS=2", str(image), str(out)], timeout)
    if levels:
        _run([_tool("gdaladdo"), "-q", "-r", "average", "--config", "COMPRESS_OVERVIEW", "DEFLATE", "--config",
              "ZLEVEL_OVERVIEW", "1", "--config", "GDAL_NUM_THREADS", "2", str(out),
              *(str(2**i) for i in range(1, levels + 1))], timeout)
    return levels


def pixel_levels(width: int, height: int, size: int = 256) -> int:
    """How many halvings bring a width x height scan within one size-pixel tile: the pixel
    tiles' zoom levels run from -levels (the whole scan in one tile) to 0 (full resolution)."""
    return max(0, math.ceil(math.log2(max(width, height, 1) / size)))


class _Source:
    """An open dataset (and, for a warped scan, its Web Mercator view) shared by a process's
    threads one read at a time. GDAL opens a GeoTIFF, builds the PROJ transformation and the
    warped view once, here, instead of on every tile (where it cost most of a tile's time)."""

    def __init__(self, path: Path, mercator: bool) -> None:
        import rasterio
        import rasterio.errors
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        self.lock = threading.Lock()
        self.closed = False
        with warnings.catch_warnings():  # a scan's pyramid is in pixels, on purpose
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            self.dataset = rasterio.open(path)
        self.view = WarpedVRT(self.dataset, crs="EPSG:3857", resampling=Resampling.bilinear) if mercator else None
        if self.view is not None:  # GDAL sets each level's warper up on its first read: 0.1-0.7 s, done here once
            from rasterio.windows import Window

            middle = (self.view.width // 2, self.view.height // 2)
            for factor in (1, *self.view.overviews(1)):
                self.view.read(window=Window(*middle, 4 * factor, 4 * factor), out_shape=(self.view.count, 4, 4))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self.view is not None:
                self.view.close()
            self.dataset.close()


_SOURCES: OrderedDict[tuple[str, int, bool], _Source] = OrderedDict()
_SOURCES_LOCK = threading.Lock()
_OPENING: dict[tuple[str, int, bool], threading.Lock] = {}
# Open sources kept per process: each holds two file handles and GDAL's warper set-up (a few
# MB at most; pixels are in GDAL's shared block cache), and reopening one costs 0.1-0.7 s, so
# enough are kept for every scan a busy office has on screen at once.
SOURCES_KEPT = 64


def _source(path: Path, mercator: bool) -> _Source:
    """The open source of `path` as it is now (its modification time is in the key, so a file
    warped again is opened afresh and its old handle closed); at most SOURCES_KEPT are kept
    open, the least recently used closed first; threads asking for one being opened wait for
    it rather than open it again (a flood of tiles costs one opening)."""
    key = (str(path), path.stat().st_mtime_ns, mercator)
    with _SOURCES_LOCK:
        found = _SOURCES.get(key)
        if found is not None:
            _SOURCES.move_to_end(key)
            return found
        opening = _OPENING.setdefault(key, threading.Lock())
    closing: list[_Source] = []
    with opening:  # one thread opens a source; the others asking for it meanwhile wait for it
        with _SOURCES_LOCK:
            found = _SOURCES.get(key)
            if found is not None:
                _SOURCES.move_to_end(key)
                return found
        try:
            opened = _Source(path, mercator)
            with _SOURCES_LOCK:
                _SOURCES[key] = opened
                closing = [_SOURCES.pop(k) for k in [k for k in _SOURCES if k[0] == key[0] and k != key]]
                while len(_SOURCES) > SOURCES_KEPT:
                    closing.append(_SOURCES.popitem(last=False)[1])
        finally:
            with _SOURCES_LOCK:
                _OPENING.pop(key, None)
    for source in closing:
        source.close()
    return opened


def open_tiles(path: Path) -> None:
    """Open a warped GeoTIFF and its Web Mercator view now, for `tile_png` (a few hundred ms,
    once per process), e.g. right after warping it; the first PNG written also loads Pillow's
    encoder (about 100 ms, once per process)."""
    import rasterio.windows  # noqa: F401 - loaded now rather than by the first tile

    _source(path, True)
    _png(np.zeros((2, 1, 1), dtype=np.uint8))


def _read(path: Path, mercator: bool, read: Callable[[_Source], T]) -> T:
    """`read(source)` under the source's lock; a source closed meanwhile (evicted by another
    thread) is opened again."""
    for _ in range(3):
        source = _source(path, mercator)
        with source.lock:
            if not source.closed:
                return read(source)
    name = path.name
    raise WarpError(f"{name} was closed three times while being read: too many scans are open at once")


def _png(data: NDArray[np.uint8]) -> bytes:
    """Bands x rows x columns (grey or RGB, then alpha) as a PNG, deflated fast (level 1: a
    tile is read once and cached; level 6 took as long as reading it)."""
    import io

    from PIL import Image

    count = data.shape[0]
    if count not in (2, 4):
        raise WarpError(f"a warped scan has grey or RGB bands and alpha: {count} band(s) found")
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.moveaxis(data, 0, -1))).save(out, "PNG", compress_level=1)
    return out.getvalue()


def _window(tile: tuple[float, float, float, float], extent: tuple[float, float, float, float], size: int,
            y_down: bool) -> tuple[int, int, int, int] | None:
    """The part of a size x size tile (xmin, ymin, xmax, ymax) covered by `extent`, in tile
    pixels (column0, row0, column1, row1); None when they do not overlap."""
    step = (tile[2] - tile[0]) / size
    left, right = max(tile[0], extent[0]), min(tile[2], extent[2])
    bottom, top = max(tile[1], extent[1]), min(tile[3], extent[3])
    c0, c1 = round((left - tile[0]) / step), round((right - tile[0]) / step)
    if y_down:
        r0, r1 = round((bottom - tile[1]) / step), round((top - tile[1]) / step)
    else:
        r0, r1 = round((tile[3] - top) / step), round((tile[3] - bottom) / step)
    return (c0, r0, c1, r1) if c1 > c0 and r1 > r0 else None


def tile_png(path: Path, z: int, x: int, y: int, size: int = 256) -> bytes | None:
    """The XYZ tile z/x/y (Web Mercator, EPSG:3857, y counted from the north) of a warped
    GeoTIFF (grey or RGB, and alpha) as a PNG with transparency, bilinear; None outside the
    image. The dataset stays open in the process with its Web Mercator view (a GDAL warped VRT,
    whose implicit overviews follow the file's), so a tile is a windowed read of the overview
    nearest its resolution. WarpError for a file without an alpha band."""
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    bounds = tile_bounds(z, x, y)
    step = (bounds[2] - bounds[0]) / size

    def read(source: _Source) -> bytes | None:
        view = source.view
        assert view is not None
        covered = _window(bounds, tuple(view.bounds), size, y_down=False)
        if covered is None:
            return None
        c0, r0, c1, r1 = covered
        data = np.zeros((view.count, size, size), dtype=np.uint8)
        window = from_bounds(bounds[0] + c0 * step, bounds[3] - r1 * step, bounds[0] + c1 * step,
                             bounds[3] - r0 * step, view.transform)
        data[:, r0:r1, c0:c1] = view.read(window=window, out_shape=(view.count, r1 - r0, c1 - c0),
                                          resampling=Resampling.bilinear)
        return _png(data)

    return _read(path, True, read)


def pixel_tile_png(path: Path, z: int, x: int, y: int, size: int = 256) -> bytes | None:
    """Tile x, y (column, row of tiles from the top left) at zoom z <= 0 of a scan pyramid
    (`build_pyramid`) in scan pixels, as Leaflet's CRS.Simple asks for it: one tile pixel is
    2**-z scan pixels, so the tile covers columns [x, x + 1) * size * 2**-z and rows likewise;
    PNG, grey or RGB with alpha (transparent beyond the scan's edge); GDAL reads the overview
    of the zoom. None when the tile is outside the scan."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    if z > 0:
        raise ValueError(f"pixel tiles go up to zoom 0 (full resolution), not {z}")
    span = size * 2 ** (-z)
    tile = (x * span, y * span, (x + 1) * span, (y + 1) * span)
    step = span / size

    def read(source: _Source) -> bytes | None:
        dataset = source.dataset
        covered = _window(tile, (0, 0, dataset.width, dataset.height), size, y_down=True)
        if covered is None:
            return None
        c0, r0, c1, r1 = covered
        data = np.zeros((dataset.count + 1, size, size), dtype=np.uint8)
        window = Window(tile[0] + c0 * step, tile[1] + r0 * step, (c1 - c0) * step, (r1 - r0) * step)
        data[:-1, r0:r1, c0:c1] = dataset.read(window=window, out_shape=(dataset.count, r1 - r0, c1 - c0),
                                               resampling=Resampling.average if z < 0 else Resampling.nearest)
        data[-1, r0:r1, c0:c1] = 255
        return _png(data)

    return _read(path, False, read)
