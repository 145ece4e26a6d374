"""A county-sized upload (100,000 parcels) is validated whole: every fault found, at its parcel,
and nothing else. How fast is measured in bench/validate_county.py, not here."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from spatial_factories import E0, N0

from spatial.model import SurveyedParcel
from spatial.validation import validate


@pytest.mark.slow
def test_a_county_sized_upload_is_validated_whole() -> None:
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
    report = validate(parcels)
    assert report.parcel_count == 100_000
    found = {(i.code, i.parcel_index, i.details.get("other_parcel_index")) for i in report.issues}
    assert found == {
        ("overlap", 10, 11),                    # 1 m x 20 m over its eastern neighbour
        ("area_mismatch", 10, None),            # the widened parcel measures 420 m2, declared 400
        ("area_mismatch", 20, None),            # declared 450 m2, measures 400
        ("parcel_code_malformed", 30, None),
    }
    overlap = next(i for i in report.issues if i.code == "overlap")
    assert overlap.details["area_m2"] == 20.0 and overlap.details["other_where"] == "feature 12"
    assert all(i.is_error for i in report.issues)
