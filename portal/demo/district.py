"""The demo district's streets, blocks and parcels, surveyed in CGCS2000 GK zone 40 (EPSG:4528).

Blocks sit on a street grid (arterials every sixth street); each block is cut
into rows and jittered columns so that neighbouring parcels share their boundaries exactly,
as a digitised cadastre should: no gaps, no overlaps. Everything derives from one seeded
generator, so a seed always gives the same district.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import shapely

__all__ = ["ADMIN_AREA", "SURVEY_SRID", "Cells", "District", "layout_district", "STREETS"]

ADMIN_AREA = ("330102", "上城区")
SURVEY_SRID = 4528  # CGCS2000 3-degree Gauss-Krüger zone 40, easting with zone prefix
ORIGIN = (40_515_000.0, 3_345_500.0)  # south-west corner, near 120.156°E 30.23°N
ROTATION_DEGREES = 0.0  # rotated grids put T-junction vertices off their neighbours edges once rounded to mm
MEAN_PARCELS_PER_BLOCK = 7.0

# Block kinds: (weight, land-use codes, feature code, rows, columns)
BLOCK_KINDS = {
    "residential": 0.60,
    "commercial": 0.14,
    "public": 0.08,
    "industrial": 0.06,
    "mixed": 0.09,
    "homestead": 0.03,
}
LAND_USE = {
    "residential": ["0701"],
    "commercial": ["0501", "0505", "0503", "0504", "0506"],
    "public": ["0803", "0805", "0810", "0801", "0807", "0808"],
    "industrial": ["0601", "0604"],
    "mixed": ["0701", "0501", "0505"],
    "homestead": ["0702"],
}

_STREET_WORDS = (
    "解放 庆春 延安 中山 凤起 体育场 环城 望江 清泰 江城 建国 秋涛 钱江 之江 复兴 南星 "
    "紫阳 清波 湖滨 吴山 小营 四季青 采荷 闸弄口 笕桥 彭埠 九堡 丁兰 三里亭 景芳 机场 "
    "新塘 天城 艮山 石桥 华丰 大农港 杭海 秋石 文晖 朝晖 潮王 德胜 东新 长庆 武林 "
    "运河 梅花碑 城站 婺江 海潮 美政 近江 水澄 白云 万松岭 玉皇山 八卦田 南山 北山"
).split()
_STREET_SUFFIXES = ("路", "街", "巷", "大道", "东路", "西路", "南路", "北路")
STREETS = [w + s for s in _STREET_SUFFIXES for w in _STREET_WORDS]


@dataclass(frozen=True)
class Cells:
    """The smallest surveyed pieces: each is a parcel, or half of a merged or split one."""

    xmin: np.ndarray
    ymin: np.ndarray
    xmax: np.ndarray
    ymax: np.ndarray
    block: np.ndarray  # index of the block
    row: np.ndarray  # row inside the block
    col: np.ndarray  # column inside the row
    block_i: np.ndarray  # block column in the street grid
    block_j: np.ndarray  # block row in the street grid
    kind: np.ndarray  # block kind index into list(BLOCK_KINDS)

    def __len__(self) -> int:
        return len(self.xmin)


@dataclass(frozen=True)
class District:
    cells: Cells
    grid_size: int
    width: float
    height: float

    def to_survey(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local metres to EPSG:4528 easting/northing (rotated about the south-west corner)."""
        a = math.radians(ROTATION_DEGREES)
        return (
            ORIGIN[0] + x * math.cos(a) - y * math.sin(a),
            ORIGIN[1] + x * math.sin(a) + y * math.cos(a),
        )

    def polygons(self, xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray) -> np.ndarray:
        """Rectangles in local metres to polygons in EPSG:4528 (counter-clockwise shells)."""
        xs = np.stack([xmin, xmax, xmax, xmin, xmin], axis=1)
        ys = np.stack([ymin, ymin, ymax, ymax, ymin], axis=1)
        ex, ny = self.to_survey(xs, ys)
        coords = np.round(np.stack([ex, ny], axis=2), 3)
        return cast(np.ndarray, shapely.polygons(coords))  # an array of coordinates in, an array out

    def boundary(self, margin: float = 40.0) -> shapely.Polygon:
        """The administrative area: the street grid with a margin, in EPSG:4528."""
        poly: shapely.Polygon = self.polygons(
            np.array([-margin]), np.array([-margin]),
            np.array([self.width + margin]), np.array([self.height + margin]),
        )[0]
        return poly


