"""Georeferencing a scanned drawing: from image pixels to map coordinates by control points.

A control point pairs a pixel of the scan, (column, row) with the row axis pointing down and
(0, 0) the top-left corner of the top-left pixel, with its coordinates in the target CRS,
(easting, northing) in metres (a Gauss-Krüger zone, x = easting). Four transformations, as in
QGIS's Georeferencer, each fitted by least squares (numpy) with its minimum number of points:

    similarity    4 parameters (Helmert: scale, rotation, shift)        2 points
    affine        6 parameters (scale and shear per axis)               3 points
    projective    8 parameters (a plane photographed at an angle)       4 points
    polynomial2   12 parameters (second-order polynomial per axis)      6 points

A scan is the ground seen in a mirror along its row axis (rows run south, northings north), so
the similarity is fitted to (column, -row): a Helmert transformation in its usual sense.

`fit(points, kind)` returns a `Fit`: the parameters, each point's residual (fitted minus given,
in metres, and its length), the RMS of the residual lengths, and the worst point. Residuals are
zero when there are exactly the minimum number of points (nothing is checked then: give more).
The tolerance a drawing should meet follows its scale: `tolerance_for_scale(500)` is 0.25 m
(half a millimetre on paper, the plotting accuracy of a cadastral drawing, GB/T 17986 and
TD/T 1001-2012 allow about that for boundary points on a 1:500 sheet).

`check_plausible(fit, width, height, crs)` says whether a fit can be warped: the page's
footprint (a 9 x 9 grid of its pixels through the fit) finite, one pixel between
`PIXEL_SIZE_RANGE_M` on the ground (0.1 mm to 10 km), and the footprint inside the area of use
EPSG gives the target CRS. Run it before storing a fit and before warping.

Errors: GeoreferenceError (a SpatialError) for too few points, unknown kinds, a degenerate
arrangement (points on one line, or all at one place), or a fit degenerate or out of range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from spatial.errors import SpatialError

__all__ = ["Transformation", "MIN_POINTS", "ControlPoint", "Residual", "Fit", "GeoreferenceError", "fit",
           "tolerance_for_scale", "check_plausible", "PIXEL_SIZE_RANGE_M"]

# The ground size of one scanned pixel, metres: 600 dpi at 1:200 is 8 mm, 72 dpi at 1:100,000 35 m.
PIXEL_SIZE_RANGE_M = (1e-4, 1e4)


class GeoreferenceError(SpatialError):
    """Control points that cannot give the transformation asked for."""


class Transformation(StrEnum):
    SIMILARITY = "similarity"
    AFFINE = "affine"
    PROJECTIVE = "projective"
    POLYNOMIAL2 = "polynomial2"


MIN_POINTS: dict[Transformation, int] = {
    Transformation.SIMILARITY: 2, Transformation.AFFINE: 3, Transformation.PROJECTIVE: 4,
    Transformation.POLYNOMIAL2: 6,
}


@dataclass(frozen=True)
class ControlPoint:
    """A pixel (column, row: row axis down) and its map coordinates (easting, northing, metres)."""

    column: float
    row: float
    easting: float
    northing: float
    label: str = ""


@dataclass(frozen=True)
class Residual:
    """Fitted minus given at one control point, in metres: (d_easting, d_northing) and length."""

    label: str
    d_easting: float
    d_northing: float
    distance: float


@dataclass(frozen=True)
class Fit:
    """A fitted transformation from pixels to map coordinates.

    `parameters` in the order of `kind` (see `apply`); `origin`/`scale` normalise pixels before
    the polynomial and projective terms (conditioning). `rms` is the root mean square of the
    residual lengths in metres, `worst` the index of the largest one.
    """

    kind: Transformation
    parameters: tuple[float, ...]
    origin: tuple[float, float]
    scale: float
    residuals: tuple[Residual, ...]
    rms: float
    worst: int

    def apply(self, pixels: Sequence[Sequence[float]] | NDArray[np.float64]) -> NDArray[np.float64]:
        """Map coordinates (n x 2: easting, northing in metres) of pixels (n x 2: column, row)."""
        p = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        return _apply(self.kind, np.asarray(self.parameters), self._normalised(p))

    def _normalised(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        u = (p[:, 0] - self.origin[0]) / self.scale
        v = -(p[:, 1] - self.origin[1]) / self.scale
        return np.column_stack([u, v])

    def within(self, tolerance: float) -> bool:
        """Whether every residual is within `tolerance` metres."""
        return all(r.distance <= tolerance for r in self.residuals)

    def to_dict(self) -> dict[str, object]:
        """The fit as JSON-ready data (kept with a digitised submission as evidence)."""
        return {"transformation": self.kind.value, "parameters": list(self.parameters), "origin": list(self.origin),
                "scale": self.scale, "rms_m": self.rms, "worst": self.worst,
                "residuals": [{"label": r.label, "d_easting_m": r.d_easting, "d_northing_m": r.d_northing,
                               "distance_m": r.distance} for r in self.residuals]}


def tolerance_for_scale(scale_denominator: float, *, paper_mm: float = 0.5) -> float:
    """The residual a drawing at 1:`scale_denominator` should meet, in metres: `paper_mm` on paper."""
    if scale_denominator <= 0:
        raise GeoreferenceError(f"a drawing's scale must be positive, not 1:{scale_denominator}")
    return paper_mm / 1000.0 * scale_denominator


def _design(kind: Transformation, u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    one = np.ones_like(u)
    if kind is Transformation.AFFINE:
        return np.column_stack([one, u, v])
    return np.column_stack([one, u, v, u * u, u * v, v * v])  # polynomial2


def _apply(kind: Transformation, k: NDArray[np.float64], uv: NDArray[np.float64]) -> NDArray[np.float64]:
    u, v = uv[:, 0], uv[:, 1]
    if kind is Transformation.SIMILARITY:
        a, b, tx, ty = k
        return np.column_stack([a * u - b * v + tx, b * u + a * v + ty])
    if kind is Transformation.PROJECTIVE:
        a, b, c, d, e, f, g, h = k
        w = g * u + h * v + 1.0
        return np.column_stack([(a * u + b * v + c) / w, (d * u + e * v + f) / w])
    design = _design(kind, u, v)
    half = len(k) // 2
    return np.column_stack([design @ k[:half], design @ k[half:]])


def _solve(a: NDArray[np.float64], b: NDArray[np.float64], kind: Transformation) -> NDArray[np.float64]:
    solution, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < a.shape[1]:
        raise GeoreferenceError(f"the control points cannot fix a {kind.value} transformation: they lie on one "
                                "line or too close together; spread them over the drawing")
    return np.asarray(solution, dtype=np.float64)


def _parameters(kind: Transformation, uv: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    u, v, x, y = uv[:, 0], uv[:, 1], xy[:, 0], xy[:, 1]
    n = len(u)
    if kind is Transformation.SIMILARITY:
        a = np.zeros((2 * n, 4))
        a[0::2] = np.column_stack([u, -v, np.ones(n), np.zeros(n)])
        a[1::2] = np.column_stack([v, u, np.zeros(n), np.ones(n)])
        b = np.empty(2 * n)
        b[0::2], b[1::2] = x, y
        return _solve(a, b, kind)
    if kind is Transformation.PROJECTIVE:
        # Linearised (x * (g u + h v + 1) = a u + b v + c), then refined by Gauss-Newton on the
        # true residuals, so the least squares are those of the map coordinates.
        a = np.zeros((2 * n, 8))
        a[0::2] = np.column_stack([u, v, np.ones(n), np.zeros((n, 3)), -u * x, -v * x])
        a[1::2] = np.column_stack([np.zeros((n, 3)), u, v, np.ones(n), -u * y, -v * y])
        b = np.empty(2 * n)
        b[0::2], b[1::2] = x, y
        k = _solve(a, b, kind)
        for _ in range(10):
            fitted = _apply(kind, k, uv)
            jacobian = _projective_jacobian(k, uv)
            step = _solve(jacobian, (xy - fitted).reshape(-1), kind)
            k = k + step
            if np.max(np.abs(step)) < 1e-12 * max(1.0, float(np.max(np.abs(k)))):
                break
        return k
    design = _design(kind, u, v)
    return np.concatenate([_solve(design, x, kind), _solve(design, y, kind)])


def _projective_jacobian(k: NDArray[np.float64], uv: NDArray[np.float64]) -> NDArray[np.float64]:
    a, b, c, d, e, f, g, h = k
    u, v = uv[:, 0], uv[:, 1]
    w = g * u + h * v + 1.0
    x = (a * u + b * v + c) / w
    y = (d * u + e * v + f) / w
    n = len(u)
    jac = np.zeros((2 * n, 8))
    jac[0::2] = np.column_stack([u / w, v / w, 1 / w, np.zeros((n, 3)), -u * x / w, -v * x / w])
    jac[1::2] = np.column_stack([np.zeros((n, 3)), u / w, v / w, 1 / w, -u * y / w, -v * y / w])
    return jac


def fit(points: Sequence[ControlPoint], kind: Transformation | str = Transformation.AFFINE) -> Fit:
    """Fit a `kind` transformation from pixels to map coordinates through `points` by least
    squares; see the module docstring. Raises GeoreferenceError."""
    try:
        kind = Transformation(kind)
    except ValueError:
        raise GeoreferenceError(f"transformation {kind!r} is not one of "
                                f"{', '.join(t.value for t in Transformation)}") from None
    needed = MIN_POINTS[kind]
    if len(points) < needed:
        raise GeoreferenceError(f"a {kind.value} transformation needs at least {needed} control points; "
                                f"{len(points)} given")
    pixels = np.array([[p.column, p.row] for p in points], dtype=np.float64)
    world = np.array([[p.easting, p.northing] for p in points], dtype=np.float64)
    if not (np.all(np.isfinite(pixels)) and np.all(np.isfinite(world))):
        raise GeoreferenceError("control point coordinates must be finite numbers")
    origin = pixels.mean(axis=0)
    spread = float(np.max(np.abs(pixels - origin))) or 1.0
    world_origin = world.mean(axis=0)
    uv = np.column_stack([(pixels[:, 0] - origin[0]) / spread, -(pixels[:, 1] - origin[1]) / spread])
    with np.errstate(all="ignore"):
        k = _parameters(kind, uv, world - world_origin)
        k = _shift(kind, k, world_origin)
        fitted = _apply(kind, k, uv)
        delta = fitted - world
        distance = np.hypot(delta[:, 0], delta[:, 1])
        rms = float(np.sqrt(np.mean(distance ** 2)))
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(delta)) and np.isfinite(rms)):
        raise GeoreferenceError("the fit is degenerate or out of range: its parameters or residuals are not finite "
                                "numbers; check the control points' coordinates")
    residuals = tuple(Residual(p.label or str(i + 1), float(dx), float(dy), float(dd))
                      for i, (p, (dx, dy), dd) in enumerate(zip(points, delta, distance, strict=True)))
    return Fit(kind, tuple(float(x) for x in k), (float(origin[0]), float(origin[1])), spread, residuals,
               rms, int(np.argmax(distance)))


def _shift(kind: Transformation, k: NDArray[np.float64], offset: NDArray[np.float64]) -> NDArray[np.float64]:
    """Parameters fitted to map coordinates less `offset`, turned into parameters of the map
    coordinates themselves (fitting around the centroid keeps eastings of 40,500,000 m from
    costing precision)."""
    k = k.copy()
    if kind is Transformation.SIMILARITY:
        k[2] += offset[0]
        k[3] += offset[1]
    elif kind is Transformation.PROJECTIVE:
        a, b, c, d, e, f, g, h = k
        k = np.array([a + offset[0] * g, b + offset[0] * h, c + offset[0],
                      d + offset[1] * g, e + offset[1] * h, f + offset[1], g, h])
    else:
        half = len(k) // 2
        k[0] += offset[0]
        k[half] += offset[1]
    return k


def check_plausible(fit: Fit, width: int, height: int, crs: int) -> None:
    """Raise GeoreferenceError unless `fit` maps the `width` x `height` pixel page to finite
    coordinates of EPSG:`crs` inside its area of use, one pixel between `PIXEL_SIZE_RANGE_M`
    metres on the ground (a projected CRS in metres is assumed for the size)."""
    from spatial.domain import area_of_use

    columns, rows = np.linspace(0, width, 9), np.linspace(0, height, 9)
    grid = np.array([[c, r] for r in rows for c in columns], dtype=np.float64)
    with np.errstate(all="ignore"):
        world = fit.apply(grid)
        corners = fit.apply([[0, 0], [width, 0], [width, height], [0, height]])
        x, y = corners[:, 0], corners[:, 1]
        area = abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2
        pixel = float(np.sqrt(area / max(width * height, 1)))
    if not (all(np.isfinite(fit.parameters)) and np.all(np.isfinite(world)) and np.isfinite(pixel)):
        raise GeoreferenceError("the fit is degenerate or out of range: the page does not map to finite coordinates; "
                                "check the control points' coordinates")
    low, high = PIXEL_SIZE_RANGE_M
    if not low <= pixel <= high:
        raise GeoreferenceError("the fit is degenerate or out of range: one pixel of the scan would be "
                                f"{pixel:.3g} m on the ground (from {low:g} to {high:g} m is plausible); check that "
                                "the control points are different places, spread over the drawing, with the right "
                                "coordinates")
    aou = area_of_use(crs)
    from spatial.crs import CGCS2000, transformer

    with np.errstate(all="ignore"):
        lon, lat = transformer(crs, CGCS2000).transform(world[:, 0], world[:, 1], errcheck=False)
    if not np.all(aou.contains(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))):
        raise GeoreferenceError("the fit is degenerate or out of range: the page would lie outside the area of use of "
                                f"EPSG:{crs} ({aou.name}: {aou.describe()}); check the control points' coordinates "
                                "and the CRS")
