"""Time the validation of a county-sized upload: a grid of 20 m parcels with a few faults.

    .venv/bin/python bench/validate_county.py --parcels 100000

(The test suite checks what this finds, tests/spatial/test_spatial_county.py; how fast is
measured here, where a slow shared machine does not make a test fail.)
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import shapely

from spatial.model import SurveyedParcel
from spatial.validation import validate

E0, N0 = 40438683.652, 3351490.000  # a corner in CGCS2000 3-degree zone 40


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    side = math.isqrt(args.parcels - 1) + 1
    xs, ys = np.meshgrid(np.arange(side), np.arange(side))
    xs, ys = xs.ravel()[:args.parcels], ys.ravel()[:args.parcels]
    boxes = shapely.box(E0 + xs * 20.0, N0 + ys * 20.0, E0 + xs * 20.0 + 20, N0 + ys * 20.0 + 20)
    parcels = [SurveyedParcel(box, 4528, f"feature {k + 1}", declared_area=400.0,
                              parcel_code=f"330102{k // 99_999 + 1:03d}001GB{k % 99_999 + 1:05d}")
               for k, box in enumerate(boxes)]
    parcels[10].geometry = shapely.box(E0 + 200, N0, E0 + 221, N0 + 20)
    parcels[20].declared_area = 450.0
    parcels[30].parcel_code = "bad"
    for _ in range(args.repeat):
        started = time.perf_counter()
        report = validate(parcels)
        print(f"{report.parcel_count} parcels, {len(report.issues)} issues in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