def _street_widths(rng: np.random.Generator, count: int) -> np.ndarray:
    widths = rng.choice([14.0, 16.0, 18.0, 20.0], size=count)
    widths[::6] = 36.0  # arterials
    return widths


def layout_district(n_cells: int, rng: np.random.Generator) -> District:
    """Lay out blocks until there are `n_cells` cells; cells come in block order."""
    blocks_needed = max(1, math.ceil(n_cells / MEAN_PARCELS_PER_BLOCK * 1.08))
    grid = max(2, math.ceil(math.sqrt(blocks_needed)))
    col_w = rng.uniform(90.0, 210.0, grid)
    row_h = rng.uniform(70.0, 160.0, grid)
    x0 = np.concatenate([[0.0], np.cumsum(col_w + _street_widths(rng, grid))])
    y0 = np.concatenate([[0.0], np.cumsum(row_h + _street_widths(rng, grid))])
    kinds = list(BLOCK_KINDS)
    weights = np.array(list(BLOCK_KINDS.values()))
    kind_of_block = rng.choice(len(kinds), size=grid * grid, p=weights / weights.sum())

    out: dict[str, list[np.ndarray]] = {k: [] for k in
                                        ("xmin", "ymin", "xmax", "ymax", "block", "row", "col", "bi", "bj", "kind")}
    total = 0
    block = 0
    for bj in range(grid):
        for bi in range(grid):
            kind = kinds[kind_of_block[block]]
            bx0, by0 = x0[bi], y0[bj]
            w, h = col_w[bi], row_h[bj]
            if kind == "public":
                rows, cols_per_row = 1, [int(rng.integers(1, 3))]
            elif kind == "industrial":
                rows = 1 + int(h > 110)
                cols_per_row = [int(rng.integers(1, 4)) for _ in range(rows)]
            else:
                rows = 1 + int(h > 95) + int(h > 140)
                cols_per_row = [max(2, int(w / rng.uniform(18.0, 34.0))) for _ in range(rows)]
            row_cuts = np.sort(np.concatenate([[0.0, 1.0], (np.arange(1, rows) / rows)
                                               + rng.uniform(-0.08, 0.08, rows - 1)]))
            for r in range(rows):
                cols = cols_per_row[r]
                cuts = np.arange(1, cols) / cols + rng.uniform(-0.25, 0.25, cols - 1) / cols
                cuts = np.sort(np.concatenate([[0.0, 1.0], cuts]))
                n = cols
                out["xmin"].append(bx0 + cuts[:-1] * w)
                out["xmax"].append(bx0 + cuts[1:] * w)
                out["ymin"].append(np.full(n, by0 + row_cuts[r] * h))
                out["ymax"].append(np.full(n, by0 + row_cuts[r + 1] * h))
                out["block"].append(np.full(n, block))
                out["row"].append(np.full(n, r))
                out["col"].append(np.arange(n))
                out["bi"].append(np.full(n, bi))
                out["bj"].append(np.full(n, bj))
                out["kind"].append(np.full(n, kind_of_block[block]))
                total += n
            block += 1
            if total >= n_cells:
                break
        if total >= n_cells:
            break
    arrays = {k: np.concatenate(v)[:n_cells] for k, v in out.items()}
    return District(
        cells=Cells(
            xmin=arrays["xmin"], ymin=arrays["ymin"], xmax=arrays["xmax"], ymax=arrays["ymax"],
            block=arrays["block"], row=arrays["row"], col=arrays["col"],
            block_i=arrays["bi"], block_j=arrays["bj"], kind=arrays["kind"],
        ),
        grid_size=grid,
        width=float(x0[grid] - 36.0),
        height=float(y0[grid] - 36.0),
    )
