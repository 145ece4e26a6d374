"""A generator of scanned cadastral drawings (宗地图) with a known georeferencing, for the
digitising tests: known parcels drawn with Pillow, their boundary points labelled J1, J2, ...
and printed in a boundary-point table (X = northing, Y = easting, as Chinese drawings print
them), the whole sheet under a known affine distortion (a scan turned on the glass, the paper
stretched unevenly), and the pixels a person would click off by a little noise.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class KnownParcel:
    code: str
    land_use: str
    corners: tuple[str, ...]  # boundary point labels, anticlockwise


@dataclass
class DrawnScan:
    """The image and everything known about it."""

    png: bytes
    width: int
    height: int
    points: dict[str, tuple[float, float]]  # label -> (easting, northing), metres, as printed (mm)
    pixels: dict[str, tuple[float, float]]  # label -> exact (column, row) of the point in the image
    parcels: list[KnownParcel]
    matrix: np.ndarray  # 3 x 3: map (easting, northing, 1) -> pixel (column, row, 1)
    rng: np.random.Generator = field(repr=False)

    def clicked(self, label: str, noise_px: float) -> tuple[float, float]:
        """Where a person clicks for the point: its pixel off by Gaussian noise."""
        column, row = self.pixels[label]
        return column + float(self.rng.normal(0, noise_px)), row + float(self.rng.normal(0, noise_px))

    def to_map(self, pixels: np.ndarray) -> np.ndarray:
        """The true map coordinates (n x 2) of pixels (n x 2): the inverse of the distortion."""
        inverse = np.linalg.inv(self.matrix)
        homogeneous = np.column_stack([pixels, np.ones(len(pixels))]) @ inverse.T
        return homogeneous[:, :2]

    def ring(self, parcel: KnownParcel) -> list[tuple[float, float]]:
        return [self.points[label] for label in parcel.corners]


def draw_scan(points: dict[str, tuple[float, float]], parcels: list[KnownParcel], *, metres_per_pixel: float = 0.04,
              rotation_degrees: float = 2.5, stretch: float = 1.004, shear: float = 0.003, margin: int = 120,
              seed: int = 19) -> DrawnScan:
    """Draw the parcels (and their boundary-point table) into a PNG under the distortion."""
    eastings = np.array([p[0] for p in points.values()])
    northings = np.array([p[1] for p in points.values()])
    e0, n0 = float(eastings.min()), float(northings.max())
    span_e = float(eastings.max()) - e0
    span_n = n0 - float(northings.min())
    # map -> paper (column right, row down, in pixels), then the scan's distortion about the sheet's centre
    to_paper = np.array([[1 / metres_per_pixel, 0, -e0 / metres_per_pixel],
                         [0, -1 / metres_per_pixel, n0 / metres_per_pixel], [0, 0, 1]])
    a = np.radians(rotation_degrees)
    centre = np.array([span_e / metres_per_pixel / 2, span_n / metres_per_pixel / 2])
    distortion = np.array([[np.cos(a), -np.sin(a) + shear, 0], [np.sin(a), np.cos(a) * stretch, 0], [0, 0, 1]])
    shift_in = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]])
    table_width = 520
    width = int(span_e / metres_per_pixel + 2 * margin + table_width)
    height = int(max(span_n / metres_per_pixel + 2 * margin, 60 + 26 * len(points)))
    shift_out = np.array([[1, 0, centre[0] + margin], [0, 1, centre[1] + margin], [0, 0, 1]])
    matrix = shift_out @ distortion @ shift_in @ to_paper

    def pixel(easting: float, northing: float) -> tuple[float, float]:
        c, r, _ = matrix @ np.array([easting, northing, 1.0])
        return float(c), float(r)

    pixels = {label: pixel(*xy) for label, xy in points.items()}
    image = Image.new("L", (width, height), 255)
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=18)
    for parcel in parcels:
        ring = [pixels[label] for label in parcel.corners]
        pen.polygon(ring, outline=0, width=3)
        cx = sum(c for c, _ in ring) / len(ring)
        cy = sum(r for _, r in ring) / len(ring)
        pen.text((cx, cy), parcel.code[-5:], fill=0, font=font, anchor="mm")
        pen.text((cx, cy + 24), parcel.land_use, fill=0, font=font, anchor="mm")
    for label, (c, r) in pixels.items():
        pen.ellipse((c - 4, r - 4, c + 4, r + 4), outline=0, width=2)
        pen.text((c + 8, r - 22), label, fill=0, font=font)
    # The boundary-point table (界址点成果表): X northing, Y easting, metres.
    left = width - table_width + 20
    pen.text((left, 20), "No.      X (N)           Y (E)", fill=0, font=font)
    for i, (label, (easting, northing)) in enumerate(points.items()):
        pen.text((left, 50 + 26 * i), f"{label:<6} {northing:.3f}  {easting:.3f}", fill=0, font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return DrawnScan(out.getvalue(), width, height, dict(points), pixels, parcels, matrix, np.random.default_rng(seed))
