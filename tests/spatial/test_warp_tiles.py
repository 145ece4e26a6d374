"""Tiles of a warped scan and of a scan's pixel pyramid (`spatial.warp`): the file stays open per
process, a file warped again is read afresh, at most SOURCES_KEPT files stay open, and a pixel
tile at zoom 0 is the scan's own pixels."""

from __future__ import annotations

import io
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from spatial import warp
from spatial.warp import build_pyramid, pixel_levels, pixel_tile_png, tile_bounds, tile_png

# A 100 m square sheet at 0.1 m a pixel in EPSG:3857, near Hangzhou (x 13,375,000 m, y 3,533,000 m).
X0, Y0, STEP, SIZE = 13_375_000.0, 3_533_000.0, 0.1, 1000


def write_warped(path: Path, grey: int) -> None:
    """A grey + alpha GeoTIFF (the shape `warp_image` writes), every pixel `grey`, opaque."""
    data = np.stack([np.full((SIZE, SIZE), grey, np.uint8), np.full((SIZE, SIZE), 255, np.uint8)])
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=2, dtype="uint8", crs="EPSG:3857",
                       transform=from_origin(X0, Y0, STEP, STEP), tiled=True, photometric="MINISBLACK",
                       alpha="UNASSOCIATED") as out:
        out.write(data)
        out.colorinterp = [rasterio.enums.ColorInterp.gray, rasterio.enums.ColorInterp.alpha]


def inside(z: int) -> tuple[int, int]:
    size = 2 * 20037508.342789244 / 2**z
    x, y = X0 + SIZE * STEP / 2, Y0 - SIZE * STEP / 2
    return int((x + 20037508.342789244) // size), int((20037508.342789244 - y) // size)


def grey_of(png: bytes | None) -> tuple[int, int]:
    assert png is not None
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("LA"))
    return int(np.median(pixels[:, :, 0][pixels[:, :, 1] > 0])), int(pixels[:, :, 1].max())


def test_a_file_warped_again_is_read_afresh_and_open_files_are_bounded(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "warped.tif"
    write_warped(path, 40)
    x, y = inside(20)
    assert tile_bounds(20, x, y)[0] <= X0 + 50 <= tile_bounds(20, x, y)[2]
    assert grey_of(tile_png(path, 20, x, y)) == (40, 255)
    write_warped(path, 200)  # warped again: a new modification time
    assert grey_of(tile_png(path, 20, x, y)) == (200, 255)
    assert [k for k in warp._SOURCES if k[0] == str(path)] == [(str(path), path.stat().st_mtime_ns, True)]
    assert tile_png(path, 20, x + 40, y) is None  # beyond the sheet

    monkeypatch.setattr(warp, "SOURCES_KEPT", 3)
    others = []
    for i in range(5):
        other = tmp_path / f"other-{i}.tif"
        write_warped(other, 10 * i)
        others.append(other)
    threads = [threading.Thread(target=tile_png, args=(other, 20, x, y)) for other in others for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(warp._SOURCES) <= 3
    assert grey_of(tile_png(others[0], 20, x, y)) == (0, 255)  # closed and opened again


def test_a_pixel_tile_at_zoom_0_is_the_scan_itself(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    scan = rng.integers(0, 256, size=(700, 1100, 3), dtype=np.uint8)
    page = tmp_path / "page.png"
    Image.fromarray(scan).save(page)
    pyramid = tmp_path / "page.tif"
    assert build_pyramid(page, pyramid) == pixel_levels(1100, 700) == math.ceil(math.log2(1100 / 256))
    with Image.open(io.BytesIO(pixel_tile_png(pyramid, 0, 4, 2) or b"")) as image:
        assert image.mode == "RGBA" and image.size == (256, 256)
        tile = np.asarray(image)
    assert np.array_equal(tile[:700 - 512, :1100 - 1024, :3], scan[512:, 1024:])
    assert tile[:700 - 512, :1100 - 1024, 3].min() == 255 and tile[700 - 512:, :, 3].max() == 0
    assert pixel_tile_png(pyramid, 0, 5, 0) is None
    with Image.open(io.BytesIO(pixel_tile_png(pyramid, -3, 0, 0) or b"")) as image:
        alpha = np.asarray(image)[:, :, 3]
    assert (alpha[0] > 0).sum() == round(1100 / 8) and (alpha[:, 0] > 0).sum() == round(700 / 8)
    with pytest.raises(ValueError, match="zoom 0"):
        pixel_tile_png(pyramid, 1, 0, 0)
