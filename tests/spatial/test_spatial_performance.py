"""Validation must stay fast enough for a county-sized upload (100,000 parcels)."""

from __future__ import annotations

import time

import numpy as np
import shapely
from spatial_factories import E0, N0

from spatial.model import SurveyedParcel
from spatial.validation import validate


def test_validate_100k_parcels_quickly() -> None:
    side = 317  # 317 x 317 grid, cut to 100,000 parcels of 20 m x 20 m
    xs, ys = np.meshgrid(np.arange(side), np.arange(side))
    xs, ys = xs.ravel()[:100_000], ys.ravel()[:100_000]
    boxes = shapely.box(E0 + xs * 20.0, N0 + ys * 20.0, E0 + xs * 20.0 + 20, N0 + ys * 20.0 + 20)
    parcels = [
        SurveyedParcel(
            box,
            4528,
            f"feature {k + 1}",
            parcel_code=f"330102{k // 99_999 + 1:03d}001GB{k % 99_999 + 1:05d}",
            declared_area=400.0,
        )
        for k, box in enumerate(boxes)
    ]
    # Faults in a few places, so that every validation rule has work to do.
    parcels[10].geometry = shapely.box(E0 + 200, N0, E0 + 221, N0 + 20)  # overlaps its neighbour
    parcels[20].declared_area = 450.0
    parcels[30].parcel_code = "bad"
    started = time.perf_counter()
    report = validate(parcels)
    elapsed = time.perf_counter() - started
    assert {"overlap", "area_mismatch", "parcel_code_malformed"} <= report.codes()
    assert report.parcel_count == 100_000
    assert elapsed < 30, f"validating 100,000 parcels took {elapsed:.1f} s"
