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
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spatial.errors import SpatialError
from spatial.georeference import ControlPoint, Fit, Transformation, check_plausible

__all__ = ["WarpError", "Warped", "warp_image", "tile_png", "tile_bounds"]

_GRID = 9


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


def tile_png(path: Path, z: int, x: int, y: int, size: int = 256) -> bytes | None:
    """The XYZ tile z/x/y (Web Mercator) of a warped GeoTIFF as a PNG with transparency, read
    through rasterio from the overview nearest the tile's resolution; None outside the image."""
    import io

    import rasterio
    from PIL import Image
    from rasterio.transform import from_bounds
    from rasterio.warp import Resampling, reproject, transform_bounds

    bounds = tile_bounds(z, x, y)
    with rasterio.open(path) as full:
        left, bottom, right, top = transform_bounds(full.crs, "EPSG:3857", *full.bounds)
        if right <= bounds[0] or left >= bounds[2] or top <= bounds[1] or bottom >= bounds[3]:
            return None
        wanted = (bounds[2] - bounds[0]) / size / max(abs(full.transform.a), 1e-9)
        factors = full.overviews(1)
        level = max((i for i, f in enumerate(factors) if f <= wanted), default=None)
        count = full.count
    with rasterio.open(path, overview_level=level) as source:
        data = np.zeros((count, size, size), dtype=np.uint8)
        reproject(source=rasterio.band(source, list(range(1, count + 1))), destination=data,
                  dst_transform=from_bounds(*bounds, size, size), dst_crs="EPSG:3857", resampling=Resampling.bilinear)
    if count not in (2, 4):
        raise WarpError(f"a warped scan has grey or RGB bands and alpha: {count} band(s) found")
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.moveaxis(data, 0, -1))).save(out, "PNG")
    return out.getvalue()
